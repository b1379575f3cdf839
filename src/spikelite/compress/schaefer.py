"""Schaefer et al.'s schedules: isolation / cumulative / joint (papers.md §2.7).

* ``joint``: the mask (global magnitude, from the pretrained weights) and the fake
  quantizer are both active from the first epoch; one LR schedule over all epochs.
* ``cumulative``: prune → fine-tune in full precision → quantize (the quantizer is
  initialised from the fine-tuned weights) → fine-tune with the LR schedule restarted.
* ``isolation``: only one of them — quantization only (``sparsity = 0``) or pruning only,
  which Schaefer et al. ran with 8-bit weights (pass ``bits=8``), i.e. ``joint`` with one
  of the two knobs at its neutral value.

:func:`run_schedule` is the library function (model, data, config) → (compressed model,
record); the registered schedules of :mod:`spikelite.compress.schedules` call it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from torch import nn
from torch.utils.data import Dataset

from spikelite.compress.steps import prune_step, pruned_fraction, quantize_step
from spikelite.errors import SpikeliteError
from spikelite.prune.unstructured import check_sparsity, sparsity_of
from spikelite.quant import quant_spec
from spikelite.train import FitResult, TrainConfig, evaluate
from spikelite.train.lowbit import LowBitFinetuner, lowbit_record

SCHAEFER_SCHEDULES = ("isolation", "cumulative", "joint")


@dataclass(frozen=True)
class ScheduleConfig:
    """What to do: quantizer (``scheme``/``bits``, ``None`` = full precision; per-layer
    ``overrides`` as in :func:`~spikelite.quant.quantize_` for mixed precision), global
    magnitude ``sparsity`` (or per-layer ``layer_sparsity``, each layer pruned to its own
    fraction), and the epoch split (cumulative: ``prune_epochs`` then the rest).
    """

    schedule: str = "joint"
    scheme: str | None = "duq"
    bits: int = 8
    sparsity: float = 0.0
    scope: str = "global"
    method: str = "magnitude"
    epochs: int = 4
    prune_epochs: int | None = None
    quant_options: dict[str, Any] = field(default_factory=dict)
    skip_first: bool = False
    skip_last: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    layer_sparsity: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.schedule not in SCHAEFER_SCHEDULES:
            raise SpikeliteError(
                f"unknown schedule '{self.schedule}'. Valid: {', '.join(SCHAEFER_SCHEDULES)}"
            )
        check_sparsity(self.sparsity)
        for p in self.layer_sparsity.values():
            check_sparsity(p)
        if self.epochs < 1:
            raise SpikeliteError(f"epochs must be >= 1, got {self.epochs}")
        if self.schedule == "cumulative":
            pe = self.prune_epochs if self.prune_epochs is not None else self.epochs // 2
            if not 1 <= pe < self.epochs:
                raise SpikeliteError(
                    f"cumulative needs 1 <= prune_epochs < epochs (= {self.epochs}), got {pe}"
                )
        if self.schedule == "isolation" and self.sparsity > 0 and self.scheme is not None \
                and self.bits != 8:
            raise SpikeliteError(
                "isolation means one technique: quantization only (sparsity 0), or pruning "
                "only (Schaefer et al. keep 8-bit weights: bits=8)"
            )


@dataclass
class ScheduleRecord:
    """What a schedule did, stage by stage."""

    config: ScheduleConfig
    stages: list[dict[str, Any]] = field(default_factory=list)
    accuracy: float = 0.0
    best_accuracy: float = 0.0
    sparsity: float = 0.0
    zero_fraction: float = 0.0
    quant: dict[str, Any] = field(default_factory=dict)


def _quantize(model: nn.Module, cfg: ScheduleConfig) -> None:
    quantize_step(model, cfg.scheme, cfg.bits, skip_first=cfg.skip_first,
                  skip_last=cfg.skip_last, overrides=cfg.overrides, options=cfg.quant_options)


def _prune(model: nn.Module, cfg: ScheduleConfig) -> None:
    prune_step(model, cfg.sparsity, scope=cfg.scope, method=cfg.method,
               layer_sparsity=cfg.layer_sparsity)


def run_schedule(
    model: nn.Module,
    train: Dataset,
    test: Dataset,
    cfg: ScheduleConfig,
    train_cfg: TrainConfig | None = None,
    *,
    device: str = "auto",
    progress: bool = False,
    console: Console | None = None,
    regularizer: Any | None = None,
    checkpoints: Any | None = None,
    trainer: Callable[..., FitResult] | None = None,
) -> tuple[nn.Module, ScheduleRecord]:
    """Apply ``cfg`` to a trained ``model`` (in place) with fine-tuning; see the module doc.

    ``train_cfg`` supplies the optimiser settings; its ``epochs`` is replaced by the
    schedule's split. The mask is always computed from the weights ``model`` holds on entry
    (the pretrained ones), as Schaefer et al. do. ``regularizer`` (an
    :class:`~spikelite.regularize.ActivityRegularizer`) is added to every fine-tuning loss.
    ``trainer``: what trains each stage (default
    :class:`~spikelite.train.lowbit.LowBitFinetuner`, i.e. ``fit`` plus the low-bit options
    of a :class:`~spikelite.train.config.FinetuneSpec`).
    """
    fit = trainer or LowBitFinetuner()
    base = train_cfg or TrainConfig(lr=1e-3)
    rec = ScheduleRecord(config=cfg)
    kw = {"device": device, "progress": progress, "console": console,
          "regularizer": regularizer, "checkpoints": checkpoints}
    rec.stages.append({"stage": "pretrained", **evaluate(model, test, device=device)})
    if cfg.schedule in ("joint", "isolation"):
        _prune(model, cfg)  # the mask from the pretrained full-precision weights …
        _quantize(model, cfg)  # … applied to Q(W): mask ⊙ Q(W), both from epoch 0
        res = fit(model, train, test, base.with_epochs(cfg.epochs),
                  **kw)
        rec.stages.append({"stage": "joint fine-tune", "epochs": cfg.epochs,
                           "accuracy": res.final_accuracy, "best": res.best_accuracy,
                           **lowbit_record(res)})
        best = res.best_accuracy
    else:
        pe = cfg.prune_epochs if cfg.prune_epochs is not None else cfg.epochs // 2
        _prune(model, cfg)
        r1 = fit(model, train, test, base.with_epochs(pe), **kw)
        rec.stages.append({"stage": "prune + fine-tune (full precision)", "epochs": pe,
                           "accuracy": r1.final_accuracy, "best": r1.best_accuracy,
                           **lowbit_record(r1)})
        _quantize(model, cfg)  # quantizer initialised from the fine-tuned weights
        r2 = fit(model, train, test,
                 base.with_epochs(cfg.epochs - pe), **kw)
        rec.stages.append({"stage": "quantize + fine-tune (LR schedule restarted)",
                           "epochs": cfg.epochs - pe, "accuracy": r2.final_accuracy,
                           "best": r2.best_accuracy, **lowbit_record(r2)})
        best = r2.best_accuracy
    rec.accuracy = rec.stages[-1]["accuracy"]
    rec.best_accuracy = best
    rec.sparsity = pruned_fraction(model)
    rec.zero_fraction = sparsity_of(model)["total"]
    rec.quant = quant_spec(model)
    return model, rec


