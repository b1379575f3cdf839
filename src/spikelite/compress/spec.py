"""The compression spec: one record shared by ``spikelite compress``, sweep recipes and
search points (:class:`CompressionSpec`), and the ``spikelite compress`` job file
(:class:`CompressConfig`, nested ``quant:``/``prune:`` sections) that converts to it.

A spec names its compression ``schedule`` (see :data:`spikelite.compress.SCHEDULES`) and the
settings the schedule reads: the quantizer (``scheme``, ``bits``, per-layer ``layer_bits``),
pruning (``method``, ``sparsity`` — the requested fraction: of weights for unstructured
methods, of each conv's channels for channel methods — ``scope``, per-layer
``layer_sparsity``), the epoch split, an activity regularizer and fine-tuning settings.
Each schedule validates its own options (:meth:`Schedule.validate`); what depends on the
fine-tuning epochs is checked by :meth:`CompressionSpec.check` as soon as they are known
(when a recipe or job file loads, before any training).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from spikelite.compress.methods import CHANNEL_METHODS, PRUNE_METHODS, UNSTRUCTURED_METHODS
from spikelite.compress.schedules import SCHEDULES, accepting_regularizer
from spikelite.data.spec import DataSpec
from spikelite.errors import SpikeliteError
from spikelite.models.spec import ModelSpec
from spikelite.quant import QUANTIZERS
from spikelite.records import Strict, registered
from spikelite.regularize import RegularizerSpec
from spikelite.train.config import FinetuneSpec

#: per-layer quantizer: bits, ``None`` (full precision) or ``{scheme, bits, ...}``
LayerQuantSetting = int | None | dict[str, Any]


__all__ = ["CHANNEL_METHODS", "PRUNE_METHODS", "UNSTRUCTURED_METHODS", "CompressConfig",
           "CompressionSpec", "PruneConfig", "QuantConfig"]


def _schedule_name(v: str) -> str:
    SCHEDULES.get(v)
    return v.lower()  # one spelling, so labels, run keys and baseline lookups agree


class CompressionSpec(Strict):
    """One compression setting applied to a trained model.

    * ``schedule``: ``baseline`` (the trained model as is), ``finetune`` (fine-tuning
      only, e.g. with an activity ``regularizer``), ``ptq`` (quantize + calibrate, no
      training), ``qat`` (quantize + calibrate + fine-tune), Schaefer et al.'s
      ``isolation``/``joint``/``cumulative`` (unstructured pruning), QP-SNN's ``qp``/``pq``
      (channel pruning) — ``spikelite.compress.SCHEDULES`` lists them;
    * ``scheme``/``bits``: the weight quantizer (``None`` = FP32); ``layer_bits`` sets
      bits per layer (mixed precision, ``null`` keeps a layer in FP32);
    * ``method``/``sparsity``: pruning (``None`` = none); ``layer_sparsity`` per layer
      (unstructured: fraction of each layer's weights; channel: each conv's ratio);
    * ``regularizer``: an activity regularizer added to the fine-tuning loss (Narduzzi
      et al.), with ``finetune``/``isolation``/``joint``/``cumulative``;
    * ``calibrate_batches`` (``ptq``/``qat``: batches for BatchNorm re-estimation) and
      ``score_batches`` (channel methods: mini-batches the criterion is scored on).
    """

    schedule: Annotated[str, AfterValidator(_schedule_name)] = "joint"
    scheme: str | None = None
    bits: int = Field(32, ge=1, le=32)
    quant_options: dict[str, Any] = Field(default_factory=dict)
    skip_first: bool = False
    skip_last: bool = False
    layer_bits: dict[str, LayerQuantSetting] = Field(default_factory=dict)
    method: str | None = None
    sparsity: float = Field(0.0, ge=0, lt=1)
    scope: Literal["global", "layer"] = "global"
    layer_sparsity: dict[str, float] = Field(default_factory=dict)
    prune_epochs: int | None = Field(None, ge=1)
    regularizer: RegularizerSpec | None = None
    finetune: FinetuneSpec | None = None
    calibrate_batches: int = Field(8, ge=0)
    score_batches: int = Field(5, ge=1)

    @field_validator("scheme")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v in (None, "fp32", "none"):
            return None
        registered(QUANTIZERS)(v)
        return v

    @field_validator("method")
    @classmethod
    def _method(cls, v: str | None) -> str | None:
        if v in (None, "none"):
            return None
        if v not in PRUNE_METHODS:
            raise ValueError(f"unknown pruning method '{v}'; allowed: "
                             f"{', '.join(PRUNE_METHODS)} or none")
        return v

    @field_validator("layer_sparsity")
    @classmethod
    def _fractions(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: p for k, p in v.items() if not 0 <= p < 1}
        if bad:
            raise ValueError(f"layer sparsities must lie in [0, 1), got {bad}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> CompressionSpec:
        if self.quantizes and self.bits == 32:
            raise ValueError(f"scheme '{self.scheme}' needs bits < 32")
        if not self.quantizes and (self.bits != 32 or self.layer_bits):
            raise ValueError("bits/layer_bits need a quantizer scheme (e.g. scheme: duq)")
        if self.regularizer is not None and self.schedule not in accepting_regularizer():
            raise ValueError(f"a regularizer acts during fine-tuning: use it with "
                             f"{', '.join(accepting_regularizer())}, not {self.schedule}")
        SCHEDULES.get(self.schedule).validate(self, self.finetune)
        return self

    # -- what the spec asks for -------------------------------------------------------
    @property
    def quantizes(self) -> bool:
        return self.scheme is not None

    @property
    def prunes(self) -> bool:
        return self.method is not None and (self.sparsity > 0 or bool(self.layer_sparsity))

    @property
    def channel(self) -> bool:
        """Channel (structured) pruning, QP-SNN."""
        return self.method in CHANNEL_METHODS

    def check(self, finetune: FinetuneSpec | None) -> None:
        """Validate what depends on the fine-tuning in effect (the spec's own, else
        ``finetune``, e.g. a recipe's default); raises :class:`SpikeliteError`."""
        try:
            SCHEDULES.get(self.schedule).validate(self, self.finetune or finetune)
        except ValueError as exc:
            raise SpikeliteError(str(exc)) from None

    @property
    def label(self) -> str:
        """A readable default name, e.g. ``joint-duq4-magnitude80``; per-layer settings
        are listed in layer order (``joint-duq8.4.2-magnitude10.90.50``)."""
        parts = [self.schedule]
        if self.regularizer is not None:
            parts.append(self.regularizer.label.replace(":", "@", 1))
        if self.scheme is not None:
            bits = ".".join(_bits_label(b) for b in self.layer_bits.values())
            parts.append(f"{self.scheme}{bits or self.bits}")
        if self.method is not None:
            pct = ".".join(f"{round(p * 100, 1):g}" for p in self.layer_sparsity.values()) \
                or f"{round(self.sparsity * 100, 1):g}"
            sep = "-" if self.method[-1].isdigit() else ""  # l1-50, not l150
            parts.append(f"{self.method}{sep}{pct}")
        return "-".join(parts)


def _bits_label(b: LayerQuantSetting) -> str:
    if b is None:
        return "fp"
    if isinstance(b, dict):
        return str(b.get("bits", "?"))
    return str(b)


class QuantConfig(Strict):
    """``quant:`` section of a compression job file (see
    :func:`spikelite.quant.quantize_`); ``overrides`` maps a layer to bits, ``null`` (FP32)
    or ``{scheme, bits, ...}``."""

    scheme: Annotated[str, AfterValidator(registered(QUANTIZERS))] = "rescaw"
    bits: int = Field(4, ge=1, le=16)
    skip_first: bool = False
    skip_last: bool = False
    options: dict[str, Any] = Field(default_factory=dict)
    overrides: dict[str, Any] = Field(default_factory=dict)


class PruneConfig(Strict):
    """``prune:`` section of a compression job file: unstructured (``magnitude``/
    ``random`` masks at ``sparsity``, ``scope`` global or layer) or structured channel
    pruning (``svs``/``sca``/``l1``/``random-channel`` at ratio ``sparsity`` for every
    conv, or per-layer ``ratios``)."""

    method: Literal["magnitude", "random", "svs", "sca", "l1", "random-channel"] = "magnitude"
    sparsity: float = Field(0.5, ge=0, lt=1)
    scope: Literal["global", "layer"] = "global"
    ratios: dict[str, float] = Field(default_factory=dict)
    batches: int = Field(5, ge=1)

    @property
    def structured(self) -> bool:
        return self.method in CHANNEL_METHODS


class CompressConfig(Strict):
    """A ``spikelite compress`` job: a trained ``checkpoint``, the compression (nested
    ``quant:``/``prune:`` sections, ``schedule``, ``prune_epochs``, ``calibrate_batches``,
    ``finetune``), and where the result goes. :meth:`spec` gives the
    :class:`CompressionSpec` it runs.

    Without ``schedule``: channel pruning runs QP-SNN's ``qp``, unstructured pruning
    Schaefer et al.'s ``joint``, quantization alone ``qat`` (quantize, calibrate,
    fine-tune) or ``ptq`` with ``finetune.epochs: 0``, and nothing but fine-tuning
    ``finetune``."""

    checkpoint: str | None = None
    #: instead of ``checkpoint``: your network (``factory``, its ``checkpoint``) and the
    #: data to fine-tune and evaluate it on
    model: ModelSpec | None = None
    data: DataSpec | None = None
    quant: QuantConfig | None = None
    prune: PruneConfig | None = None
    schedule: str | None = None
    prune_epochs: int | None = Field(None, ge=1)
    calibrate_batches: int = Field(8, ge=0)
    finetune: FinetuneSpec = Field(default_factory=FinetuneSpec)
    out: str = "runs/compress"
    device: str = "auto"

    @model_validator(mode="after")
    def _valid_spec(self) -> CompressConfig:
        if (self.checkpoint is None) == (self.model is None):
            raise ValueError("give either checkpoint (a spikelite checkpoint folder) or "
                             "model: {factory: 'module:function', checkpoint: ...} (your "
                             "network), not both")
        if self.model is not None and self.data is None:
            raise ValueError("model (your network) needs data: {name: ...}, the dataset to "
                             "fine-tune and evaluate it on")
        self.spec()
        return self

    def spec(self) -> CompressionSpec:
        """The :class:`CompressionSpec` of this job (raises :class:`SpikeliteError` when the
        settings do not fit together)."""
        q, p = self.quant, self.prune
        prunes = p is not None and (p.sparsity > 0 or bool(p.ratios))
        channel = prunes and p is not None and p.structured
        schedule = self.schedule.lower() if self.schedule is not None else None
        if schedule is None:
            if channel:
                schedule = "qp"
            elif prunes:
                schedule = "joint"
            elif q is not None:
                schedule = "qat" if self.finetune.epochs > 0 else "ptq"
            elif self.finetune.epochs > 0:
                schedule = "finetune"
            else:
                raise ValueError("nothing to do: give a quantizer (--quant) and/or pruning "
                                 "(--prune), or fine-tuning epochs (--epochs)")
        if schedule in ("qp", "pq") and prunes and not channel:
            raise ValueError(f"schedule {schedule} is QP-SNN's channel pruning; use method "
                             "svs/sca/l1/random-channel, or schedule joint/cumulative")
        if channel and schedule not in ("qp", "pq"):
            raise ValueError(f"channel pruning ({p.method}) runs with schedule qp or pq, "
                             f"not {schedule}")
        if channel and q is not None and q.overrides:
            raise ValueError("per-layer quantization overrides (quant.overrides) are not "
                             "supported together with channel pruning; drop the overrides")
        raw: dict[str, Any] = {
            "schedule": schedule, "prune_epochs": self.prune_epochs,
            "calibrate_batches": self.calibrate_batches, "finetune": self.finetune,
        }
        if q is not None:
            raw.update(scheme=q.scheme, bits=q.bits, quant_options=dict(q.options),
                       skip_first=q.skip_first, skip_last=q.skip_last,
                       layer_bits=dict(q.overrides))
        if prunes and p is not None:
            raw.update(method=p.method, sparsity=p.sparsity, scope=p.scope,
                       layer_sparsity=dict(p.ratios), score_batches=p.batches)
        try:
            return CompressionSpec.model_validate(raw)
        except ValidationError as exc:  # one readable line per problem, no nesting
            raise ValueError("; ".join(str(e["msg"]).removeprefix("Value error, ")
                                       for e in exc.errors())) from None
