"""The result-row columns: the two pruning fractions (and old rows' ``sparsity``), table
cells, the baseline lookup and the headline."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from spikelite.cli import app
from spikelite.hardware.units import energy_scale, energy_unit, fmt_energy, fmt_si
from spikelite.sweep.columns import (
    LEADING,
    add_ratios,
    cell,
    find_baseline,
    headline,
    headline_line,
    headline_sentence,
    pruned_fractions,
    upgrade_row,
)
from spikelite.sweep.pareto import Objective, pareto_mask
from spikelite.sweep.recipe import run_key
from spikelite.sweep.store import STORE, Store

from ._tiny import tiny_recipe
from .conftest import make_row, sweep_rows


def old_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` in the schema before the split: one ``sparsity`` column after ``method``."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k == "masked_fraction":
            out["sparsity"] = v or row["removed_fraction"]
        elif k != "removed_fraction":
            out[k] = v
    return out


def test_pruned_fractions_split_by_method() -> None:
    assert pruned_fractions("magnitude", 0.5) == {"masked_fraction": 0.5,
                                                  "removed_fraction": 0.0}
    assert pruned_fractions("svs", 0.3333333333) == {"masked_fraction": 0.0,
                                                     "removed_fraction": 0.333333}
    assert pruned_fractions(None, 0.0) == {"masked_fraction": 0.0, "removed_fraction": 0.0}
    assert "sparsity" not in LEADING and LEADING.index("removed_fraction") == \
        LEADING.index("masked_fraction") + 1


def test_an_old_row_converts_in_place_keeping_the_column_order() -> None:
    unstructured = old_row(make_row("joint-p80", "joint", 4, 0.8, 0.94, 2e5, 15_000))
    row = upgrade_row(unstructured)
    assert row is unstructured and "sparsity" not in row
    assert (row["masked_fraction"], row["removed_fraction"]) == (0.8, 0.0)
    keys = list(row)
    assert keys[keys.index("method") + 1:keys.index("method") + 3] == [
        "masked_fraction", "removed_fraction"]
    channel = upgrade_row({"key": "k", "sparsity": 0.42, "method": "svs", "schedule": "qp"})
    assert channel == {"key": "k", "masked_fraction": 0.0, "removed_fraction": 0.42,
                       "method": "svs", "schedule": "qp"}
    current = make_row("p", "joint", 4, 0.5, 0.9, 1.0, 1)
    assert upgrade_row(dict(current)) == current


def test_cells() -> None:
    assert cell("masked_fraction", 0.5) == "50.0 %"
    assert cell("removed_fraction", 0.25) == "25.0 %"
    assert cell("accuracy", 0.9583) == "95.83 %"
    assert cell("accuracy_drop_pt", 0.28) == "-0.28"
    assert cell("energy_pj__horowitz45", 2.5e6) == "2.5 µJ"
    assert cell("deployed_bytes", 12_345) == "12.3 kB"
    assert cell("size_ratio", 2.61) == "2.6×"
    assert cell("format", "rle") == "rle" and cell("bits", None) == "—"


def test_energy_units_have_one_home() -> None:
    assert fmt_energy(1.234e6) == "1.23 µJ" and fmt_energy(-2e3) == "-2 nJ"
    assert fmt_energy(12.0) == "12 pJ" and fmt_si(12_345) == "12.3k"
    assert energy_unit(5e9) == ("mJ", 1e9)
    assert energy_scale([1e2, 2e3, 5e3, float("nan"), 0.0]) == ("nJ", 1e3)
    assert energy_scale([]) == ("pJ", 1.0)


def test_find_baseline() -> None:
    rows = sweep_rows()
    assert find_baseline(rows) is rows[0]
    assert find_baseline(rows, "k-ptq-duq8") is rows[1]
    assert find_baseline(rows, "no-such-key") is rows[0]  # falls back to the schedule
    assert find_baseline(rows[1:]) is None


def test_headline() -> None:
    rows = sweep_rows()
    base = rows[0]
    for r in rows:
        r["weight_bytes"] = r["deployed_bytes"] / 2
    best = headline(rows, base)
    # within 1 pt of 95 %: ptq-duq8, isolation-p50, joint-duq4-p80 (94.2 %); least energy
    assert best is not None and best["name"] == "joint-duq4-p80"
    assert headline(rows, None) is None
    assert headline(rows, base, max_drop_pt=0.0)["name"] == "isolation-p50"
    assert headline([base], base) is None  # never the baseline itself
    assert headline_line(best, base) == (
        "least energy within 1 pt of the baseline (0.9500): joint-duq4-p80 — accuracy "
        "0.9420, 13.6× less energy (bitmask weights); weights 26.7× smaller, 26.7× smaller "
        "with the neuron state")
    assert headline_sentence(best, base) == (
        "Least energy within 1 pt of the baseline: joint-duq4-p80 — accuracy 94.20 % "
        "(-0.80 pt), 13.6× less energy, 26.7× smaller")
    add_ratios(rows, base)
    assert best["energy_ratio"] == pytest.approx(3e6 / 2.2e5, abs=1e-4)


def test_sparsity_objective_is_a_deprecated_alias() -> None:
    rows = sweep_rows()
    with pytest.warns(DeprecationWarning, match="'sparsity' is deprecated.*masked_fraction"):
        assert Objective.parse("sparsity:max").column == "masked_fraction"
    channel = [dict(r, masked_fraction=0.0, removed_fraction=r["masked_fraction"])
               for r in rows]
    with pytest.warns(DeprecationWarning, match="using 'removed_fraction'"):
        assert Objective.parse("sparsity", channel) == Objective("removed_fraction", "min")
    with pytest.warns(DeprecationWarning):
        assert pareto_mask(rows, ["accuracy", "sparsity:max"]) == \
            pareto_mask(rows, ["accuracy", "masked_fraction:max"])


@pytest.fixture
def old_run_dir(tmp_path: Path) -> Path:
    """A sweep folder written before the split: its store rows carry ``sparsity``."""
    out = tmp_path / "old"
    recipe = tiny_recipe(out, grid=[
        {"schedule": "joint", "scheme": "duq", "bits": 4, "method": "magnitude",
         "sparsity": 0.8},
        {"schedule": "qp", "scheme": "duq", "bits": 3, "method": "svs", "sparsity": 0.5,
         "prune_epochs": 1}])
    out.mkdir()
    (out / "recipe.yaml").write_text(yaml.safe_dump(recipe.model_dump(mode="json")))
    made = [make_row("fp32", "baseline", 32, 0.0, 0.95, 3.0e6, 400_000),
            make_row("joint", "joint", 4, 0.8, 0.942, 2.2e5, 15_000),
            make_row("qp", "qp", 3, 0.0, 0.945, 2.0e5, 20_000, method="svs",
                     removed_fraction=0.5)]
    store = Store(out / STORE)
    for point, row in zip(recipe.expand(), made, strict=True):
        key = run_key(recipe, point)
        row.update(key=key, name=point.label, weight_bytes=row["deployed_bytes"] / 2)
        assert store.claim(key, point.label, point.model_dump())
        store.finish(key, old_row(row))
    return out


def test_an_old_run_folder_still_reports_and_ranks(old_run_dir: Path) -> None:
    raw = [json.loads(r["result"]) for r in _raw_results(old_run_dir)]
    assert all("sparsity" in r and "masked_fraction" not in r for r in raw)
    rows = {r["name"]: r for r in Store(old_run_dir / STORE).results()}
    assert rows["qp-duq3-svs50"]["removed_fraction"] == 0.5
    assert rows["qp-duq3-svs50"]["masked_fraction"] == 0.0
    assert rows["joint-duq4-magnitude80"]["masked_fraction"] == 0.8
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(old_run_dir)])
    assert res.exit_code == 0, res.output
    with (old_run_dir / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert "sparsity" not in table[0]
    assert {r["name"]: r["removed_fraction"] for r in table}["qp-duq3-svs50"] == "0.5"
    summary = (old_run_dir / "summary.md").read_text()
    assert "| masked | removed |" in summary
    assert "Least energy within 1 pt of the baseline: qp-duq3-svs50" in summary
    res = runner.invoke(app, ["pareto", str(old_run_dir), "--x", "energy", "--y", "accuracy"])
    assert res.exit_code == 0, res.output
    assert "removed" in res.output and "masked" in res.output
    with pytest.warns(DeprecationWarning, match="using 'masked_fraction'"):
        res = runner.invoke(app, ["pareto", str(old_run_dir), "--x", "sparsity:max",
                                  "--y", "accuracy", "--plot", str(old_run_dir / "sp")])
    assert res.exit_code == 0, res.output
    assert "deprecated:" in res.output and "masked_fraction" in res.output
    assert (old_run_dir / "sp.svg").is_file()


def _raw_results(run_dir: Path) -> list[dict[str, Any]]:
    import sqlite3

    con = sqlite3.connect(run_dir / STORE)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT result FROM runs")]
    finally:
        con.close()


def test_moved_names_keep_their_old_paths() -> None:
    import spikelite.cli.sweep as sweep_cli
    from spikelite.hardware.report import fmt_energy as old_fmt
    from spikelite.sweep import columns
    from spikelite.sweep.report import find_baseline as old_find
    from spikelite.sweep.store import LEADING as OLD_LEADING

    assert old_fmt is fmt_energy and old_find is find_baseline and OLD_LEADING is LEADING
    with pytest.warns(DeprecationWarning, match="columns.HEADERS"):
        assert sweep_cli.HEADERS is columns.HEADERS
