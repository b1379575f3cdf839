"""Sweep workers placed one per device (round-robin), checked without a GPU."""

from __future__ import annotations

import pytest
import torch

from spikelite.errors import SpikeliteError
from spikelite.sweep import run_sweep
from spikelite.sweep.devices import check_devices, parse_devices, worker_device
from spikelite.sweep.preflight import preflight
from spikelite.sweep.recipe import run_key

from ._tiny import tiny_recipe


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELITE_CACHE", str(tmp_path / "cache"))


def test_device_names_and_round_robin():
    assert parse_devices("0,1, 2,3") == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert parse_devices([0, "cuda:1", "CPU", "cuda"]) == ["cuda:0", "cuda:1", "cpu", "cuda"]
    devs = parse_devices("0,1,2")
    assert [worker_device(i, devs) for i in range(7)] == [
        "cuda:0", "cuda:1", "cuda:2", "cuda:0", "cuda:1", "cuda:2", "cuda:0"]
    assert [worker_device(i, ["cpu"]) for i in range(3)] == ["cpu"] * 3
    for bad in ("gpu0", "cuda:x", "cpu:1", "", "0,,1", "-1"):
        with pytest.raises(SpikeliteError, match="not a device|is empty"):
            parse_devices(bad)
    with pytest.raises(SpikeliteError, match="not a device"):
        parse_devices([True])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a CPU-only host")
def test_a_device_that_does_not_exist_is_refused_before_any_work(tmp_path):
    with pytest.raises(SpikeliteError, match="CUDA is not available"):
        check_devices(["cpu", "cuda:0"])
    recipe = tiny_recipe(tmp_path / "s", devices=[0, 1])
    with pytest.raises(SpikeliteError, match="'cuda:0'.*CUDA is not available"):
        preflight(recipe)
    assert not (tmp_path / "s").exists()
    with pytest.raises(ValueError, match="devices"):
        tiny_recipe(tmp_path / "s", devices=["tpu:0"])


def test_devices_do_not_change_run_keys_and_cpu_cpu_runs(tmp_path):
    grid = [{"schedule": "ptq", "scheme": "duq", "bits": 4}]
    plain = tiny_recipe(tmp_path / "s", grid=grid)
    placed = tiny_recipe(tmp_path / "s", devices="cpu,cpu", grid=grid)
    assert placed.devices == ["cpu", "cpu"]
    assert [run_key(plain, p) for p in plain.expand()] == \
        [run_key(placed, p) for p in placed.expand()]
    preflight(placed)
    res = run_sweep(placed, workers=2, progress=False, report=False)
    assert not res.failed and len(res.rows) == 2
    logs = sorted(p.name for p in (tmp_path / "s" / "logs").iterdir())
    assert logs == ["worker-0.log", "worker-1.log"]


def test_recipe_precision_reaches_every_training(tmp_path):
    r = tiny_recipe(tmp_path / "s", precision="bf16", grid=[
        {"schedule": "ptq", "scheme": "duq", "bits": 4, "finetune": {"epochs": 1}}])
    assert r.baseline.train.precision == "bf16" and r.finetune.precision == "bf16"
    assert all(p.finetune is None or p.finetune.precision == "bf16" for p in r.expand())
    fp32 = tiny_recipe(tmp_path / "s", grid=[
        {"schedule": "ptq", "scheme": "duq", "bits": 4, "finetune": {"epochs": 1}}])
    explicit = tiny_recipe(tmp_path / "s", precision="fp32", grid=[
        {"schedule": "ptq", "scheme": "duq", "bits": 4, "finetune": {"epochs": 1}}])
    keys = [run_key(fp32, p) for p in fp32.expand()]
    assert keys == [run_key(explicit, p) for p in explicit.expand()]  # fp32 = before
    assert set(keys).isdisjoint(run_key(r, p) for p in r.expand())  # bf16: other runs
    with pytest.raises(SpikeliteError, match="fp16 needs CUDA"):
        preflight(tiny_recipe(tmp_path / "s", precision="fp16"))
