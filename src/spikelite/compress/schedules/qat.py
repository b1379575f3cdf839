"""``qat``: quantize, calibrate (as ``ptq``), then quantization-aware fine-tuning."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn
    from torch.utils.data import Dataset

    from spikelite.compress.schedules.base import RunContext
    from spikelite.compress.spec import CompressionSpec
    from spikelite.train.config import FinetuneSpec

from spikelite.compress.result import CompressionResult
from spikelite.compress.schedules.base import SCHEDULES, Schedule
from spikelite.compress.schedules.ptq import quantize_and_calibrate
from spikelite.train.lowbit import lowbit_record


@SCHEDULES.register("qat")
class QAT(Schedule):
    summary = "quantize and calibrate, then quantization-aware fine-tuning"

    @classmethod
    def validate(cls, spec: CompressionSpec, finetune: FinetuneSpec | None) -> None:
        if not spec.quantizes or spec.prunes:
            raise ValueError("schedule 'qat' quantizes, calibrates and fine-tunes: it needs a "
                             "quantizer scheme and no pruning (prune with joint, cumulative, "
                             "qp or pq)")
        super().validate(spec, finetune)

    @classmethod
    def run(
        cls,
        model: nn.Module,
        data: tuple[Dataset, Dataset],
        spec: CompressionSpec,
        finetune: FinetuneSpec,
        ctx: RunContext,
    ) -> CompressionResult:
        train, test = data
        ptq = quantize_and_calibrate(model, train, test, spec, ctx)
        res = ctx.trainer()(model, train, test, finetune.with_epochs(max(finetune.epochs, 1)),
                  **ctx.kwargs())
        return CompressionResult(
            model=model, schedule="qat", accuracy=res.final_accuracy,
            best_accuracy=res.best_accuracy, ptq_accuracy=ptq,
            stages=[{"stage": "post-training quantization", "accuracy": ptq},
                    {"stage": "fine-tune", "epochs": finetune.epochs,
                     "accuracy": res.final_accuracy, "best": res.best_accuracy,
                     **lowbit_record(res)}])
