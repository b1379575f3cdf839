"""``ptq``: post-training quantization — (unstructured masks,) quantize, re-estimate
BatchNorm statistics on ``calibrate_batches`` training batches; no training."""

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
from spikelite.compress.steps import prune_step, pruned_fraction, quantize_step
from spikelite.quant import calibrate_
from spikelite.train import evaluate


def quantize_and_calibrate(model: nn.Module, train: Dataset, test: Dataset,
                           spec: CompressionSpec, ctx: RunContext) -> float:
    """Masks (if the spec prunes), the quantizer, calibration; returns the accuracy."""
    if spec.prunes:
        prune_step(model, spec.sparsity, scope=spec.scope, method=spec.method,
                   layer_sparsity=spec.layer_sparsity)
    quantize_step(model, spec.scheme, spec.bits, skip_first=spec.skip_first,
                  skip_last=spec.skip_last, overrides=spec.layer_bits,
                  options=spec.quant_options)
    calibrate_(model, train if spec.calibrate_batches > 0 else None,
               batches=spec.calibrate_batches)
    return evaluate(model, test, device=ctx.device)["accuracy"]


@SCHEDULES.register("ptq")
class PTQ(Schedule):
    summary = "post-training quantization: quantize and calibrate, no training"
    trains = False

    @classmethod
    def validate(cls, spec: CompressionSpec, finetune: FinetuneSpec | None) -> None:
        if not spec.quantizes or spec.channel:
            raise ValueError("schedule 'ptq' needs a quantizer scheme (and no channel "
                             "pruning)")

    @classmethod
    def run(
        cls,
        model: nn.Module,
        data: tuple[Dataset, Dataset],
        spec: CompressionSpec,
        finetune: FinetuneSpec,
        ctx: RunContext,
    ) -> CompressionResult:
        acc = quantize_and_calibrate(model, data[0], data[1], spec, ctx)
        return CompressionResult(
            model=model, schedule="ptq", accuracy=acc, best_accuracy=acc, ptq_accuracy=acc,
            masked_fraction=pruned_fraction(model),
            stages=[{"stage": "post-training quantization", "accuracy": acc}])
