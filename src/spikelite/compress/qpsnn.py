"""QP-SNN's schedules (papers.md §1.10, App. A, Table 3): :func:`run_qpsnn` —
``order="qp"``: quantized training → channel scores (SVS) on the quantized net → channel
removal → fine-tuning; ``order="pq"``: channel pruning of the full-precision net →
fine-tuning → quantization → quantized fine-tuning."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from torch import nn
from torch.utils.data import Dataset

from spikelite.errors import SpikeliteError
from spikelite.prune import apply_channel_plan_, plan_channel_pruning
from spikelite.quant import quant_spec, quantize_
from spikelite.train import FitResult, TrainConfig, evaluate
from spikelite.train.lowbit import LowBitFinetuner, lowbit_record

QP_ORDERS = ("qp", "pq")


@dataclass(frozen=True)
class QPSNNConfig:
    """QP-SNN: quantizer (default ReScaW 4 bits, first/last layer in full precision),
    channel ``ratios`` (a float for every conv, or ``{layer: ratio}``), ``criterion``
    (``svs``/``sca``/``l1``/``random``) scored on ``batches`` mini-batches, whether the
    last conv stays whole (``keep_last``, QP-SNN), the order and the epochs of the two
    training stages."""

    order: str = "qp"
    scheme: str | None = "rescaw"
    bits: int = 4
    quant_options: dict[str, Any] = field(default_factory=dict)
    skip_first: bool = True
    skip_last: bool = True
    ratios: float | dict[str, float] = 0.5
    criterion: str = "svs"
    batches: int = 5
    keep_last: bool = True
    first_epochs: int = 2
    finetune_epochs: int = 2

    def __post_init__(self) -> None:
        if self.order not in QP_ORDERS:
            raise SpikeliteError(f"unknown QP-SNN order '{self.order}'. Valid: qp, pq")
        if self.first_epochs < 0 or self.finetune_epochs < 1:
            raise SpikeliteError("QP-SNN needs first_epochs >= 0 and finetune_epochs >= 1")


def run_qpsnn(
    model: nn.Module,
    train: Dataset,
    test: Dataset,
    cfg: QPSNNConfig,
    train_cfg: TrainConfig | None = None,
    *,
    device: str = "auto",
    progress: bool = False,
    console: Console | None = None,
    checkpoints: Any | None = None,
    trainer: Callable[..., FitResult] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Quantize-then-prune (QP-SNN) or prune-then-quantize (PQ) a trained ``model``;
    ``trainer`` trains each stage (default :class:`~spikelite.train.lowbit.LowBitFinetuner`)."""
    fit = trainer or LowBitFinetuner()
    base = train_cfg or TrainConfig(lr=1e-3)
    kw = {"device": device, "progress": progress, "console": console,
          "checkpoints": checkpoints}
    stages: list[dict[str, Any]] = [{"stage": "pretrained",
                                     **evaluate(model, test, device=device)}]

    def train_stage(label: str, epochs: int) -> None:
        if epochs < 1:
            return
        r = fit(model, train, test, base.with_epochs(epochs), **kw)
        stages.append({"stage": label, "epochs": epochs, "accuracy": r.final_accuracy,
                       "best": r.best_accuracy, **lowbit_record(r)})

    def quantize() -> None:
        if cfg.scheme is not None:
            quantize_(model, cfg.scheme, cfg.bits, skip_first=cfg.skip_first,
                      skip_last=cfg.skip_last, **cfg.quant_options)

    def prune() -> dict[str, Any]:
        plan = plan_channel_pruning(model, cfg.ratios, cfg.criterion, data=train,
                                    batches=cfg.batches, keep_last=cfg.keep_last)
        report = apply_channel_plan_(model, plan)
        stages.append({"stage": f"channel pruning ({cfg.criterion})",
                       "params_before": report.params_before,
                       "params_after": report.params_after,
                       **evaluate(model, test, device=device)})
        return {"params_before": report.params_before, "params_after": report.params_after,
                "widths": report.widths, "rebuildable": report.rebuildable}

    if cfg.order == "qp":
        quantize()
        train_stage("quantized training", cfg.first_epochs)
        pruned = prune()  # scores judged in the quantized domain
        train_stage("fine-tune", cfg.finetune_epochs)
    else:
        pruned = prune()
        train_stage("fine-tune (full precision)", cfg.first_epochs)
        quantize()
        train_stage("quantized fine-tune", cfg.finetune_epochs)
    last = stages[-1]
    return model, {"stages": stages, "accuracy": last["accuracy"], "best": last["best"],
                   "pruning": pruned, "quant": quant_spec(model)}
