"""Optuna multi-objective search: two local worker processes on one study (extra
``search``; skipped without optuna)."""

from __future__ import annotations

import pytest

from spikelite.sweep import Store
from spikelite.sweep.search import run_search, study_name

from ._tiny import tiny_recipe

optuna = pytest.importorskip("optuna")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELITE_CACHE", str(tmp_path / "cache"))


def test_two_workers_share_one_study_and_one_store(tmp_path):
    recipe = tiny_recipe(tmp_path / "s", points=[], grid=[], search={
        "trials": 4, "objectives": ["accuracy:max", "energy:min"],
        "max_accuracy_drop_pt": 50.0, "seed": 1,
        "space": {"schedule": ["joint"], "scheme": ["duq"], "bits": [2, 4, 8],
                  "sparsity": [0.0, 0.9], "per_layer": True}})
    summary = run_search(recipe, workers=2, progress=False)
    assert summary["storage"].startswith("sqlite:///")
    study = optuna.load_study(study_name=study_name(recipe), storage=summary["storage"])
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert 4 <= len(done) <= 5  # the other worker may finish the trial it had started
    assert all(len(t.values) == 2 for t in done)
    assert all(t.user_attrs["constraint"][0] <= 50.0 for t in done)
    rows = Store(tmp_path / "s" / "results.sqlite").records()
    keys = {t.user_attrs["key"] for t in done}
    assert {r["key"] for r in rows if r["status"] == "done"} == keys  # one row per point
    for r in rows:  # mixed precision: every layer got its own bits and sparsity
        assert set(r["config"]["layer_bits"]) == {"fc1.module", "fc.module"}
        assert set(r["config"]["layer_sparsity"]) <= {"fc1.module", "fc.module"}
    import csv  # results.csv holds the trials, as `spikelite report` writes them

    with (tmp_path / "s" / "results.csv").open() as f:
        assert {r["key"] for r in csv.DictReader(f)} == keys
    # a second run of the same search resumes the finished study: nothing new
    again = run_search(recipe, workers=1, progress=False)
    assert again["complete"] == len(done)
