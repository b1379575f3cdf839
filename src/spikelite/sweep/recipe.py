"""Sweep recipes: one YAML file describes data, model, baseline, compression points,
hardware costing and the search space; pydantic validates it (unknown keys rejected, every
error names the key and what is allowed).

A *point* is one compression setting (:class:`PointSpec`). Points come from an explicit
``points:`` list and from ``grid:`` blocks, each block the Cartesian product of its list
values::

    grid:
      - {schedule: isolation, scheme: [duq, rescaw], bits: [8, 4, 3, 2]}
      - {schedule: [joint, cumulative], scheme: duq, bits: 4,
         method: magnitude, sparsity: [0.5, 0.8, 0.9]}
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from spikelite.config import (
    CHANNEL_METHODS,
    DataSpec,
    FinetuneSpec,
    ModelSpec,
    RegularizerSpec,
    TrainSpec,
    _Strict,
    parse_config,
    read_yaml,
    set_dotted,
)
from spikelite.errors import SpikeliteError

SCHEDULES = ("baseline", "finetune", "ptq", "isolation", "joint", "cumulative", "qp", "pq")
UNSTRUCTURED = ("magnitude", "random")
PRUNE_METHODS = UNSTRUCTURED + tuple(CHANNEL_METHODS)


class PointSpec(_Strict):
    """One compression setting applied to the baseline.

    * ``schedule``: ``baseline`` (the trained model as is), ``finetune`` (fine-tuning
      only, e.g. with an activity ``regularizer``), ``ptq`` (quantize + calibrate, no
      training), Schaefer et al.'s ``isolation``/``joint``/``cumulative`` (unstructured
      pruning), QP-SNN's ``qp``/``pq`` (channel pruning);
    * ``scheme``/``bits``: the weight quantizer (``None`` = FP32); ``layer_bits`` sets
      bits per layer (mixed precision, ``null`` keeps a layer in FP32);
    * ``method``/``sparsity``: pruning (``None`` = none); ``layer_sparsity`` per layer
      (unstructured: fraction of each layer's weights; channel: each conv's ratio);
    * ``regularizer``: an activity regularizer added to the fine-tuning loss (Narduzzi
      et al.), with ``finetune``/``isolation``/``joint``/``cumulative``.
    """

    name: str | None = None
    schedule: Literal["baseline", "finetune", "ptq", "isolation", "joint", "cumulative",
                      "qp", "pq"] = "joint"
    scheme: str | None = None
    bits: int = Field(32, ge=1, le=32)
    quant_options: dict[str, Any] = Field(default_factory=dict)
    skip_first: bool = False
    skip_last: bool = False
    layer_bits: dict[str, int | None] = Field(default_factory=dict)
    method: str | None = None
    sparsity: float = Field(0.0, ge=0, lt=1)
    scope: Literal["global", "layer"] = "global"
    layer_sparsity: dict[str, float] = Field(default_factory=dict)
    prune_epochs: int | None = Field(None, ge=1)
    regularizer: RegularizerSpec | None = None
    finetune: FinetuneSpec | None = None

    @field_validator("scheme")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v in (None, "fp32", "none"):
            return None
        from spikelite.quant import QUANTIZERS

        QUANTIZERS.get(v)
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
    def _consistent(self) -> PointSpec:
        s = self.schedule
        quant = self.scheme is not None
        prunes = self.method is not None and (self.sparsity > 0 or bool(self.layer_sparsity))
        channel = self.method in CHANNEL_METHODS
        if quant and self.bits == 32:
            raise ValueError(f"scheme '{self.scheme}' needs bits < 32")
        if not quant and (self.bits != 32 or self.layer_bits):
            raise ValueError("bits/layer_bits need a quantizer scheme (e.g. scheme: duq)")
        if s in ("baseline", "finetune") and (quant or prunes):
            raise ValueError(f"schedule '{s}' takes no quantizer or pruning; use ptq, "
                             "isolation, joint, cumulative, qp or pq")
        if self.regularizer is not None and s in ("baseline", "ptq", "qp", "pq"):
            raise ValueError(f"a regularizer acts during fine-tuning: use it with finetune, "
                             f"isolation, joint or cumulative, not {s}")
        if s == "ptq" and (not quant or channel):
            raise ValueError("schedule 'ptq' needs a quantizer scheme (and no channel "
                             "pruning)")
        if s in ("qp", "pq") and not (prunes and channel):
            raise ValueError(f"schedule '{s}' is QP-SNN's channel pruning: set method to one "
                             f"of {', '.join(CHANNEL_METHODS)} and a sparsity > 0")
        if s in ("isolation", "joint", "cumulative"):
            if channel:
                raise ValueError(f"channel pruning ({self.method}) runs with schedule qp or "
                                 f"pq, not {s}")
            if not (quant or prunes):
                raise ValueError(f"schedule '{s}' needs a quantizer and/or pruning")
            if s == "cumulative" and not (quant and prunes):
                raise ValueError("schedule 'cumulative' needs both pruning and a quantizer")
        return self

    @property
    def label(self) -> str:
        """A readable default name, e.g. ``joint-duq4-magnitude80``; per-layer settings
        are listed in layer order (``joint-duq8.4.2-magnitude10.90.50``)."""
        if self.name:
            return self.name
        parts = [self.schedule]
        if self.regularizer is not None:
            parts.append(self.regularizer.label.replace(":", "@", 1))
        if self.scheme is not None:
            bits = ".".join("fp" if b is None else str(b) for b in self.layer_bits.values())
            parts.append(f"{self.scheme}{bits or self.bits}")
        if self.method is not None:
            pct = ".".join(f"{round(p * 100, 1):g}" for p in self.layer_sparsity.values()) \
                or f"{round(self.sparsity * 100, 1):g}"
            sep = "-" if self.method[-1].isdigit() else ""  # l1-50, not l150
            parts.append(f"{self.method}{sep}{pct}")
        return "-".join(parts)


class BaselineSpec(_Strict):
    """The model every point starts from: a trained ``checkpoint``, or trained here with
    ``train`` (and an optional activity ``regularizer``) once per sweep folder."""

    checkpoint: str | None = None
    train: TrainSpec = Field(default_factory=TrainSpec)
    regularizer: RegularizerSpec | None = None


class HardwareSpec(_Strict):
    """How every point is costed: each preset × weight format, on ``samples`` test
    samples. The first preset is the primary one (column ``energy_pj``); a point's energy
    under a preset is its cheapest listed format."""

    presets: list[str] = Field(default_factory=lambda: ["horowitz45-derived"], min_length=1)
    formats: list[str] = Field(default_factory=lambda: ["dense"], min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    samples: int = Field(256, ge=1)
    batch_size: int = Field(64, ge=1)

    @field_validator("presets")
    @classmethod
    def _presets(cls, v: list[str]) -> list[str]:
        from spikelite.hardware import get_preset

        for name in v:
            get_preset(name)
        return v

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        from spikelite.hardware.formats import get_format

        for name in v:
            get_format(name)
        return v

    @model_validator(mode="after")
    def _options(self) -> HardwareSpec:
        """Unknown cost options and bad choices fail here, before any point runs."""
        from spikelite.hardware import get_preset
        from spikelite.hardware.energy import resolve_options

        for name in self.presets:
            try:
                resolve_options(get_preset(name), self.options)
            except SpikeliteError as exc:
                raise ValueError(f"hardware.options: {exc}") from None
        return self


class SearchSpace(_Strict):
    """Optuna's search space: choices per dimension; ``per_layer`` draws bits and
    sparsity for each synaptic layer separately (mixed precision)."""

    schedule: list[str] = Field(default_factory=lambda: ["joint"], min_length=1)
    scheme: list[str] = Field(default_factory=lambda: ["duq"], min_length=1)
    bits: list[int] = Field(default_factory=lambda: [2, 3, 4, 6, 8], min_length=1)
    method: str = "magnitude"
    sparsity: tuple[float, float] = (0.0, 0.95)
    per_layer: bool = False


class SearchSpec(_Strict):
    """Multi-objective search with Optuna (extra ``search``). ``population``: NSGA-II's
    generation size (default ``min(50, max(4, trials // 4))``, so small budgets evolve
    past the random first generation)."""

    trials: int = Field(20, ge=1)
    objectives: list[str] = Field(default_factory=lambda: ["accuracy:max", "energy_pj:min"])
    max_accuracy_drop_pt: float | None = Field(None, ge=0)
    sampler: Literal["nsga2", "tpe", "random"] = "nsga2"
    population: int | None = Field(None, ge=2)
    seed: int = 0
    storage: str | None = None
    study: str | None = None
    space: SearchSpace = Field(default_factory=SearchSpace)


class GridBlock(_Strict):
    """One Cartesian product of point settings (a scalar counts as a one-value list)."""

    schedule: str | list[str] = "joint"
    scheme: str | list[str | None] | None = None
    bits: int | list[int] = 32
    method: str | list[str | None] | None = None
    sparsity: float | list[float] = 0.0
    scope: Literal["global", "layer"] = "global"
    quant_options: dict[str, Any] = Field(default_factory=dict)
    skip_first: bool = False
    skip_last: bool = False
    prune_epochs: int | None = None
    regularizer: RegularizerSpec | list[RegularizerSpec | None] | None = None
    finetune: FinetuneSpec | None = None

    def expand(self) -> list[dict[str, Any]]:
        def listed(v: Any) -> list[Any]:
            return list(v) if isinstance(v, list) else [v]

        out = []
        for sched, scheme, bits, method, sp, reg in itertools.product(
                listed(self.schedule), listed(self.scheme), listed(self.bits),
                listed(self.method), listed(self.sparsity), listed(self.regularizer)):
            none = scheme in (None, "fp32", "none")
            out.append({"schedule": sched, "scheme": scheme, "bits": 32 if none else bits,
                        "method": method, "sparsity": sp, "scope": self.scope,
                        "quant_options": self.quant_options, "skip_first": self.skip_first,
                        "skip_last": self.skip_last, "prune_epochs": self.prune_epochs,
                        "regularizer": reg, "finetune": self.finetune})
        return out


class Recipe(_Strict):
    """A sweep: data, model, baseline, default fine-tuning, the points, hardware costing,
    the Pareto objectives and (optionally) a search."""

    name: str = "sweep"
    description: str = ""
    out: str = "runs/sweep"
    device: str = "cpu"
    #: torch CPU threads per process (baseline and every point); ``None``: the cores
    #: divided among the workers. Set it (e.g. 1) to get the same numbers whatever
    #: ``--workers`` is: thread counts change the float summation order of convolutions.
    threads: int | None = Field(None, ge=1)
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    baseline: BaselineSpec = Field(default_factory=BaselineSpec)
    finetune: FinetuneSpec = Field(default_factory=lambda: FinetuneSpec(epochs=2))
    points: list[PointSpec] = Field(default_factory=list)
    grid: list[GridBlock] = Field(default_factory=list)
    hardware: HardwareSpec = Field(default_factory=HardwareSpec)
    objectives: list[str] = Field(default_factory=lambda: ["accuracy:max", "energy_pj:min"])
    search: SearchSpec | None = None

    @model_validator(mode="after")
    def _grid_points_valid(self) -> Recipe:
        self.expand()  # every grid combination must itself be a valid point
        return self

    def expand(self) -> list[PointSpec]:
        """Every point, explicit ones first; duplicates (same settings) dropped."""
        points = list(self.points)
        for i, block in enumerate(self.grid):
            for j, raw in enumerate(block.expand()):
                points.append(parse_config(raw, f"grid[{i}] combination {j + 1}", PointSpec))
        seen: set[str] = set()
        unique = []
        for p in points:
            h = point_hash(p)
            if h not in seen:
                seen.add(h)
                unique.append(p)
        return unique


#: Fields added after sweeps were already stored, with the default that reproduces the
#: old behaviour: left out of run keys at that default, so earlier results keep their keys.
_LATER_DEFAULTS: dict[str, dict[str, Any]] = {"regularizer": {"source": "spikes"}}


def _stable(obj: Any) -> Any:
    if isinstance(obj, dict):
        out = {k: _stable(v) for k, v in obj.items()}
        for parent, defaults in _LATER_DEFAULTS.items():
            sub = out.get(parent)
            if isinstance(sub, dict):
                out[parent] = {k: v for k, v in sub.items()
                               if not (k in defaults and v == defaults[k])}
        return out
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def _canonical(obj: Any) -> str:
    return json.dumps(_stable(obj), sort_keys=True, separators=(",", ":"), default=str)


def point_hash(point: PointSpec) -> str:
    return hashlib.sha256(_canonical(point.model_dump(exclude={"name"})).encode()).hexdigest()


def baseline_key(recipe: Recipe) -> str:
    """Hash of everything that determines the baseline model."""
    d = {"data": recipe.data.model_dump(), "model": recipe.model.model_dump(),
         "baseline": recipe.baseline.model_dump()}
    return hashlib.sha256(_canonical(d).encode()).hexdigest()[:12]


def run_key(recipe: Recipe, point: PointSpec) -> str:
    """Hash of a run: the baseline, the point and its fine-tuning — what determines the
    trained model. The hardware costing is not part of it (see :func:`hardware_key`)."""
    ft = point.finetune or recipe.finetune
    d = {"baseline": baseline_key(recipe), "point": point.model_dump(exclude={"name"}),
         "finetune": ft.model_dump()}
    return hashlib.sha256(_canonical(d).encode()).hexdigest()[:12]


def hardware_key(recipe: Recipe) -> str:
    """Hash of the hardware costing (presets, formats, options, samples): a finished point
    whose row carries another one is re-profiled from its checkpoint, not retrained."""
    return hashlib.sha256(_canonical(recipe.hardware.model_dump()).encode()).hexdigest()[:12]


BUILTIN = Path(__file__).resolve().parent.parent / "recipes"


def builtin_recipes() -> dict[str, Path]:
    """Recipes shipped with spikelite, by name (``spikelite sweep demo``)."""
    return {p.stem: p for p in sorted(BUILTIN.glob("*.yaml"))}


def load_recipe(path_or_name: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read and validate a recipe from a YAML path or a built-in name; ``overrides`` are
    dotted keys (``{"finetune.epochs": 1}``)."""
    path = Path(path_or_name)
    if not path.is_file():
        known = builtin_recipes()
        if str(path_or_name) in known:
            path = known[str(path_or_name)]
        elif not path.exists():
            raise SpikeliteError(f"recipe '{path_or_name}' is neither a file nor a built-in "
                                 f"recipe ({', '.join(known) or 'none'})")
    raw = set_dotted(read_yaml(path), overrides or {})
    return parse_config(raw, str(path), Recipe)
