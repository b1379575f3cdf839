"""Shared by ``isolation``, ``joint`` and ``cumulative`` (Schaefer et al.): the spec →
:class:`~spikelite.compress.schaefer.ScheduleConfig` mapping, validation and run."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn
    from torch.utils.data import Dataset

    from spikelite.compress.schedules.base import RunContext
    from spikelite.compress.spec import CompressionSpec
    from spikelite.train.config import FinetuneSpec

from spikelite.compress.result import CompressionResult
from spikelite.compress.schaefer import ScheduleConfig, run_schedule
from spikelite.compress.schedules.base import Schedule
from spikelite.regularize import regularizer_from_spec


def schedule_config(spec: CompressionSpec, finetune: FinetuneSpec) -> ScheduleConfig:
    """The library config of :func:`run_schedule` for ``spec`` with ``finetune``."""
    return ScheduleConfig(
        schedule=spec.schedule, scheme=spec.scheme,
        bits=spec.bits if spec.scheme else 32,
        sparsity=spec.sparsity if spec.method else 0.0, scope=spec.scope,
        method=spec.method or "magnitude", epochs=max(finetune.epochs, 1),
        prune_epochs=spec.prune_epochs, quant_options=dict(spec.quant_options),
        skip_first=spec.skip_first, skip_last=spec.skip_last,
        overrides=dict(spec.layer_bits),
        layer_sparsity=dict(spec.layer_sparsity) if spec.method else {},
    )


class SchaeferSchedule(Schedule):
    """Unstructured pruning and/or quantization with fine-tuning."""

    accepts_regularizer = True

    @classmethod
    def validate(cls, spec: CompressionSpec, finetune: FinetuneSpec | None) -> None:
        s = spec.schedule
        if spec.channel:
            raise ValueError(f"channel pruning ({spec.method}) runs with schedule qp or pq, "
                             f"not {s}")
        if not (spec.quantizes or spec.prunes):
            raise ValueError(f"schedule '{s}' needs a quantizer and/or pruning")
        super().validate(spec, finetune)
        if finetune is not None:  # the rules of ScheduleConfig, before any training
            cfg = schedule_config(spec, finetune)
            if cfg.schedule == "cumulative":
                pe = cfg.prune_epochs if cfg.prune_epochs is not None else cfg.epochs // 2
                cls.check_stages(finetune, {"prune + fine-tune": pe,
                                            "quantize + fine-tune": cfg.epochs - pe})
            else:
                cls.check_stages(finetune, {"fine-tuning": cfg.epochs})

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
            model, rec = run_schedule(model, train, test, schedule_config(spec, finetune),
                                      finetune.with_epochs(max(finetune.epochs, 1)),
                                      regularizer=reg, trainer=ctx.trainer(), **ctx.kwargs())
        finally:
            if reg is not None:
                reg.remove()
        return CompressionResult(model=model, schedule=spec.schedule, accuracy=rec.accuracy,
                                 best_accuracy=rec.best_accuracy, stages=rec.stages,
                                 masked_fraction=rec.sparsity)
