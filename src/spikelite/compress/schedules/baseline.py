"""``baseline``: the trained model as is (evaluated, not changed)."""

from __future__ import annotations

from spikelite.compress.result import CompressionResult
from spikelite.compress.schedules.base import SCHEDULES, Schedule
from spikelite.train import evaluate


@SCHEDULES.register("baseline")
class Baseline(Schedule):
    summary = "the trained model as is (the reference every point is compared with)"
    trains = False

    @classmethod
    def validate(cls, spec, finetune):  # type: ignore[no-untyped-def]
        if spec.quantizes or spec.prunes:
            raise ValueError(f"schedule '{spec.schedule}' takes no quantizer or pruning; use "
                             "ptq, isolation, joint, cumulative, qp or pq")

    @classmethod
    def run(cls, model, data, spec, finetune, ctx):  # type: ignore[no-untyped-def]
        acc = evaluate(model, data[1], device=ctx.device)["accuracy"]
        return CompressionResult(model=model, schedule="baseline", accuracy=acc,
                                 best_accuracy=acc)
