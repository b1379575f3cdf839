"""What a training run needs to resume exactly: every RNG state, the folders of a job's
successive training stages, and mid-epoch checkpoints on a timer.

A resumed run equals an uninterrupted one (CPU, fixed threads) because everything random
is either derived from ``(seed, epoch)`` (the shuffling order, the datasets' per-epoch
spike draws) or restored here: torch's CPU generator, every CUDA device's generator (when
CUDA is available), Python's :mod:`random` and NumPy's global generator. A mid-epoch
resume re-creates the epoch's loader, skips the batches already trained (they are loaded,
not trained) and only then restores the RNG states, so the next batch sees exactly the
state it saw in the uninterrupted run.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikelite.errors import SpikeliteError

#: trainer-state keys of the RNG states besides torch's CPU one (``"rng"``)
RNG_KEYS = ("rng_cuda", "rng_python", "rng_numpy")


def rng_state() -> dict[str, Any]:
    """Every global RNG state as plain tensors/containers (``torch.load(weights_only=True)``
    reads them back): ``rng`` (torch CPU), ``rng_cuda`` (one tensor per CUDA device; absent
    without CUDA), ``rng_python`` and ``rng_numpy``."""
    py = random.getstate()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "rng": torch.get_rng_state(),
        "rng_python": [py[0], list(py[1]), py[2]],
        "rng_numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                      "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
    }
    if cuda_available():
        state["rng_cuda"] = torch.cuda.get_rng_state_all()
    return state


def cuda_available() -> bool:
    """Whether CUDA generators exist to save/restore (a function so tests can pretend)."""
    return torch.cuda.is_available()


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (keys it lacks are left alone: a state
    written before they were saved; CUDA states are skipped without CUDA)."""
    torch.set_rng_state(state["rng"])
    cuda = state.get("rng_cuda")
    if cuda is not None and cuda_available():
        if len(cuda) != torch.cuda.device_count():
            raise SpikeliteError(f"the checkpoint holds CUDA RNG states of {len(cuda)} "
                                 f"device(s), this machine has {torch.cuda.device_count()}; "
                                 "resume on the same devices")
        torch.cuda.set_rng_state_all(list(cuda))
    py = state.get("rng_python")
    if py is not None:
        random.setstate((int(py[0]), tuple(int(v) for v in py[1]), py[2]))
    npy = state.get("rng_numpy")
    if npy is not None:
        np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32),
                             int(npy["pos"]), int(npy["has_gauss"]), float(npy["gauss"])))


def skip_batches(loader: Iterable[Any], done: int) -> Iterator[Any]:
    """The batches of ``loader`` after the first ``done`` (loaded and dropped, so a
    dataset's own per-item randomness and a worker pool advance exactly as before)."""
    it = iter(loader)
    if done:
        for _ in islice(it, done):
            pass
    return it


@dataclass
class Timer:
    """Due every ``minutes`` minutes (never when ``None``): a mid-epoch checkpoint timer."""

    minutes: float | None
    last: float = field(default_factory=time.monotonic)

    def due(self) -> bool:
        return self.minutes is not None and time.monotonic() - self.last >= self.minutes * 60

    def reset(self) -> None:
        self.last = time.monotonic()


@dataclass
class StageFolders:
    """Checkpoint folders of a job that calls :func:`~spikelite.train.fit` several times
    in a fixed order (a compression schedule's fine-tuning stages): the n-th call trains in
    ``root/stage-n`` and resumes from it, so a rerun of the job replays finished stages
    from their final checkpoints and continues the interrupted one. ``metrics.csv`` of all
    stages is ``root/metrics.csv`` (column ``stage``)."""

    root: Path
    count: int = 0

    def next(self) -> tuple[Path, int]:
        """The folder of the next stage and its number (1, 2, …)."""
        self.count += 1
        return self.root / f"stage-{self.count}", self.count

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.csv"


#: the file naming the job whose stages a :class:`StageFolders` root holds
JOB = "job.json"


def stage_folders(root: str | Path, identity: dict[str, Any]) -> tuple[StageFolders, bool]:
    """The :class:`StageFolders` of the job ``identity`` (a JSON-able dict) at ``root``.
    Stages another job left there (``job.json`` differs) are removed first — only the
    files this module and :func:`~spikelite.train.fit` write (``stage-N/``,
    ``metrics.csv``, ``progress.json``, ``tensorboard/``); anything else makes it refuse.
    Returns the folders and whether earlier stages of this same job were found."""
    import json
    import os
    import shutil

    from spikelite.train.checkpoint import check_replaceable

    root = Path(root)
    text = json.dumps(identity, sort_keys=True, default=str)
    job = root / JOB
    same = False
    if root.is_dir():
        try:
            same = job.is_file() and job.read_text(encoding="utf-8") == text
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            own = {JOB, "metrics.csv", "progress.json", "tensorboard"}
            for p in root.iterdir():
                if p.name.startswith("stage-") and p.is_dir():
                    for ckpt in p.iterdir():
                        check_replaceable(ckpt)
                elif p.name not in own and not p.name.startswith("."):
                    raise SpikeliteError(f"'{root}' holds '{p.name}', which spikelite did not "
                                         "write; move it elsewhere or choose another folder")
            for p in root.iterdir():
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()
    root.mkdir(parents=True, exist_ok=True)
    if not same:
        tmp = job.with_name(f".{JOB}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, job)
    return StageFolders(root), same and any(root.glob("stage-*"))


def prune_stages(root: str | Path) -> None:
    """Remove the stage checkpoints of a finished job (keeping ``metrics.csv``, TensorBoard
    logs and ``job.json``): its final model is saved elsewhere."""
    import shutil

    root = Path(root)
    if root.is_dir():
        for p in root.glob("stage-*"):
            shutil.rmtree(p, ignore_errors=True)
        (root / "progress.json").unlink(missing_ok=True)
