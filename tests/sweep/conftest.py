"""Fixtures of the Pareto/plot/report tests: hand-made result rows and a real profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PRESETS = ("horowitz45-derived", "sparseloop-eyeriss45")


def make_row(name: str, schedule: str, bits: int, sparsity: float, accuracy: float,
             energy_pj: float, deployed_bytes: int, **extra: Any) -> dict[str, Any]:
    """One result row in the store's schema (baseline accuracy 0.95)."""
    row: dict[str, Any] = {
        "key": f"k-{name}", "name": name, "status": "done", "schedule": schedule,
        "scheme": "fp32" if bits == 32 else "duq", "bits": bits,
        "method": "magnitude" if sparsity else "none", "masked_fraction": sparsity,
        "removed_fraction": 0.0,
        "accuracy": accuracy, "best_accuracy": accuracy,
        "accuracy_drop_pt": round((0.95 - accuracy) * 100, 4),
        "energy_pj": energy_pj, "format": "bitmask" if sparsity else "dense",
        f"energy_pj__{PRESETS[0]}": energy_pj,
        f"energy_pj__{PRESETS[1]}": energy_pj * 1.7,
        "deployed_bytes": deployed_bytes, "params": 10_000, "synops": energy_pj / 10,
        "seconds": 1.5, "artifacts": f"artifacts/k-{name}",
    }
    row.update(extra)
    return row


def sweep_rows() -> list[dict[str, Any]]:
    """A small sweep: baseline, PTQ, isolation pruning, joint/cumulative/qp/pq points."""
    return [
        make_row("fp32", "baseline", 32, 0.0, 0.95, 3.0e6, 400_000),
        make_row("ptq-duq8", "ptq", 8, 0.0, 0.949, 9.0e5, 100_000),
        make_row("ptq-duq4", "ptq", 4, 0.0, 0.94, 5.0e5, 50_000),
        make_row("ptq-duq2", "ptq", 2, 0.0, 0.60, 3.0e5, 25_000),
        make_row("isolation-p50", "isolation", 32, 0.5, 0.951, 1.8e6, 210_000),
        make_row("isolation-p90", "isolation", 32, 0.9, 0.90, 6.0e5, 60_000),
        make_row("joint-duq4-p80", "joint", 4, 0.8, 0.942, 2.2e5, 15_000),
        make_row("cumulative-duq4-p80", "cumulative", 4, 0.8, 0.938, 2.4e5, 15_000),
        make_row("qp-duq3-p50", "qp", 3, 0.5, 0.93, 2.0e5, 20_000),
        make_row("pq-duq3-p50", "pq", 3, 0.5, 0.93, 2.0e5, 20_000),  # duplicate of qp
        make_row("broken", "joint", 2, 0.9, float("nan"), 1.0e5, 5_000),
    ]


@pytest.fixture(scope="session")
def profile_dicts() -> dict[str, dict[str, Any]]:
    """A real ``profile.json`` payload ``{preset: {format: report_dict}}`` of a tiny MLP."""
    import torch

    from spikelite.hardware import profile
    from spikelite.models import create

    torch.manual_seed(0)
    model = create("mlp", input_shape=(20,), hidden=[16], num_classes=4)
    x = (torch.rand(4, 8, 20) < 0.3).float()
    first = profile(model, x, PRESETS[0], "dense", time_major=True, membrane_updates=False)
    out: dict[str, dict[str, Any]] = {}
    for preset in PRESETS:
        out[preset] = {fmt: first.recost(preset, fmt).to_dict() for fmt in ("dense", "bitmask")}
    return json.loads(json.dumps(out, default=float))


@pytest.fixture
def report_run_dir(tmp_path: Path, profile_dicts: dict[str, dict[str, Any]]) -> Path:
    """A sweep folder whose rows have ``artifacts/<key>/profile.json`` (one is missing)."""
    for row in sweep_rows():
        if row["name"] == "ptq-duq8":
            continue  # a point without artifacts: must be skipped gracefully
        folder = tmp_path / row["artifacts"]
        folder.mkdir(parents=True)
        (folder / "profile.json").write_text(json.dumps(profile_dicts))
    return tmp_path


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL server for the whole session (tests/sweep/_pg.py), stopped
    and removed afterwards, also when tests fail; skipped where none can run."""
    from . import _pg

    reason = _pg.skip_reason()
    if reason is not None:
        pytest.skip(reason)
    server = _pg.start_server()
    try:
        yield server
    finally:
        server.stop()
