"""``finetune``: fine-tuning only (e.g. with an activity regularizer, Narduzzi et al.)."""

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
from spikelite.compress.schedules.baseline import Baseline
from spikelite.regularize import regularizer_from_spec


@SCHEDULES.register("finetune")
class Finetune(Schedule):
    summary = "fine-tuning only, e.g. with an activity regularizer"
    accepts_regularizer = True

    @classmethod
    def validate(cls, spec: CompressionSpec, finetune: FinetuneSpec | None) -> None:
        Baseline.validate(spec, finetune)
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
        reg = regularizer_from_spec(model, spec.regularizer) if spec.regularizer else None
        try:
            res = ctx.trainer()(model, train, test, finetune.with_epochs(max(finetune.epochs, 1)),
                      regularizer=reg, **ctx.kwargs())
        finally:
            if reg is not None:
                reg.remove()
        return CompressionResult(
            model=model, schedule="finetune", accuracy=res.final_accuracy,
            best_accuracy=res.best_accuracy,
            stages=[{"stage": "fine-tune", "epochs": finetune.epochs,
                     "accuracy": res.final_accuracy}])
