"""Per-epoch records of a training run: ``metrics.csv`` (one row per epoch, safe across
resumes), firing rates per neuron layer, and optional TensorBoard scalars.

``metrics.csv`` columns: ``stage`` (1 for a plain run; the fine-tuning stage of a
compression schedule), ``epoch`` (1-based within the stage), ``train_loss``,
``train_accuracy``, ``test_loss``/``test_accuracy`` (when the run evaluates),
``lr`` (after the epoch's last step), ``seconds`` (the epoch's wall time, evaluation
included), then ``rate/<layer>`` for every neuron layer: its mean spikes per neuron per
time step over the epoch's training batches. The file is rewritten whole (temporary file
+ rename) at each epoch, keeping only the rows before the epoch written, so a resumed run
never duplicates an epoch and a crash never leaves a half-written row.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikelite.core.neurons import LIF
from spikelite.errors import require

#: the leading columns of ``metrics.csv``, in order (``rate/<layer>`` columns follow)
COLUMNS = ("stage", "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
           "lr", "seconds")
METRICS = "metrics.csv"
PROGRESS = "progress.json"


class FiringRates:
    """Mean spikes per neuron per time step of every neuron layer (:class:`LIF` and
    subclasses), accumulated by forward hooks while :meth:`recording`; the sums stay on
    the device (no synchronisation per batch)."""

    def __init__(self, model: nn.Module) -> None:
        self.layers = [(n, m) for n, m in model.named_modules() if isinstance(m, LIF)]
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def _hook(self, name: str) -> Any:
        def hook(m: nn.Module, _inp: Any, out: Any) -> None:
            if not m.training:  # training batches only, not the evaluation
                return
            spikes = out[0] if isinstance(out, tuple) else out
            if not isinstance(spikes, torch.Tensor):
                return
            s = spikes.detach().sum(dtype=torch.float64)
            self.sums[name] = self.sums[name] + s if name in self.sums else s
            self.counts[name] = self.counts.get(name, 0) + spikes.numel()
        return hook

    @contextlib.contextmanager
    def recording(self) -> Iterator[FiringRates]:
        handles = [m.register_forward_hook(self._hook(n)) for n, m in self.layers]
        try:
            yield self
        finally:
            for h in handles:
                h.remove()

    def state(self) -> dict[str, Any]:
        """The running sums (for a mid-epoch checkpoint)."""
        return {"sums": {k: v.detach().cpu() for k, v in self.sums.items()},
                "counts": dict(self.counts)}

    def load(self, state: dict[str, Any] | None, device: torch.device) -> None:
        self.sums = {k: v.to(device) for k, v in ((state or {}).get("sums") or {}).items()}
        self.counts = {k: int(v) for k, v in ((state or {}).get("counts") or {}).items()}

    def take(self) -> dict[str, float]:
        """``{"rate/<layer>": rate}`` since the last call, then start over."""
        out = {f"rate/{n}": float(self.sums[n]) / self.counts[n]
               for n, _ in self.layers if self.counts.get(n)}
        self.sums, self.counts = {}, {}
        return out


class MetricsLog:
    """Writes one row per epoch to ``path`` (see the module doc) and, with
    ``tensorboard=True``, the same numbers as TensorBoard scalars under ``path``'s folder
    (``torch.utils.tensorboard``; extra ``tensorboard``)."""

    def __init__(self, path: Path, *, stage: int = 1, tensorboard: bool = False) -> None:
        self.path, self.stage = Path(path), stage
        self.writer: Any = None
        if tensorboard:
            tb = require("torch.utils.tensorboard", "tensorboard", "TensorBoard logging")
            self.writer = tb.SummaryWriter(log_dir=str(self.path.parent / "tensorboard"))

    def rows(self) -> list[dict[str, str]]:
        """The rows on disk (none when the file is missing)."""
        if not self.path.is_file():
            return []
        with self.path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def write(self, row: dict[str, Any], *, step: int | None = None) -> None:
        """Record epoch ``row["epoch"]`` of this stage, dropping any row of this or a later
        stage from that epoch on (left by an interrupted run)."""
        epoch = int(row["epoch"])
        full = {"stage": self.stage, **row}

        def earlier(r: dict[str, str]) -> bool:
            try:
                s, e = int(r["stage"]), int(r["epoch"])
            except (KeyError, TypeError, ValueError):
                return False
            return s < self.stage or (s == self.stage and e < epoch)

        kept: list[dict[str, Any]] = [r for r in self.rows() if earlier(r)]
        kept.append(full)
        names = list(COLUMNS)
        for r in kept:
            names += [k for k in r if k not in names]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(names)
        for r in kept:
            w.writerow([_cell(r.get(k, "")) for k in names])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(buf.getvalue(), encoding="utf-8")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        if self.writer is not None:
            at = step if step is not None else epoch
            for k, v in row.items():
                if k != "epoch" and isinstance(v, (int, float)):
                    self.writer.add_scalar(f"stage{self.stage}/{k}" if self.stage > 1 else k,
                                           float(v), at)
            self.writer.flush()

    def progress(self, epoch: int, epochs: int, seconds: float) -> None:
        """``progress.json`` next to ``metrics.csv``: stage, epochs done of ``epochs``, mean
        seconds per epoch (read by a sweep's live progress display)."""
        import json

        tmp = self.path.with_name(f".progress.json.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps({"stage": self.stage, "epoch": epoch, "epochs": epochs,
                                       "epoch_seconds": seconds}))
            os.replace(tmp, self.path.with_name(PROGRESS))
        finally:
            tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove ``metrics.csv`` and ``progress.json`` (a run that wrote no checkpoint)."""
        self.path.unlink(missing_ok=True)
        self.path.with_name(PROGRESS).unlink(missing_ok=True)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@contextlib.contextmanager
def recording(log: MetricsLog | None, rates: FiringRates | None,
              last: Path | None) -> Iterator[None]:
    """Around a run's epochs: firing-rate hooks on; on failure, the metrics files this run
    started are removed again when it wrote no checkpoint (``last`` missing), so a run that
    fails (a full disk) leaves nothing half-done; TensorBoard closed at the end."""
    if log is None or rates is None or last is None:
        yield
        return
    fresh = not log.path.exists()
    try:
        with rates.recording():
            yield
    except BaseException:
        if fresh and not last.exists():
            log.discard()
        raise
    finally:
        log.close()


def _cell(v: Any) -> Any:
    return repr(v) if isinstance(v, float) else v
