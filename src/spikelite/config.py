"""Run configuration: pydantic records validated from YAML or CLI flags.

Unknown keys are rejected, and every error names the key and what is allowed::

    model: {name: csnn, kwargs: {}}
    data: {name: digits-dvs, time_steps: 10, seed: 0}
    train: {epochs: 8, batch_size: 32, optimizer: adam, lr: 0.002}
    out: runs/train
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from spikelite.errors import SpikeliteError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    """Which zoo model to build (``spikelite models`` lists them)."""

    name: str = "csnn"
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from spikelite.models import MODELS

        MODELS.get(v)
        return v


class DataSpec(_Strict):
    """Which dataset to load and how (see :func:`spikelite.data.load`)."""

    name: str = "digits-dvs"
    time_steps: int = Field(10, ge=1)
    seed: int = 0
    test_fraction: float = Field(0.2, gt=0, lt=1)
    encoding: str = "rate"
    limit: int | None = Field(None, ge=1)
    root: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from spikelite.data import DATASETS

        DATASETS.get(v)
        return v


class TrainSpec(_Strict):
    """Hyper-parameters of :func:`spikelite.train.fit`."""

    epochs: int = Field(8, ge=1)
    batch_size: int = Field(32, ge=1)
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, le=1)
    warmup_epochs: float = Field(0.0, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    loss: Literal["ce", "mse_rate"] = "ce"
    seed: int = 0
    grad_clip: float | None = Field(None, gt=0)


class RegularizerSpec(_Strict):
    """Activity regularizer added to the loss (see :mod:`spikelite.regularize`)."""

    name: str = "l1"
    #: one weight for every layer, or ``{layer: weight}`` (its keys are then the layers)
    weight: float | dict[str, float] = 1e-3
    layers: str | list[str] = "all"
    #: what is regularized (not ``on``: YAML 1.1 reads that key as ``true``):
    #: ``spikes`` (outputs: spikes / ReLU activations) or ``membrane`` (pre-reset membrane)
    source: Literal["spikes", "membrane"] = "spikes"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("weight")
    @classmethod
    def _nonneg(cls, v: float | dict[str, float]) -> float | dict[str, float]:
        vals = v.values() if isinstance(v, dict) else [v]
        if any(w < 0 for w in vals):
            raise ValueError(f"regularizer weights must be >= 0, got {v}")
        if isinstance(v, dict) and not v:
            raise ValueError("per-layer weights are empty: give {layer: weight} or a number")
        return v

    @property
    def label(self) -> str:
        """Short text such as ``hoyer:0.001`` or ``l1@membrane:{lif1=0.01,lif2=0.001}``."""
        w = self.weight
        ws = ("{" + ",".join(f"{k}={v:g}" for k, v in w.items()) + "}"
              if isinstance(w, dict) else f"{w:g}")
        return f"{self.name}{'@membrane' if self.source == 'membrane' else ''}:{ws}"

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from spikelite.regularize import REGULARIZERS

        REGULARIZERS.get(v)
        return v


class RunConfig(_Strict):
    """A training run: model, data, training hyper-parameters and output folder."""

    model: ModelSpec = Field(default_factory=ModelSpec)
    data: DataSpec = Field(default_factory=DataSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    regularizer: RegularizerSpec | None = None
    out: str = "runs/train"
    device: str = "auto"


class QuantConfig(_Strict):
    """Weight quantization (see :func:`spikelite.quant.quantize_`)."""

    scheme: str = "rescaw"
    bits: int = Field(4, ge=1, le=16)
    skip_first: bool = False
    skip_last: bool = False
    options: dict[str, Any] = Field(default_factory=dict)
    overrides: dict[str, Any] = Field(default_factory=dict)

    @field_validator("scheme")
    @classmethod
    def _known(cls, v: str) -> str:
        from spikelite.quant import QUANTIZERS

        QUANTIZERS.get(v)
        return v


CHANNEL_METHODS = {"svs": "svs", "sca": "sca", "l1": "l1", "random-channel": "random"}


class PruneConfig(_Strict):
    """Pruning: unstructured (``magnitude``/``random`` masks at ``sparsity``, ``scope``
    global or layer) or structured channel pruning (``svs``/``sca``/``l1``/
    ``random-channel`` at ratio ``sparsity`` for every conv, or per-layer ``ratios``)."""

    method: Literal["magnitude", "random", "svs", "sca", "l1", "random-channel"] = "magnitude"
    sparsity: float = Field(0.5, ge=0, lt=1)
    scope: Literal["global", "layer"] = "global"
    ratios: dict[str, float] = Field(default_factory=dict)
    batches: int = Field(5, ge=1)

    @property
    def structured(self) -> bool:
        return self.method in CHANNEL_METHODS


class FinetuneSpec(TrainSpec):
    """Fine-tuning after compression; ``epochs: 0`` means no training (PTQ only)."""

    epochs: int = Field(3, ge=0)
    lr: float = Field(1e-3, gt=0)


class CompressConfig(_Strict):
    """Compress a trained checkpoint: quantize and/or prune, calibrate, fine-tune.

    With unstructured ``prune`` the fine-tuning follows ``schedule`` (Schaefer et al.:
    ``joint`` (default) — mask and quantizer from the start; ``cumulative`` — prune,
    fine-tune ``prune_epochs``, then quantize and fine-tune the rest; ``isolation`` — one
    technique only). With channel pruning it is QP-SNN's ``qp`` (default: quantized
    training for ``prune_epochs``, score, remove, fine-tune the rest) or ``pq``."""

    @model_validator(mode="after")
    def _schedule_fits(self) -> CompressConfig:
        if self.schedule is None or self.prune is None:
            return self
        channel = self.prune.structured
        if channel and self.schedule not in ("qp", "pq"):
            raise ValueError(f"channel pruning ({self.prune.method}) runs with schedule qp "
                             f"or pq, not {self.schedule}")
        if not channel and self.schedule in ("qp", "pq"):
            raise ValueError(f"schedule {self.schedule} is QP-SNN's channel pruning; use "
                             "method svs/sca/l1/random-channel, or schedule joint/cumulative")
        return self

    checkpoint: str
    quant: QuantConfig | None = None
    prune: PruneConfig | None = None
    schedule: Literal["joint", "cumulative", "isolation", "qp", "pq"] | None = None
    prune_epochs: int | None = Field(None, ge=1)
    calibrate_batches: int = Field(8, ge=0)
    finetune: FinetuneSpec = Field(default_factory=FinetuneSpec)
    out: str = "runs/compress"
    device: str = "auto"


def parse_key_values(items: list[str] | None, what: str) -> dict[str, Any]:
    """``["hidden=[128]", "beta=0.9"]`` → ``{"hidden": [128], "beta": 0.9}`` (YAML values)."""
    parsed: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise SpikeliteError(f"{what} '{item}' must look like key=value")
        key, value = item.split("=", 1)
        parsed[key.strip()] = yaml.safe_load(value)
    return parsed


def _allowed_keys(kind: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the record that holds ``loc`` (walking nested records, lists
    and optionals); empty when it cannot be resolved."""
    import typing

    def records(ann: Any) -> list[type[BaseModel]]:
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return [ann]
        return [r for a in typing.get_args(ann) for r in records(a)]

    node: list[type[BaseModel]] = [kind]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        nxt = [r for m in node if part in m.model_fields
               for r in records(m.model_fields[part].annotation)]
        if not nxt:
            return []
        node = nxt
    return sorted({f for m in node for f in m.model_fields})


def _explain(
    exc: ValidationError, source: str, kind: type[BaseModel] | None = None
) -> SpikeliteError:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(kind, tuple(err["loc"])) if kind is not None else []
            hint = f"allowed here: {', '.join(allowed)}" if allowed else "check the spelling"
            lines.append(f"  {key}: unknown key ({hint})")
        else:
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r})")
    return SpikeliteError(f"invalid configuration in {source}:\n" + "\n".join(lines))


def parse_config(
    data: dict[str, Any], source: str = "config", kind: type[_Strict] = RunConfig
) -> Any:
    """Validate a plain dict into ``kind`` (a :class:`RunConfig` by default); errors name
    the bad keys."""
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, source, kind) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with clear errors for a missing file or bad syntax."""
    path = Path(path)
    if not path.is_file():
        raise SpikeliteError(f"config file '{path}' does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SpikeliteError(f"'{path}' is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SpikeliteError(f"'{path}' must contain a YAML mapping of keys to values")
    return raw


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run configuration."""
    return parse_config(read_yaml(path), str(path))


def set_dotted(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Write dotted overrides (``{"train.epochs": 3}``) into a plain nested dict in place,
    creating missing levels; ``None`` values are skipped. Returns ``data``."""
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[leaf] = value
    return data


def merge(cfg: Any, overrides: dict[str, Any]) -> Any:
    """Apply dotted overrides (``{"train.epochs": 3}``) to a config and re-validate."""
    data = set_dotted(cfg.model_dump(), overrides)
    return parse_config(data, "command-line options", type(cfg))
