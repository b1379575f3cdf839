"""Shared by ``qp`` and ``pq`` (QP-SNN channel pruning): spec → :class:`QPSNNConfig`,
validation and run."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn
    from torch.utils.data import Dataset

    from spikelite.compress.schedules.base import RunContext
    from spikelite.compress.spec import CompressionSpec
    from spikelite.train.config import FinetuneSpec

from spikelite.compress.methods import CHANNEL_METHODS
from spikelite.compress.qpsnn import QPSNNConfig, run_qpsnn
from spikelite.compress.result import ChannelPruning, CompressionResult
from spikelite.compress.schedules.base import Schedule


def qpsnn_config(spec: CompressionSpec, finetune: FinetuneSpec) -> QPSNNConfig:
    """The library config of :func:`run_qpsnn` for ``spec`` with ``finetune``: the first
    stage takes ``prune_epochs`` (default half the epochs), the second the rest."""
    first = spec.prune_epochs if spec.prune_epochs is not None else finetune.epochs // 2
    return QPSNNConfig(
        order=spec.schedule, scheme=spec.scheme, bits=spec.bits if spec.scheme else 32,
        quant_options=dict(spec.quant_options), skip_first=spec.skip_first,
        skip_last=spec.skip_last, ratios=dict(spec.layer_sparsity) or spec.sparsity,
        criterion=CHANNEL_METHODS[spec.method or "svs"], batches=spec.score_batches,
        first_epochs=first, finetune_epochs=max(finetune.epochs - first, 1),
    )


class QPSNNSchedule(Schedule):
    """Channel pruning with surgery and quantization, in two training stages."""

    @classmethod
    def validate(cls, spec: CompressionSpec, finetune: FinetuneSpec | None) -> None:
        s = spec.schedule
        if not (spec.prunes and spec.channel):
            raise ValueError(f"schedule '{s}' is QP-SNN's channel pruning: set method to one "
                             f"of {', '.join(CHANNEL_METHODS)} and a sparsity > 0")
        if spec.layer_bits:
            raise ValueError("per-layer bits with channel pruning are not supported; use "
                             "layer_bits with isolation/joint/cumulative")
        super().validate(spec, finetune)
        if finetune is not None and finetune.epochs < 2 and spec.prune_epochs is None:
            raise ValueError("QP-SNN schedules train in two stages: finetune.epochs >= 2")
        if finetune is not None:
            cfg = qpsnn_config(spec, finetune)
            cls.check_stages(finetune, {"first": cfg.first_epochs,
                                        "second": cfg.finetune_epochs})

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
        model, rec = run_qpsnn(model, train, test, qpsnn_config(spec, finetune),
                               finetune.with_epochs(max(finetune.epochs, 1)), trainer=ctx.trainer(),
                               **ctx.kwargs())
        pr = rec["pruning"]
        pruning = ChannelPruning(pr["params_before"], pr["params_after"], pr["widths"],
                                 pr["rebuildable"])
        return CompressionResult(model=model, schedule=spec.schedule, accuracy=rec["accuracy"],
                                 best_accuracy=rec["best"], stages=rec["stages"],
                                 removed_fraction=pruning.removed_fraction, pruning=pruning)
