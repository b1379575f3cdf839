"""A tiny sweep end to end, resume, and a worker killed mid-run (SIGKILL)."""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import signal
import time

import pytest

from spikelite.sweep import Store, prepare_baseline, run_sweep, work
from spikelite.sweep.recipe import run_key
from spikelite.sweep.sweep import STORE, _worker_main
from spikelite.train import evaluate, load_model

from ._tiny import tiny_recipe


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELITE_CACHE", str(tmp_path / "cache"))


def test_tiny_sweep_end_to_end_then_resume(tmp_path):
    recipe = tiny_recipe(tmp_path / "s")
    res = run_sweep(recipe, progress=False, report=False)
    assert not res.failed and res.ran == 4 and res.skipped == 0
    rows = {r["name"]: r for r in res.rows}
    assert set(rows) == {"fp32", "ptq-duq4", "ptq-duq2", "joint-duq4-magnitude50"}
    base = rows["fp32"]
    assert res.baseline is base and base["energy_ratio"] == 1.0
    assert base["bits"] == 32 and base["scheme"] == "fp32" and base["masked_fraction"] == 0.0
    assert all(r["removed_fraction"] == 0.0 for r in rows.values())  # no channel pruning
    # quantization and pruning change what they must
    assert rows["ptq-duq2"]["deployed_bytes"] < rows["ptq-duq4"]["deployed_bytes"] \
        < base["deployed_bytes"]
    assert rows["joint-duq4-magnitude50"]["masked_fraction"] == pytest.approx(0.5, abs=0.01)
    for r in rows.values():
        assert 0.0 <= r["accuracy"] <= 1.0 and r["energy_pj"] > 0
        assert r["energy_pj"] == min(r["energy_pj__horowitz45-derived"], r["energy_pj"])
        assert r["energy_pj__sparseloop-eyeriss45"] > 0
        art = res.run_dir / r["artifacts"]
        prof = json.loads((art / "profile.json").read_text())
        assert set(prof) == {"horowitz45-derived", "sparseloop-eyeriss45"}
        assert set(prof["horowitz45-derived"]) == {"dense", "bitmask"}
        best = min(v["total_pj_per_sample"] for v in prof["horowitz45-derived"].values())
        assert r["energy_pj"] == pytest.approx(best)
        cfg = json.loads((art / "config.json").read_text())
        assert cfg["key"] == r["key"]
    # the stored checkpoint is the model that was measured
    from spikelite.data.spec import load_data

    _, test = load_data(recipe.data)
    model, _ = load_model(res.run_dir / rows["joint-duq4-magnitude50"]["artifacts"] / "model")
    assert evaluate(model, test)["accuracy"] == rows["joint-duq4-magnitude50"]["accuracy"]
    with (res.run_dir / "results.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (res.run_dir / "recipe.yaml").is_file()
    # rerunning resumes: nothing is trained again, the rows are the same
    again = run_sweep(recipe, progress=False, report=False)
    assert again.ran == 0 and again.skipped == 4
    assert again.rows == res.rows


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(tmp_path):
    recipe = tiny_recipe(tmp_path / "s", points=[], grid=[
        {"schedule": "joint", "scheme": "duq", "bits": [8, 6, 5, 4, 3, 2],
         "method": "magnitude", "sparsity": 0.5, "finetune": {"epochs": 2}}])
    run_dir = tmp_path / "s"
    ckpt, acc = prepare_baseline(recipe, run_dir, progress=False)
    keys = [run_key(recipe, p) for p in recipe.expand()]
    store = Store(run_dir / STORE)
    proc = mp.get_context("spawn").Process(target=_worker_main, args=(
        recipe.model_dump(mode="json"), str(run_dir), str(ckpt), acc, 1, 0))
    proc.start()
    deadline = time.time() + 120
    while time.time() < deadline:
        c = store.counts()
        if c.get("done", 0) >= 1 and c.get("running", 0) == 1:
            break
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail(f"the worker never got going: {store.counts()}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    before = {r["key"]: r for r in store.records()}
    killed = [k for k, r in before.items() if r["status"] == "running"]
    assert len(killed) == 1 and before[killed[0]]["result"] is None
    done_before = {k: r["result"] for k, r in before.items() if r["status"] == "done"}
    work(recipe, run_dir, ckpt, acc)  # resume in this process
    after = {r["key"]: r for r in store.records()}
    assert sorted(after) == sorted(keys)  # one row per point: none lost, none twice
    assert all(r["status"] == "done" for r in after.values())
    assert after[killed[0]]["attempts"] == 2
    for k, result in done_before.items():  # finished rows are kept, not redone
        assert after[k]["result"] == result and after[k]["attempts"] == 1
    assert not list((run_dir / "artifacts").glob(".tmp-*"))
    assert sorted(p.name for p in (run_dir / "artifacts").iterdir()) == sorted(keys)


def test_two_worker_processes_share_the_store(tmp_path):
    recipe = tiny_recipe(tmp_path / "s", grid=[
        {"schedule": "ptq", "scheme": ["duq", "rescaw"], "bits": [8, 4, 2]}])
    res = run_sweep(recipe, workers=2, progress=False, report=False)
    assert not res.failed and len(res.rows) == 7
    records = Store(tmp_path / "s" / STORE).records()
    assert len(records) == 7 and all(r["attempts"] == 1 for r in records)
    logs = sorted(p.name for p in (tmp_path / "s" / "logs").iterdir())
    assert logs == ["worker-0.log", "worker-1.log"]  # two processes took part
    assert sorted(r["key"] for r in res.rows) == sorted(run_key(recipe, p)
                                                        for p in recipe.expand())


def test_new_hardware_settings_recost_finished_points_without_training(tmp_path):
    recipe = tiny_recipe(tmp_path / "s")
    first = run_sweep(recipe, progress=False, report=False)
    data = recipe.model_dump(mode="json")
    data["hardware"] = {**data["hardware"], "presets": ["horowitz45-derived"],
                        "formats": ["dense", "rle"]}
    changed = type(recipe).model_validate(data)
    again = run_sweep(changed, progress=False, report=False)
    assert again.ran == 0 and again.recosted == 4 and again.skipped == 4
    before = {r["key"]: r for r in first.rows}
    records = Store(tmp_path / "s" / STORE).records()
    assert all(r["attempts"] == 1 for r in records)  # nothing was trained again
    for r in again.rows:
        old = before[r["key"]]
        assert r["accuracy"] == old["accuracy"] and r["train_seconds"] == old["train_seconds"]
        assert "energy_pj__sparseloop-eyeriss45" not in r  # the dropped preset's columns go
        assert r["energy_pj"] == r["energy_pj__horowitz45-derived"] > 0
        prof = json.loads((tmp_path / "s" / r["artifacts"] / "profile.json").read_text())
        assert set(prof) == {"horowitz45-derived"} and set(prof["horowitz45-derived"]) == {
            "dense", "rle"}
        assert r["energy_pj"] == pytest.approx(min(
            v["total_pj_per_sample"] for v in prof["horowitz45-derived"].values()))
        cfg = json.loads((tmp_path / "s" / r["artifacts"] / "config.json").read_text())
        assert cfg["hardware"]["formats"] == ["dense", "rle"]
    assert run_sweep(changed, progress=False, report=False).recosted == 0


def test_a_failing_point_is_reported_and_the_others_still_run(tmp_path, monkeypatch):
    # an unknown layer is now refused before any work (tests/reliability), so the point
    # fails while it runs instead, with the error the schedule would raise
    import spikelite.sweep.point as point_mod
    from spikelite.errors import SpikeliteError

    real = point_mod.compress_point

    def compress_point(model, train, test, point, ft, **kw):
        if point.label == "bad":
            raise SpikeliteError("overrides name unknown layers ['no.such.layer']")
        return real(model, train, test, point, ft, **kw)

    monkeypatch.setattr(point_mod, "compress_point", compress_point)
    recipe = tiny_recipe(tmp_path / "s", grid=[], points=[
        {"name": "fp32", "schedule": "baseline"},
        {"name": "bad", "schedule": "joint", "scheme": "duq", "bits": 4},
        {"name": "good", "schedule": "ptq", "scheme": "duq", "bits": 4}])
    res = run_sweep(recipe, progress=False, report=False)
    assert [r["name"] for r in res.rows] == ["fp32", "good"]
    assert len(res.failed) == 1 and res.failed[0]["name"] == "bad"
    assert "no.such.layer" in res.failed[0]["error"]
    assert not list((tmp_path / "s" / "artifacts").glob(".tmp-*"))


def test_fixed_threads_give_the_same_numbers_with_one_or_two_workers(tmp_path):
    # without `threads`, one worker uses all cores and two split them, and conv results
    # differ in the last bits (measured: one point's accuracy moved by 2 of 96 samples)
    def rows(workers: int) -> dict:
        recipe = tiny_recipe(tmp_path / f"w{workers}", threads=1,
                             data={"name": "digits-dvs", "time_steps": 4, "limit": 96},
                             model={"name": "csnn", "kwargs": {"widths": [4, 8]}})
        res = run_sweep(recipe, workers=workers, progress=False, report=False)
        assert not res.failed and len(res.rows) == 4
        return {r["name"]: (r["accuracy"], r["energy_pj"], r["synops"]) for r in res.rows}

    assert rows(1) == rows(2)


def test_points_are_claimed_baseline_first_then_longest_first():
    """Workers take the baseline, then the points with the most fine-tuning epochs, ties
    in recipe order (the demo: its 2-epoch points before the 1-epoch isolation points)."""
    from spikelite.sweep.recipe import load_recipe
    from spikelite.sweep.sweep import _points, run_order

    recipe = load_recipe("demo")
    points = _points(recipe)
    ordered = run_order(recipe, points)
    assert sorted(k for k, _ in ordered) == sorted(k for k, _ in points)  # same points
    epochs = [(p.finetune or recipe.finetune).epochs for _, p in ordered[1:]]
    assert ordered[0][1].schedule == "baseline"
    assert epochs == sorted(epochs, reverse=True) and epochs[0] == 2 and epochs[-1] == 1
    ones = [p.label for _, p in ordered if p.finetune is not None and p.finetune.epochs == 1]
    assert ones == [p.label for _, p in points
                    if p.finetune is not None and p.finetune.epochs == 1]  # stable
    assert ordered[-1][1].label == "isolation-rescaw2"
