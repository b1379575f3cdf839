"""``baseline``: the trained model as is (evaluated, not changed)."""

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
from spikelite.train import evaluate


@SCHEDULES.register("baseline")
class Baseline(Schedule):
    summary = "the trained model as is (the reference every point is compared with)"
    trains = False

    @classmethod
    def validate(cls, spec: CompressionSpec, finetune: FinetuneSpec | None) -> None:
        if spec.quantizes or spec.prunes:
            raise ValueError(f"schedule '{spec.schedule}' takes no quantizer or pruning; use "
                             "ptq, isolation, joint, cumulative, qp or pq")

    @classmethod
    def run(
        cls,
        model: nn.Module,
        data: tuple[Dataset, Dataset],
        spec: CompressionSpec,
        finetune: FinetuneSpec,
        ctx: RunContext,
    ) -> CompressionResult:
        acc = evaluate(model, data[1], device=ctx.device)["accuracy"]
        return CompressionResult(model=model, schedule="baseline", accuracy=acc,
                                 best_accuracy=acc)
