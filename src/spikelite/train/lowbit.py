"""Fine-tuning that suits low bit widths: :class:`LowBitFinetuner` is a drop-in for
:func:`~spikelite.train.fit` that reads the low-bit options of a
:class:`~spikelite.train.config.FinetuneSpec` (see there) and otherwise calls ``fit``
unchanged. Per call (one training stage of a compression schedule):

1. ``quant_init: mse`` — quantizers that appeared since the last call get their
   weight-MSE-optimal range (:func:`spikelite.quant.range_init.mse_init_`);
2. ``bn_reestimate`` — BatchNorm statistics recomputed with the compressed weights
   (:func:`spikelite.train.bn.reestimate_bn_`);
3. the epochs are split into segments, each a ``fit`` with its own learning-rate schedule:
   one per ``bit_schedule`` width above the target (the quantizers train at
   ``max(width, target)``; the rest of the epochs at the target), and the target phase
   into ``cycles`` warm restarts;
4. ``distill`` — every segment's loss is the :class:`~spikelite.train.distill.Distiller`'s;
5. ``freeze_quantizers: f`` — after ``ceil(f·epochs)`` epochs the quantizer ranges stop
   learning; ``patience`` — stop when the target-bit test accuracy has not improved by
   ``min_delta`` for that many epochs;
6. ``max_epochs`` — while the best target-bit accuracy is more than ``extend_below`` pt
   under the reference (the baseline) and the stage has used fewer than ``max_epochs``,
   train another segment (learning rate restarted).

Best/final accuracies are taken over the target-bit epochs only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from spikelite.errors import SpikeliteError
from spikelite.quant import fake_quant_of
from spikelite.quant.parametrize import FakeQuant
from spikelite.quant.range_init import mse_init_
from spikelite.train.bn import reestimate_bn_
from spikelite.train.config import FinetuneSpec, TrainConfig
from spikelite.train.distill import Distiller
from spikelite.train.engine import FitResult, fit
from spikelite.train.losses import LOSSES


def far_below(reference: float, accuracy: float, points: float) -> bool:
    """Whether ``accuracy`` is more than ``points`` percentage points under ``reference``
    (both fractions). Exactly ``points`` under is not "more": 0.96 → 0.95 is 1 pt even
    though ``(0.96 − 0.95)·100`` is 1.0000000000000009 in floating point."""
    return round((reference - accuracy) * 100, 9) > points


@dataclass
class LowBitFitResult(FitResult):
    """:class:`FitResult` plus what the low-bit options did: ``epochs_run``,
    ``stopped_early``, ``extended`` (extra epochs), ``teacher_seconds``/``teacher_calls``
    (distillation cost), ``segments`` (bits and epochs of each ``fit``)."""

    epochs_run: int = 0
    stopped_early: bool = False
    extended: int = 0
    teacher_seconds: float = 0.0
    teacher_calls: int = 0
    segments: list[dict[str, int]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {"epochs_run": self.epochs_run, "stopped_early": self.stopped_early,
                "extended": self.extended, "teacher_seconds": round(self.teacher_seconds, 3),
                "teacher_calls": self.teacher_calls,
                "seconds": round(self.seconds, 3), "segments": self.segments}


def _quantizers(model: nn.Module) -> list[FakeQuant]:
    from spikelite.core.synaptic import synaptic_layers

    return [fq for _, m in synaptic_layers(model) if (fq := fake_quant_of(m)) is not None]


def split_epochs(epochs: int, phases: int, cycles: int) -> list[int]:
    """Epochs of each segment: ``phases − 1`` progressive phases of ``epochs // phases``
    each, the rest split into ``cycles`` near-equal cycles (earlier ones longer)."""
    if epochs < phases - 1 + cycles:
        raise SpikeliteError(
            f"this fine-tuning stage has {epochs} epoch(s), fewer than its {phases - 1} "
            f"progressive bit phase(s) + {cycles} cycle(s) need; give the stage more epochs "
            "or shorten finetune.bit_schedule / finetune.cycles")
    per = epochs // phases if phases > 1 else 0
    rest = epochs - per * (phases - 1)
    cyc = [rest // cycles + (1 if i < rest % cycles else 0) for i in range(cycles)]
    return [per] * (phases - 1) + cyc


def lowbit_record(res: FitResult) -> dict[str, Any]:
    """What the low-bit options did (for a schedule's stage record); ``{}`` for plain
    ``fit``."""
    return {"lowbit": res.record()} if isinstance(res, LowBitFitResult) else {}


class LowBitFinetuner:
    """``fit``-compatible trainer for one compression run (see the module doc).
    ``teacher``: the baseline model for ``distill``; ``reference_accuracy``: the baseline
    accuracy for ``max_epochs``."""

    def __init__(self, teacher: nn.Module | None = None,
                 reference_accuracy: float | None = None) -> None:
        self.teacher = teacher
        self.reference_accuracy = reference_accuracy
        self._initialised: set[int] = set()

    def __call__(self, model: nn.Module, train: Dataset, test: Dataset | None,
                 config: TrainConfig | None = None, **kw: Any) -> FitResult:
        cfg = config
        if not isinstance(cfg, FinetuneSpec) or not cfg.lowbit:
            return fit(model, train, test, cfg, **kw)
        for key in ("out_dir", "resume", "criterion"):
            if kw.get(key):
                raise SpikeliteError(f"low-bit fine-tuning runs several fit segments and "
                                     f"does not take {key}; drop it or the low-bit options")
        if cfg.distill is not None and self.teacher is None:
            raise SpikeliteError("finetune.distill needs the full-precision baseline as "
                                 "teacher: run it through compress_model (or pass teacher=)")
        if cfg.max_epochs is not None and self.reference_accuracy is None:
            raise SpikeliteError("finetune.max_epochs needs the baseline accuracy: run it "
                                 "through compress_model (or pass reference_accuracy=)")
        return self._run(model, train, test, cfg, kw)

    def _prepare(self, model: nn.Module, train: Dataset, cfg: FinetuneSpec) -> list[FakeQuant]:
        fqs = _quantizers(model)
        if cfg.quant_init == "mse" and any(id(q) not in self._initialised for q in fqs):
            mse_init_(model)  # only this stage's new quantizers are re-initialised below
        self._initialised.update(id(q) for q in fqs)
        if cfg.bn_reestimate:
            reestimate_bn_(model, train, batches=cfg.bn_batches, batch_size=cfg.batch_size,
                           seed=cfg.seed)
        return fqs

    def _run(self, model: nn.Module, train: Dataset, test: Dataset | None,
             cfg: FinetuneSpec, kw: dict[str, Any]) -> LowBitFitResult:
        if cfg.quant_init == "mse":
            known = {id(q): q.params() for q in _quantizers(model) if id(q) in self._initialised}
            saved = {k: {n: t.detach().clone() for n, t in p.items()} for k, p in known.items()}
        fqs = self._prepare(model, train, cfg)
        if cfg.quant_init == "mse":  # keep the ranges earlier stages learned
            for q in fqs:
                for n, t in saved.get(id(q), {}).items():
                    getattr(q, n).data.copy_(t)
        targets = {id(q): q.bits for q in fqs}
        widths = [b for b in cfg.bit_schedule if fqs and b > min(targets.values())]
        plan = split_epochs(cfg.epochs, len(widths) + 1, cfg.cycles)
        bits_of = [*widths, *([None] * cfg.cycles)]  # None: the target widths
        res = LowBitFitResult()
        distiller = (Distiller(self.teacher, model, cfg.distill, LOSSES.get(cfg.loss))
                     if cfg.distill is not None and self.teacher is not None else None)
        freeze_at = (math.ceil(cfg.freeze_quantizers * cfg.epochs)
                     if cfg.freeze_quantizers is not None else None)
        frozen: list[Any] = []
        state = {"epoch": 0, "best": -1.0, "since": 0, "stop": False}
        user_on_epoch: Callable[[dict[str, float]], Any] | None = kw.pop("on_epoch", None)
        t0 = time.perf_counter()

        def on_epoch(rec: dict[str, float], target: bool) -> bool:
            state["epoch"] += 1
            rec = {**rec, "epoch": state["epoch"]}
            res.history.append(rec)
            if user_on_epoch is not None:
                user_on_epoch(rec)
            if freeze_at is not None and state["epoch"] == freeze_at and not frozen:
                for q in fqs:
                    for n in q.scheme.learnable_params:
                        p = getattr(q, n)
                        frozen.append((p, p.requires_grad))
                        p.requires_grad_(False)
            if not target:
                return False
            acc = rec.get("test_accuracy", rec["train_accuracy"])
            if acc > res.best_accuracy or res.best_epoch < 0:
                res.best_accuracy, res.best_epoch = acc, state["epoch"]
            if acc > state["best"] + cfg.min_delta:
                state["best"], state["since"] = acc, 0
            else:
                state["since"] += 1
            if cfg.patience is not None and state["since"] >= cfg.patience:
                state["stop"] = True
            return bool(state["stop"])

        def segment(epochs: int, bits: int | None) -> None:
            switched = False
            for q in fqs:
                b = targets[id(q)] if bits is None else max(bits, targets[id(q)])
                if b != q.bits:
                    q.scheme.check_bits(b)
                    q.bits, switched = b, True
            if switched and cfg.quant_init == "mse":
                mse_init_(model)  # the range that suits the new width
            target = bits is None
            # each segment restarts the LR schedule; a new seed gives it new shuffles
            seg_cfg = cfg.model_copy(update={"epochs": epochs,
                                             "seed": cfg.seed + len(res.segments)})
            fit(model, train, test, seg_cfg, criterion=distiller,
                on_epoch=lambda r: on_epoch(r, target), **kw)
            res.segments.append({"bits": bits or 0, "epochs": epochs})

        try:
            for epochs, bits in zip(plan, bits_of, strict=True):
                if state["stop"]:
                    break
                segment(epochs, bits)
            ext = plan[-1]
            while (cfg.max_epochs is not None and not state["stop"]
                   and self.reference_accuracy is not None
                   and far_below(self.reference_accuracy, res.best_accuracy, cfg.extend_below)
                   and state["epoch"] < cfg.max_epochs):
                n = min(ext, cfg.max_epochs - state["epoch"])
                segment(n, None)
                res.extended += n
        finally:
            for p, g in frozen:
                p.requires_grad_(g)
            for q in fqs:
                q.bits = targets[id(q)]
            if distiller is not None:
                distiller.close()
                res.teacher_seconds, res.teacher_calls = (distiller.teacher_seconds,
                                                          distiller.calls)
        res.epochs_run = state["epoch"]
        res.stopped_early = bool(state["stop"])
        res.seconds = time.perf_counter() - t0
        if res.history:
            last = res.history[-1]
            res.final_accuracy = last.get("test_accuracy", last["train_accuracy"])
        return res
