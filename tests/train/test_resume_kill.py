"""Acceptance: ``spikelite train`` killed with SIGKILL mid-epoch, rerun with ``--resume``,
ends with the weights of an uninterrupted run; ``metrics.csv`` has each epoch once."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from safetensors.torch import load_file

from spikelite.train.run import RunConfig, run_training

SRC = str(Path(__file__).resolve().parents[2] / "src")

#: ``spikelite train`` in a child; with KILL_AT="E:N" its training set SIGKILLs the process
#: at its N-th item of epoch E (0-based)
CHILD = textwrap.dedent("""
    import os, signal, sys
    import torch
    import spikelite.train.run as run

    torch.set_num_threads(1)
    kill = os.environ.get("KILL_AT")
    original = run.load_data

    class Killer(torch.utils.data.Dataset):
        def __init__(self, inner):
            self.inner, self.epoch, self.items = inner, -1, 0
        def __len__(self):
            return len(self.inner)
        def __getattr__(self, name):
            return getattr(self.__dict__["inner"], name)
        def set_epoch(self, epoch):
            self.epoch, self.items = epoch, 0
            if hasattr(self.inner, "set_epoch"):
                self.inner.set_epoch(epoch)
        def __getitem__(self, i):
            self.items += 1
            e, n = (int(v) for v in kill.split(":"))
            if self.epoch == e and self.items == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return self.inner[i]

    def load_data(s):
        train, test = original(s)
        return (Killer(train) if kill else train), test

    run.load_data = load_data
    from spikelite.cli import app
    sys.argv = ["spikelite", "train", *sys.argv[1:]]
    app()
""")

ARGS = ["--dataset", "digits", "--limit", "40", "--time-steps", "4", "--model", "mlp",
        "--model-arg", "hidden=[16]", "--epochs", "3", "--batch-size", "8", "--device", "cpu",
        "--no-progress"]


def _child(out: Path, kill: str | None, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("KILL_AT", None)
    if kill:
        env["KILL_AT"] = kill
    return subprocess.run([sys.executable, "-c", CHILD, *ARGS, "--out", str(out), *extra],
                          env=env, capture_output=True, text=True, timeout=300)


def test_train_killed_mid_epoch_resumes_to_the_uninterrupted_weights(tmp_path):
    out = tmp_path / "run"
    killed = _child(out, "1:20")  # 40 samples → 32 train: batch 3 of 4 in epoch 2
    assert killed.returncode == -9, killed.stderr[-2000:]
    with (out / "metrics.csv").open() as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1"]
    rerun = _child(out, None, "--resume")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "at epoch 2/3" in rerun.stderr  # resumed from the epoch it was killed in

    cfg = RunConfig.model_validate({
        "model": {"name": "mlp", "kwargs": {"hidden": [16]}},
        "data": {"name": "digits", "limit": 40, "time_steps": 4},
        "train": {"epochs": 3, "batch_size": 8}, "out": str(tmp_path / "whole"),
        "device": "cpu"})
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_training(cfg, progress=False)
    finally:
        torch.set_num_threads(before)
    got = load_file(str(out / "last" / "model.safetensors"))
    want = load_file(str(tmp_path / "whole" / "last" / "model.safetensors"))
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    with (tmp_path / "whole" / "metrics.csv").open() as f:
        ref = list(csv.DictReader(f))
    for a, b in zip(rows, ref, strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == \
            {k: v for k, v in b.items() if k != "seconds"}
