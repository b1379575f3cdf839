"""Training hyper-parameters as one validated record.

:class:`TrainConfig` is what :func:`~spikelite.train.fit` takes (Python defaults);
:class:`TrainSpec` is the same record with the defaults of ``spikelite train`` and the
``train:`` section of YAML configs; :class:`FinetuneSpec` the same again for fine-tuning
after compression (``epochs: 0`` allowed: no training). The learning-rate schedule is
``lr_schedule`` (``cosine`` or ``constant``); the old key ``schedule`` is accepted with a
deprecation message (it meant the learning-rate schedule here, the compression schedule in
a compression spec).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from spikelite.records import Strict, renamed_keys
from spikelite.train.distill import DistillSpec
from spikelite.train.losses import LOSSES
from spikelite.train.schedule import LR_SCHEDULES

OPTIMIZERS = ("sgd", "adam", "adamw")

#: settings of how a run is logged and checkpointed, not of what it trains: left out of
#: run hashes (sweep keys) and of the configuration stored with a checkpoint
RUN_OPTIONS = ("checkpoint_minutes", "tensorboard")

#: keys renamed since earlier releases: old → new
RENAMED = {"schedule": "lr_schedule"}


class TrainConfig(Strict):
    """Hyper-parameters of :func:`~spikelite.train.fit` (all JSON-serialisable)."""

    #: the least ``epochs`` allowed (fine-tuning specs allow 0: no training)
    min_epochs: ClassVar[int] = 1

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    warmup_epochs: float = 0.0
    lr_schedule: str = "cosine"
    loss: str = "ce"
    seed: int = 0
    grad_clip: float | None = None
    eval_batch_size: int = 256
    #: data loading (:mod:`spikelite.train.loader`); results are the same for any value
    num_workers: int = 0
    pin_memory: bool | None = None
    persistent_workers: bool | None = None
    prefetch_factor: int | None = None
    #: also write ``last`` mid-epoch every this many minutes (``None``: after each epoch
    #: only); for long epochs, so a resume loses at most this much training
    checkpoint_minutes: float | None = None
    #: also log every epoch's metrics to TensorBoard (extra ``tensorboard``)
    tensorboard: bool = False
    #: ``fp32`` (exact, default), ``bf16`` or ``fp16`` (mixed precision, see
    #: :mod:`spikelite.train.precision`)
    precision: str = "fp32"
    #: feature-map layout of 2-D conv nets: ``contiguous`` (NCHW, default; spikes
    #: bit-identical to the peers) or ``channels_last`` (NHWC: faster oneDNN convolutions
    #: and BatchNorm on CPU, the same results up to float rounding; see docs/performance.md)
    memory_format: Literal["contiguous", "channels_last"] = "contiguous"

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return renamed_keys(data, RENAMED, cls.__name__)

    @field_validator("epochs")
    @classmethod
    def _epochs(cls, v: int) -> int:
        if v < cls.min_epochs:
            raise ValueError(f"epochs must be >= {cls.min_epochs}, got {v}")
        return v

    @field_validator("batch_size", "eval_batch_size")
    @classmethod
    def _batch(cls, v: int, info: ValidationInfo) -> int:
        if v < 1:
            raise ValueError(f"{info.field_name} must be >= 1, got {v}")
        return v

    @field_validator("num_workers")
    @classmethod
    def _workers(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"num_workers must be >= 0 (0: load in the main process), got {v}")
        return v

    @field_validator("prefetch_factor")
    @classmethod
    def _prefetch(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError(f"prefetch_factor must be >= 1, got {v}")
        return v

    @field_validator("lr")
    @classmethod
    def _lr(cls, v: float) -> float:
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"lr must be > 0 and finite, got {v}")
        return v

    @field_validator("weight_decay")
    @classmethod
    def _wd(cls, v: float) -> float:
        if not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"weight_decay must be >= 0 and finite, got {v}")
        return v

    @field_validator("momentum")
    @classmethod
    def _momentum(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise ValueError(f"momentum must lie in [0, 1], got {v}")
        return v

    @field_validator("grad_clip")
    @classmethod
    def _clip(cls, v: float | None) -> float | None:
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise ValueError(f"grad_clip must be > 0 and finite, got {v}")
        return v

    @field_validator("checkpoint_minutes")
    @classmethod
    def _ckpt_minutes(cls, v: float | None) -> float | None:
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise ValueError(f"checkpoint_minutes must be > 0 and finite, got {v}")
        return v

    @field_validator("optimizer")
    @classmethod
    def _optimizer(cls, v: str) -> str:
        if v not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer '{v}'. Valid: {', '.join(OPTIMIZERS)}")
        return v

    @field_validator("lr_schedule")
    @classmethod
    def _lr_schedule(cls, v: str) -> str:
        if v not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule '{v}'. Valid: {', '.join(LR_SCHEDULES)}")
        return v

    @field_validator("precision")
    @classmethod
    def _precision(cls, v: str) -> str:
        from spikelite.train.precision import PRECISIONS

        if v not in PRECISIONS:
            raise ValueError(f"unknown precision '{v}'. Valid: {', '.join(PRECISIONS)}")
        return v

    @field_validator("loss")
    @classmethod
    def _loss(cls, v: str) -> str:
        LOSSES.get(v)
        return v

    @model_validator(mode="after")
    def _warmup(self) -> TrainConfig:
        # no epochs (fine-tuning off): no warm-up to fit in
        if self.warmup_epochs < 0 or (self.epochs > 0 and self.warmup_epochs > self.epochs):
            raise ValueError(
                f"warmup_epochs must lie in [0, epochs={self.epochs}], got {self.warmup_epochs}"
            )
        return self

    @model_validator(mode="after")
    def _loader(self) -> TrainConfig:
        if self.num_workers == 0 and (self.persistent_workers or self.prefetch_factor):
            raise ValueError("persistent_workers and prefetch_factor need worker processes: "
                             "set num_workers >= 1 or leave them unset")
        return self

    @property
    def schedule(self) -> str:
        """Deprecated name of :attr:`lr_schedule`."""
        import warnings

        warnings.warn("TrainConfig.schedule is deprecated; use lr_schedule",
                      DeprecationWarning, stacklevel=2)
        return self.lr_schedule

    def with_epochs(self, epochs: int) -> TrainConfig:
        """A :class:`TrainConfig` with these settings and ``epochs`` epochs."""
        return TrainConfig(**{**self.model_dump(), "epochs": epochs})


class TrainSpec(TrainConfig):
    """The ``train:`` section of a run config and ``spikelite train``'s defaults."""

    epochs: int = 8
    batch_size: int = 32
    lr: float = 2e-3


class FinetuneSpec(TrainSpec):
    """Fine-tuning after compression; ``epochs: 0`` means no training (PTQ only).

    Low-bit options (all off by default; :mod:`spikelite.train.lowbit` runs them):
    ``distill`` (the baseline as teacher, :class:`~spikelite.train.distill.DistillSpec`),
    ``bn_reestimate`` (BatchNorm statistics recomputed on ``bn_batches`` training batches
    with the compressed weights before fine-tuning), ``quant_init: mse`` (DuQ/LSQ ranges
    set to the weight-MSE-optimal clip/step), ``bit_schedule`` (progressive bit widths,
    e.g. ``[8, 4]`` before the target), ``freeze_quantizers`` (fraction of the epochs
    after which quantizer ranges stop learning), ``cycles`` (learning-rate warm restarts),
    ``patience``/``min_delta`` (early stopping) and ``max_epochs``/``extend_below`` (more
    epochs while the accuracy is more than ``extend_below`` pt under the baseline).
    """

    min_epochs: ClassVar[int] = 0

    epochs: int = 3
    lr: float = 1e-3
    distill: DistillSpec | None = None
    bn_reestimate: bool = False
    bn_batches: int = 8
    quant_init: Literal["mse"] | None = None
    bit_schedule: list[int] = Field(default_factory=list)
    freeze_quantizers: float | None = None
    cycles: int = 1
    patience: int | None = None
    min_delta: float = 0.0
    max_epochs: int | None = None
    extend_below: float = 1.0

    @field_validator("bn_batches", "cycles")
    @classmethod
    def _positive(cls, v: int, info: ValidationInfo) -> int:
        if v < 1:
            raise ValueError(f"finetune.{info.field_name} must be >= 1, got {v}")
        return v

    @field_validator("bit_schedule")
    @classmethod
    def _bit_schedule(cls, v: list[int]) -> list[int]:
        if any(not 2 <= b <= 16 for b in v) or any(a <= b for a, b in itertools.pairwise(v)):
            raise ValueError(f"finetune.bit_schedule must be strictly decreasing bit widths in "
                             f"2–16 (e.g. [8, 4]), got {v}")
        return v

    @field_validator("freeze_quantizers")
    @classmethod
    def _freeze(cls, v: float | None) -> float | None:
        if v is not None and not 0 < v < 1:
            raise ValueError(f"finetune.freeze_quantizers is the fraction of the epochs after "
                             f"which quantizer ranges freeze: it must lie in (0, 1), got {v}")
        return v

    @field_validator("patience")
    @classmethod
    def _patience(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError(f"finetune.patience must be >= 1 (or null: no early stopping), "
                             f"got {v}")
        return v

    @field_validator("min_delta", "extend_below")
    @classmethod
    def _nonneg(cls, v: float, info: ValidationInfo) -> float:
        if not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"finetune.{info.field_name} must be >= 0 and finite, got {v}")
        return v

    @model_validator(mode="after")
    def _budget(self) -> FinetuneSpec:
        if self.max_epochs is not None and self.max_epochs < max(self.epochs, 1):
            raise ValueError(f"finetune.max_epochs ({self.max_epochs}) must be >= epochs "
                             f"({self.epochs}); it bounds the extra epochs a point may get")
        if self.epochs > 0 and self.cycles > self.epochs:
            raise ValueError(f"finetune.cycles ({self.cycles}) cannot exceed epochs "
                             f"({self.epochs}): each cycle trains at least one epoch")
        return self

    @property
    def lowbit(self) -> bool:
        """Whether any low-bit option is on (else fine-tuning is plain :func:`fit`)."""
        return (self.distill is not None or self.bn_reestimate or self.quant_init is not None
                or bool(self.bit_schedule) or self.freeze_quantizers is not None
                or self.cycles > 1 or self.patience is not None or self.max_epochs is not None)

    def with_epochs(self, epochs: int) -> FinetuneSpec:  # type: ignore[override]
        """These settings, low-bit options included, with ``epochs`` epochs (one stage of
        a schedule: stage-dependent rules are checked when the stage runs)."""
        return self.model_copy(update={"epochs": epochs})
