"""Acceptance: a sweep point killed with SIGKILL in the middle of an epoch resumes from its
last checkpoint on rerun and ends with the weights of an uninterrupted run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from safetensors.torch import load_file

from spikelite.sweep.point import POINTS
from spikelite.sweep.sweep import run_sweep, torch_threads

from ._tiny import tiny_recipe

SRC = str(Path(__file__).resolve().parents[2] / "src")
HERE = str(Path(__file__).resolve().parent)

#: The child sweeps the recipe; with KILL_AT="E:N" the training set SIGKILLs the process
#: at its N-th item of the E-th epoch counted over all stages (0-based), i.e. mid-epoch.
CHILD = textwrap.dedent("""
    import os, signal, sys
    import torch
    import spikelite.data.spec as spec
    from _tiny import tiny_recipe
    from spikelite.sweep.sweep import run_sweep

    kill = os.environ.get("KILL_AT")
    original = spec.load_data

    class Killer(torch.utils.data.Dataset):
        def __init__(self, inner):
            self.inner, self.epochs, self.items, self.last = inner, -1, 0, None
            self.input_shape = getattr(inner, "input_shape", None)
            self.num_classes = getattr(inner, "num_classes", None)
        def __len__(self):
            return len(self.inner)
        def __getattr__(self, name):
            return getattr(self.__dict__["inner"], name)
        def set_epoch(self, epoch):  # called by fit and again by its loader: count once
            if epoch != self.last:
                self.last, self.epochs, self.items = epoch, self.epochs + 1, 0
            if hasattr(self.inner, "set_epoch"):
                self.inner.set_epoch(epoch)
        def __getitem__(self, i):
            self.items += 1
            e, n = (int(v) for v in kill.split(":"))
            if self.epochs == e and self.items == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return self.inner[i]

    def load_data(s):
        train, test = original(s)
        return (Killer(train) if kill else train), test

    spec.load_data = load_data
    recipe = tiny_recipe(sys.argv[1], **RECIPE)
    run_sweep(recipe, progress=False, report=False)
""")

EXTRA = {"threads": 1, "points": [],
         "grid": [{"schedule": "cumulative", "scheme": "duq", "bits": 4,
                   "method": "magnitude", "sparsity": 0.5}],
         "finetune": {"epochs": 4, "batch_size": 8},
         "hardware": {"presets": ["horowitz45-derived"], "formats": ["dense"], "samples": 8}}


def _child(out: Path, kill: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, HERE])}
    env.pop("KILL_AT", None)
    if kill:
        env["KILL_AT"] = kill
    code = CHILD.replace("**RECIPE", f"**{EXTRA!r}")
    return subprocess.run([sys.executable, "-c", code, str(out)], env=env, cwd=HERE,
                          capture_output=True, text=True, timeout=300)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    (art,) = (run / "artifacts").iterdir()
    return load_file(str(art / "model" / "model.safetensors"))


def test_a_point_killed_mid_epoch_resumes_to_the_uninterrupted_weights(tmp_path):
    # 4 fine-tuning epochs in two stages (2 + 2; 24 training samples, 3 batches of 8);
    # killed at the 12th item of the 4th epoch overall (stage 2, epoch 2, batch 2)
    killed = _child(tmp_path / "run", "3:12")
    assert killed.returncode == -9, killed.stderr[-2000:]
    (folder,) = (tmp_path / "run" / POINTS).iterdir()
    assert (folder / "stage-2" / "last").is_dir()  # stage 2, epoch 1 was checkpointed
    rerun = _child(tmp_path / "run", None)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "stage-2/last at epoch 2/2" in rerun.stderr.replace("\n", "")  # lost < 1 epoch
    assert not (tmp_path / "run" / POINTS / folder.name).exists()  # pruned once done

    recipe = tiny_recipe(tmp_path / "whole", **EXTRA)
    with torch_threads(1):
        run_sweep(recipe, progress=False, report=False)
    resumed, whole = _weights(tmp_path / "run"), _weights(tmp_path / "whole")
    assert resumed.keys() == whole.keys()
    for k in whole:
        assert torch.equal(resumed[k], whole[k]), k

    (art,) = (tmp_path / "run" / "artifacts").iterdir()
    with (art / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["stage"], r["epoch"]) for r in rows] == [("1", "1"), ("1", "2"),
                                                        ("2", "1"), ("2", "2")]
    (wart,) = (tmp_path / "whole" / "artifacts").iterdir()
    with (wart / "metrics.csv").open() as f:
        want = list(csv.DictReader(f))
    for got, ref in zip(rows, want, strict=True):  # same numbers, resumed or not
        assert {k: v for k, v in got.items() if k != "seconds"} == \
            {k: v for k, v in ref.items() if k != "seconds"}
    assert any(k.startswith("rate/") for k in rows[0])
