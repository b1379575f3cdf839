"""One sweep run: baseline → compression schedule → fine-tuning → evaluation → profile
under every preset × weight format → artifacts and one flat result row.

The artifacts of a run (checkpoint, ``profile.json``, ``config.json``, ``metrics.csv``)
are written to a temporary folder and renamed into ``artifacts/<key>`` only when complete.
While it trains, a point checkpoints every fine-tuning stage into ``points/<key>/``
(``stage-N/last`` each epoch, ``metrics.csv``, ``progress.json``); a rerun resumes from
there. Once the point is stored as done, :func:`release` removes that folder (its
``metrics.csv`` and TensorBoard logs were moved into the artifacts): a finished point keeps
only its final checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from torch import nn
from torch.utils.data import Dataset

from spikelite.compress import CompressionResult, compress_model
from spikelite.sweep.recipe import PointSpec, Recipe, hardware_key
from spikelite.train.config import FinetuneSpec
from spikelite.train.resume import StageFolders, stage_folders


def compress_point(
    model: nn.Module,
    train: Dataset,
    test: Dataset,
    point: PointSpec,
    ft: FinetuneSpec,
    *,
    device: str = "cpu",
    progress: bool = False,
    console: Console | None = None,
    checkpoints: StageFolders | None = None,
) -> CompressionResult:
    """Apply ``point`` to the trained ``model`` (seeded with the fine-tuning seed)."""
    return compress_model(model, train, test, point.spec(), ft, seed=ft.seed, device=device,
                          progress=progress, console=console, checkpoints=checkpoints)


#: the folder of a sweep holding the checkpoints of its running points (``<key>/``)
POINTS = "points"


def point_folder(run_dir: Path, key: str) -> Path:
    """Where the point ``key`` checkpoints while it trains."""
    return Path(run_dir) / POINTS / key


def release(run_dir: Path, key: str) -> None:
    """Remove the training folder of a point stored as done (call after the store has it:
    until then a rerun resumes from it)."""
    folder = point_folder(run_dir, key)
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # the last one out removes points/ too
        folder.parent.rmdir()


def profile_point(
    model: nn.Module, test: Dataset, recipe: Recipe, *, device: str = "cpu"
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Bake ``model``, record its activity once on the first ``hardware.samples`` test
    samples, cost it under every preset × format. Returns the row's hardware columns and
    ``{preset: {format: report_dict}}``.

    Columns: ``energy_pj__<preset>`` (pJ per sample, cheapest format) and
    ``format__<preset>``; for the primary (first) preset also ``energy_pj``, ``format``,
    ``deployed_bytes`` (everything stored on chip in that format, neuron state included),
    ``weight_bytes`` (weights, sparse-format metadata, scales and biases only) and
    ``synops`` (effective synaptic operations, ACs + MACs, per sample)."""
    from spikelite.hardware import cost_activity, record_activity
    from spikelite.quant import bake
    from spikelite.train.engine import resolve_device

    hw = recipe.hardware
    plain, layers = bake(model)
    dev = resolve_device(device)
    plain = plain.to(dev)
    activity = record_activity(plain, test, layers, batch_size=hw.batch_size,
                               limit=hw.samples, membrane_updates=False, device=dev)
    reports: dict[str, dict[str, Any]] = {}
    cols: dict[str, Any] = {}
    primary = hw.presets[0]
    for preset in hw.presets:
        reports[preset] = {}
        best: tuple[float, str, float] | None = None
        for fmt in hw.formats:
            rep = cost_activity(plain, activity, preset, fmt, layers=layers, **hw.options)
            reports[preset][fmt] = rep.to_dict()
            total = rep.total_pj
            if best is None or total < best[0]:
                best = (total, fmt, rep.footprint.bytes)
            if preset == primary:
                cols[f"deployed_bytes__{fmt}"] = rep.footprint.bytes
        assert best is not None  # formats has at least one entry (validated)
        cols[f"energy_pj__{preset}"] = best[0]
        cols[f"format__{preset}"] = best[1]
        if preset == primary:
            cols["energy_pj"], cols["format"], cols["deployed_bytes"] = best
            bits = reports[preset][best[1]]["footprint"]["by_component_bits"]
            cols["weight_bytes"] = sum(bits.get(k, 0.0) for k in (
                "weights", "metadata", "scales", "bias")) / 8
            exact = reports[preset][best[1]]["exact"]
            cols["synops"] = exact["effective_ac"] + exact["effective_mac"]
    cols["params"] = int(sum(p.numel() for p in plain.parameters()))
    cols["hardware_key"] = hardware_key(recipe)
    return cols, reports


#: Row columns written by :func:`profile_point` (per preset/format ones by prefix).
HARDWARE_COLUMNS = ("energy_pj", "format", "deployed_bytes", "weight_bytes", "synops",
                    "params", "hardware_key")
HARDWARE_PREFIXES = ("energy_pj__", "format__", "deployed_bytes__")


def recost(recipe: Recipe, row: dict[str, Any], test: Dataset, run_dir: Path) -> dict[str, Any]:
    """Re-profile a finished point from its stored checkpoint under ``recipe.hardware``
    (no training): its hardware columns and ``profile.json`` are replaced."""
    from spikelite.train import load_model

    art = run_dir / row["artifacts"]
    model, _ = load_model(art / "model")
    cols, reports = profile_point(model, test, recipe, device=recipe.device)
    tmp = art / f".profile.json.{os.getpid()}"
    try:
        _write_json(tmp, reports)
        os.replace(tmp, art / "profile.json")
        cfg_path = art / "config.json"
        if cfg_path.is_file():
            resolved = json.loads(cfg_path.read_text())
            resolved["hardware"] = recipe.hardware.model_dump()
            _write_json(tmp, resolved)
            os.replace(tmp, cfg_path)
    finally:
        tmp.unlink(missing_ok=True)
    kept = {k: v for k, v in row.items()
            if k not in HARDWARE_COLUMNS and not k.startswith(HARDWARE_PREFIXES)}
    return {**kept, **cols}


def mean_bits(model: nn.Module) -> float:
    """Weight bits averaged over all synaptic weights (FP32 layers count 32): the one
    number that summarises a mixed-precision model."""
    from spikelite.core.synaptic import latent_weight, synaptic_layers
    from spikelite.quant import quant_spec

    spec = quant_spec(model)
    total = weighted = 0
    for name, module in synaptic_layers(model):
        n = latent_weight(module).numel()
        layer = spec.get(name) or {}
        total += n
        weighted += n * int(layer.get("bits", 32))
    return weighted / max(total, 1)


def clean_stale_tmp(run_dir: Path) -> list[Path]:
    """Remove the temporary artifact folders of workers that no longer run (killed
    mid-write); returns what was removed."""
    from spikelite.sweep.store import _alive, worker_id

    host = worker_id().rpartition(":")[0]
    removed = []
    for tmp in (run_dir / "artifacts").glob(".tmp-*-*"):
        pid = tmp.name.rpartition("-")[2]
        if pid.isdigit() and _alive(f"{host}:{pid}") is False:
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, default=float))


def execute(
    recipe: Recipe,
    point: PointSpec,
    key: str,
    baseline_ckpt: Path,
    data: tuple[Dataset, Dataset],
    run_dir: Path,
    *,
    baseline_accuracy: float | None = None,
    progress: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run one point end to end and return its result row (artifacts written)."""
    from spikelite.quant import quant_spec
    from spikelite.quant.structure import describe
    from spikelite.train import load_model, save_checkpoint
    from spikelite.train.metrics import METRICS

    t0 = time.perf_counter()
    train, test = data
    ft = point.finetune or recipe.finetune
    model, ck = load_model(baseline_ckpt)
    stages, again = stage_folders(point_folder(run_dir, key),
                                  {"key": key, "baseline": str(baseline_ckpt)})
    if again and console is not None:
        console.print(f"point {point.label}: resuming from {stages.root}", highlight=False)
    rec = compress_point(model, train, test, point, ft, device=recipe.device,
                         progress=progress, console=console, checkpoints=stages)
    model = rec.model
    t_train = time.perf_counter() - t0
    cols, reports = profile_point(model, test, recipe, device=recipe.device)
    final = run_dir / "artifacts" / key
    tmp = run_dir / "artifacts" / f".tmp-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    resolved = {"key": key, "name": point.label, "point": point.model_dump(),
                "finetune": ft.model_dump(), "baseline": str(baseline_ckpt),
                "data": recipe.data.model_dump(), "model": recipe.model.model_dump(),
                "hardware": recipe.hardware.model_dump()}
    try:  # a failure (a full disk) leaves no half-written artifacts behind
        tmp.mkdir(parents=True)
        _write_json(tmp / "config.json", resolved)
        _write_json(tmp / "profile.json", reports)
        meta = {"model": getattr(model, "spikelite_config", ck["model"]), "data": ck["data"],
                "quant": quant_spec(model), "parametrizations": describe(model),
                "metrics": {"test_accuracy": rec.accuracy}, "sweep_point": resolved,
                "stages": rec.stages}
        save_checkpoint(tmp / "model", model, meta)
        for name in (METRICS, "tensorboard"):  # the training record goes with the point
            src = stages.root / name
            if src.is_dir():
                shutil.copytree(src, tmp / name)
            elif src.is_file():
                shutil.copy2(src, tmp / name)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    base = baseline_accuracy if baseline_accuracy is not None else rec.accuracy
    return {
        "key": key, "name": point.label, "status": "done", "schedule": point.schedule,
        "scheme": point.scheme or "fp32",
        "bits": (round(mean_bits(model), 3) if point.layer_bits else
                 point.bits if point.scheme else 32),
        "layer_bits": json.dumps(point.layer_bits) if point.layer_bits else "",
        "layer_sparsity": json.dumps(point.layer_sparsity) if point.layer_sparsity else "",
        "method": point.method or "none",
        "masked_fraction": round(float(rec.masked_fraction), 6),
        "removed_fraction": round(float(rec.removed_fraction), 6),
        "regularizer": point.regularizer.label if point.regularizer else "",
        "accuracy": rec.accuracy, "best_accuracy": rec.best_accuracy,
        "accuracy_drop_pt": round((base - rec.accuracy) * 100, 4),
        **cols,
        "train_seconds": round(t_train, 2),
        "seconds": round(time.perf_counter() - t0, 2),
        "artifacts": f"artifacts/{key}",
    }
