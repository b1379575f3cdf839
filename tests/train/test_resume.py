"""Resume state: every RNG (CUDA through its code path, guarded), metrics.csv rows across
resumes, TensorBoard as an optional extra, stage folders of a multi-stage job."""

from __future__ import annotations

import csv
import random
import sys
import types

import numpy as np
import pytest
import torch

from spikelite.errors import MissingExtraError, SpikeliteError
from spikelite.train import TrainConfig, fit
from spikelite.train import resume as rs
from spikelite.train.checkpoint import load_trainer_state
from spikelite.train.metrics import MetricsLog

from .test_engine import _toy_data, _toy_model


def test_every_rng_state_round_trips():
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    state = rs.rng_state()
    want = (random.random(), float(np.random.rand()), float(torch.rand(())))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    rs.set_rng_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == want


def test_cuda_rng_state_is_saved_and_restored_when_cuda_exists(tmp_path, monkeypatch):
    calls: list[list[torch.Tensor]] = []
    fake = [torch.arange(8, dtype=torch.uint8), torch.arange(8, 16, dtype=torch.uint8)]
    monkeypatch.setattr(rs, "cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [t.clone() for t in fake])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda s: calls.append(list(s)))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=1e-2, seed=3)
    data = _toy_data(32)
    fit(_toy_model(), data, None, cfg, out_dir=tmp_path, device="cpu", progress=False)
    state = load_trainer_state(tmp_path / "last")
    assert state is not None and [torch.equal(a, b) for a, b in
                                  zip(state["rng_cuda"], fake, strict=True)] == [True, True]
    fit(_toy_model(), data, None, cfg.with_epochs(3), out_dir=tmp_path, resume=True,
        device="cpu", progress=False, overwrite=True)
    assert len(calls) == 1 and torch.equal(calls[0][1], fake[1])
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # other machine: refused
    with pytest.raises(SpikeliteError, match="CUDA RNG states of 2 device"):
        rs.set_rng_state(state)


def test_without_cuda_no_cuda_state_is_written(monkeypatch):
    monkeypatch.setattr(rs, "cuda_available", lambda: False)
    state = rs.rng_state()
    assert "rng_cuda" not in state
    rs.set_rng_state({**state, "rng_cuda": [torch.zeros(8, dtype=torch.uint8)]})  # skipped


def test_metrics_rows_are_never_duplicated(tmp_path):
    log = MetricsLog(tmp_path / "metrics.csv", stage=2)
    (tmp_path / "metrics.csv").write_text("stage,epoch,train_loss\n1,1,0.5\n1,2,0.4\n")
    for e in (1, 2, 3):
        log.write({"epoch": e, "train_loss": 1.0 / e, "rate/lif": 0.1})
    log.write({"epoch": 2, "train_loss": 0.25})  # a resumed run rewrites epoch 2 on
    with (tmp_path / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["stage"], r["epoch"]) for r in rows] == [("1", "1"), ("1", "2"), ("2", "1"),
                                                        ("2", "2")]
    assert rows[-1]["train_loss"] == "0.25" and rows[2]["rate/lif"] == "0.1"


def test_tensorboard_is_an_extra(tmp_path, monkeypatch):
    scalars: list[tuple[str, float, int]] = []

    class Writer:
        def __init__(self, log_dir: str) -> None:
            self.log_dir = log_dir

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            scalars.append((tag, value, step))

        def flush(self) -> None: ...

        def close(self) -> None: ...

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # not installed
    with pytest.raises(MissingExtraError, match=r"spikelite\[tensorboard\]"):
        MetricsLog(tmp_path / "metrics.csv", tensorboard=True)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard",
                        types.SimpleNamespace(SummaryWriter=Writer))
    cfg = TrainConfig(epochs=2, batch_size=16, lr=1e-2, tensorboard=True)
    fit(_toy_model(), _toy_data(32), None, cfg, out_dir=tmp_path, device="cpu", progress=False)
    assert ("train_loss", pytest.approx(scalars[0][1]), 1) in scalars
    assert {s[2] for s in scalars} == {1, 2} and any(t.startswith("rate/") for t, *_ in scalars)


def test_stage_folders_of_another_job_are_replaced_and_foreign_files_refused(tmp_path):
    stages, again = rs.stage_folders(tmp_path / "job", {"key": "a"})
    assert not again and stages.next() == (tmp_path / "job" / "stage-1", 1)
    (tmp_path / "job" / "stage-1" / "last").mkdir(parents=True)
    assert rs.stage_folders(tmp_path / "job", {"key": "a"})[1]  # same job: resumes
    assert not rs.stage_folders(tmp_path / "job", {"key": "b"})[1]  # another: starts over
    assert not (tmp_path / "job" / "stage-1").exists()
    (tmp_path / "job" / "notes.txt").write_text("mine")
    with pytest.raises(SpikeliteError, match="notes.txt"):
        rs.stage_folders(tmp_path / "job", {"key": "c"})
    assert (tmp_path / "job" / "notes.txt").is_file()
