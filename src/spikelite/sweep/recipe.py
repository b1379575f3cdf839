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

from spikelite._deprecation import moved
from spikelite.compress.methods import (  # noqa: F401  (re-exported)
    CHANNEL_METHODS,
    PRUNE_METHODS,
    UNSTRUCTURED_METHODS,
)
from spikelite.compress.spec import CompressionSpec
from spikelite.data.spec import DataSpec
from spikelite.errors import SpikeliteError
from spikelite.models.spec import ModelSpec
from spikelite.records import Strict, parse_record, read_yaml, set_dotted
from spikelite.regularize import RegularizerSpec
from spikelite.train.config import RUN_OPTIONS, FinetuneSpec, TrainSpec
from spikelite.train.loader import LOADER_FIELDS

UNSTRUCTURED = UNSTRUCTURED_METHODS


class PointSpec(CompressionSpec):
    """One point of a sweep: a :class:`~spikelite.compress.CompressionSpec` (see there
    for the fields) with an optional display ``name`` (default: :attr:`label`)."""

    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or super().label

    def spec(self) -> CompressionSpec:
        """The compression spec of this point (without its name)."""
        return CompressionSpec.model_validate(self.model_dump(exclude={"name"}))


class BaselineSpec(Strict):
    """The model every point starts from: a trained ``checkpoint``, or trained here with
    ``train`` (and an optional activity ``regularizer``) once per sweep folder."""

    checkpoint: str | None = None
    train: TrainSpec = Field(default_factory=TrainSpec)
    regularizer: RegularizerSpec | None = None


class HardwareSpec(Strict):
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


class SearchSpace(Strict):
    """Optuna's search space: choices per dimension; ``per_layer`` draws bits and
    sparsity for each synaptic layer separately (mixed precision)."""

    schedule: list[str] = Field(default_factory=lambda: ["joint"], min_length=1)
    scheme: list[str] = Field(default_factory=lambda: ["duq"], min_length=1)
    bits: list[int] = Field(default_factory=lambda: [2, 3, 4, 6, 8], min_length=1)
    method: str = "magnitude"
    sparsity: tuple[float, float] = (0.0, 0.95)
    per_layer: bool = False
    #: the fine-tuning every trial gets (e.g. with ``distill``); default: the recipe's
    finetune: FinetuneSpec | None = None

    def check(self) -> None:
        """Every scheme × bit width of the space is supported, the method and schedules
        exist and the sparsity range lies in [0, 1)."""
        from spikelite.compress.schedules import SCHEDULES
        from spikelite.quant import get_quantizer

        for name in self.schedule:
            try:
                SCHEDULES.get(name)
            except SpikeliteError as exc:
                raise SpikeliteError(f"search.space.schedule: {exc}") from None
        if self.method not in PRUNE_METHODS:
            raise SpikeliteError(f"search.space.method: unknown pruning method "
                                 f"'{self.method}'; allowed: {', '.join(PRUNE_METHODS)}")
        lo, hi = self.sparsity
        if not 0 <= lo <= hi < 1:
            raise SpikeliteError(f"search.space.sparsity must be [low, high] with 0 <= low "
                                 f"<= high < 1, got [{lo}, {hi}]")
        for scheme in self.scheme:
            if scheme in (None, "fp32", "none"):
                continue
            try:
                q = get_quantizer(scheme)
                for b in self.bits:
                    q.check_bits(b)
            except SpikeliteError as exc:
                raise SpikeliteError(f"search.space: {exc}; change search.space.bits or "
                                     "search.space.scheme") from None


class SearchSpec(Strict):
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

    def check(self) -> None:
        """The search's objectives, storage URL and space, before any trial runs."""
        for o in self.objectives:
            _objective(o, "search.objectives")
        if self.storage is not None:
            check_storage_url(self.storage, "search.storage")
        self.space.check()


class GridBlock(Strict):
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

    def check_lists(self, where: str) -> None:
        """Refuse an empty list: the block's Cartesian product would have no points."""
        for key in ("schedule", "scheme", "bits", "method", "sparsity", "regularizer"):
            if getattr(self, key) == []:
                raise SpikeliteError(
                    f"{where}.{key} is an empty list, so this grid block has no points; "
                    f"give at least one value (or leave `{key}` out for its default)")


class Recipe(Strict):
    """A sweep: data, model, baseline, default fine-tuning, the points, hardware costing,
    the Pareto objectives and (optionally) a search."""

    name: str = "sweep"
    description: str = ""
    out: str = "runs/sweep"
    device: str = "cpu"
    #: one device per parallel worker process (round-robin when there are more workers
    #: than devices), e.g. ``[0, 1, 2, 3]`` or ``[cpu, cuda:1]``; ``None``: ``device``
    devices: list[str] | None = None
    #: the training precision (fp32, bf16, fp16) of the baseline and of every fine-tuning;
    #: when set it replaces their own ``precision``; ``None``: theirs (default fp32)
    precision: Literal["fp32", "bf16", "fp16"] | None = None
    #: the feature-map layout (contiguous, channels_last) of the baseline and of every
    #: fine-tuning; when set it replaces their own ``memory_format``; ``None``: theirs
    memory_format: Literal["contiguous", "channels_last"] | None = None
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
    #: The results store: ``None`` → ``OUT/results.sqlite``; ``postgresql://user@host/db``
    #: → one store shared by every machine running this recipe (``--store``).
    store: str | None = None
    #: Where checkpoints and baselines go (``--artifacts``); ``None`` → ``out``. With a
    #: shared store, a folder every machine sees.
    artifacts: str | None = None
    #: Seconds without a heartbeat after which another worker takes a running point over.
    lease_s: float = Field(300.0, gt=0)

    @model_validator(mode="after")
    def _trained_model_is_the_baseline(self) -> Recipe:
        # your trained network (model.checkpoint) is the baseline as it is: nothing to train
        if self.model.checkpoint is not None:
            given = self.baseline.model_fields_set & {"checkpoint", "train", "regularizer"}
            if given:
                raise ValueError(
                    f"model.checkpoint makes your trained network the baseline (converted and "
                    f"evaluated, not trained); drop baseline.{sorted(given)[0]}, or drop "
                    "model.checkpoint to train the network from scratch")
        return self

    @field_validator("devices", mode="before")
    @classmethod
    def _devices(cls, v: Any) -> Any:
        from spikelite.sweep.devices import parse_devices

        if v is None:
            return None
        try:
            return parse_devices(v)
        except SpikeliteError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="before")
    @classmethod
    def _push_precision(cls, data: Any) -> Any:
        """A top-level ``precision`` or ``memory_format`` goes into the baseline's and
        every fine-tuning's training record (so it is part of their run keys)."""
        if not isinstance(data, dict):
            return data
        pushed = {k: data[k] for k in ("precision", "memory_format")
                  if data.get(k) is not None}
        if not pushed:
            return data

        def put(rec: Any) -> Any:
            return {**rec, **pushed} if isinstance(rec, dict) else rec

        data = dict(data)
        base = data.get("baseline")
        base = dict(base) if isinstance(base, dict) else {}
        base["train"] = put(base.get("train") if isinstance(base.get("train"), dict) else {})
        data["baseline"] = base
        data["finetune"] = put(data["finetune"] if isinstance(data.get("finetune"), dict)
                               else {"epochs": 2})
        for key in ("points", "grid"):
            if isinstance(data.get(key), list):
                data[key] = [{**item, "finetune": put(item["finetune"])}
                             if isinstance(item, dict) and isinstance(item.get("finetune"),
                                                                      dict) else item
                             for item in data[key]]
        return data

    @model_validator(mode="after")
    def _grid_points_valid(self) -> Recipe:
        # every grid combination must itself be a valid point, and every point must fit
        # the fine-tuning it will get (checked now, not after the baseline has trained)
        for p in self.expand():
            try:
                p.check(self.finetune)
            except SpikeliteError as exc:
                raise ValueError(f"point '{p.label}': {exc}") from None
        return self

    def expand(self) -> list[PointSpec]:
        """Every point, explicit ones first; duplicates (same settings) dropped."""
        seen: set[str] = set()
        unique = []
        for _, p in self._sourced():
            h = point_hash(p)
            if h not in seen:
                seen.add(h)
                unique.append(p)
        return unique

    def _sourced(self) -> list[tuple[str, PointSpec]]:
        """Every point with where it comes from (``points[0]``, ``grid[1] combination 3``),
        duplicates included."""
        out = [(f"points[{i}]", p) for i, p in enumerate(self.points)]
        for i, block in enumerate(self.grid):
            for j, raw in enumerate(block.expand()):
                where = f"grid[{i}] combination {j + 1}"
                out.append((where, parse_record(raw, where, PointSpec)))
        return out

    def check(self) -> Recipe:
        """Everything about the recipe that can be checked without data or a model (the
        data-dependent rest: :func:`spikelite.sweep.preflight.preflight`); raises
        :class:`SpikeliteError` naming the problem. Returns the recipe.

        Refused: a grid block with an empty list (it has no points), a recipe without any
        point (and no ``search:``), two different points under one name (``export --point
        NAME`` could not tell them apart), one setting under two names, a quantizer at a
        bit width or with options it does not support, objectives that do not parse, a
        search space that cannot draw a valid point and a malformed search storage URL."""
        for i, block in enumerate(self.grid):
            block.check_lists(f"grid[{i}]")
        sourced = self._sourced()
        if not sourced and self.search is None:
            raise SpikeliteError(
                "the recipe has no points: `points:` and `grid:` are empty, so the sweep "
                "would do nothing; add a point (e.g. points: [{name: fp32, schedule: "
                "baseline}]) or a grid block")
        _check_names(sourced)
        for where, p in sourced:
            try:
                check_quantizer(p)
            except SpikeliteError as exc:
                raise SpikeliteError(f"{where} (point '{p.label}'): {exc}") from None
        for o in self.objectives:
            _objective(o, "objectives")
        if self.search is not None:
            self.search.check()
        if self.store is not None:
            from spikelite.sweep.storeurl import parse_store_url

            parse_store_url(self.store, "store")
        return self


#: Optuna's relational storages (SQLAlchemy dialects, optionally ``+driver``).
STORAGE_SCHEMES = ("sqlite", "postgresql", "mysql", "mariadb", "oracle", "mssql")


def check_storage_url(url: str, what: str = "--storage") -> str:
    """Refuse a search storage URL that Optuna cannot open (no ``scheme://``, an unknown
    database, an SQLite URL without a path); returns ``url``."""
    import re

    m = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*)(\+[A-Za-z0-9_]+)?://(.*)", url.strip(), re.S)
    if m is None:
        raise SpikeliteError(
            f"{what} {url!r} is not a database URL; write e.g. "
            f"'sqlite:///runs/study.sqlite3' or 'postgresql://user@host/db'")
    scheme, rest = m.group(1).lower(), m.group(3)
    if scheme not in STORAGE_SCHEMES:
        raise SpikeliteError(
            f"{what} {url!r} is not a database URL Optuna can use: unknown database "
            f"'{scheme}'; Optuna storages are "
            f"{', '.join(s + '://' for s in STORAGE_SCHEMES)}")
    if scheme == "sqlite" and rest.strip("/") == "":
        raise SpikeliteError(f"{what} {url!r} names no file; write "
                             "'sqlite:///path/to/study.sqlite3'")
    if scheme != "sqlite" and not rest.split("/", 1)[0]:
        raise SpikeliteError(f"{what} {url!r} names no host; write e.g. "
                             f"'{scheme}://user@host/database'")
    return url


def _objective(spec: str, where: str) -> None:
    from spikelite.sweep.pareto import Objective

    try:
        Objective.parse(spec)
    except SpikeliteError as exc:
        raise SpikeliteError(f"{where}: {exc}") from None


def check_quantizer(point: CompressionSpec) -> None:
    """The quantizer's own checks of bits and options (``duq`` needs bits >= 2, ...),
    for the point's bits and every ``layer_bits`` setting; raises :class:`SpikeliteError`."""
    from spikelite.quant import get_quantizer

    if point.scheme is None:
        return
    get_quantizer(point.scheme, **point.quant_options).check_bits(point.bits)
    for layer, value in point.layer_bits.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, dict)):
            raise SpikeliteError(f"layer_bits['{layer}'] must be bits (an int), a dict "
                                 f"(scheme/bits/options) or null, got {value!r}")
        spec = {"scheme": point.scheme, "bits": point.bits, **point.quant_options,
                **(value if isinstance(value, dict) else {"bits": value})}
        scheme, bits = spec.pop("scheme"), spec.pop("bits")
        try:
            get_quantizer(scheme, **spec).check_bits(bits)
        except SpikeliteError as exc:
            raise SpikeliteError(f"layer_bits['{layer}']: {exc}") from None


def _check_names(sourced: list[tuple[str, PointSpec]]) -> None:
    """One name, one setting: two different points under one name, or one setting under
    two names, are refused naming both."""
    by_name: dict[str, tuple[str, str]] = {}
    by_hash: dict[str, tuple[str, str]] = {}
    for where, p in sourced:
        h, name = point_hash(p), p.label
        if name in by_name and by_name[name][1] != h:
            raise SpikeliteError(
                f"two different points are named '{name}': {by_name[name][0]} and {where}; "
                "give one of them another `name` (export --point NAME must find one point)")
        if h in by_hash and by_hash[h][0] != name:
            raise SpikeliteError(
                f"points '{by_hash[h][0]}' ({by_hash[h][1]}) and '{name}' ({where}) have the "
                "same settings, so they are one run under two names; drop one of them")
        by_name.setdefault(name, (where, h))
        by_hash.setdefault(h, (name, where))


#: Fields added after sweeps were already stored, with the default that reproduces the
#: old behaviour: left out of run keys at that default, so earlier results keep their keys.
#: ``""`` is the record itself (a point), other keys name a nested record.
_LATER_DEFAULTS: dict[str, dict[str, Any]] = {
    "": {"calibrate_batches": 8, "score_batches": 5},
    "regularizer": {"source": "spikes"},
    "finetune": {"eval_batch_size": 256, "precision": "fp32", "distill": None,
                 "bn_reestimate": False, "bn_batches": 8, "quant_init": None,
                 "bit_schedule": [], "freeze_quantizers": None, "cycles": 1, "patience": None,
                 "min_delta": 0.0, "max_epochs": None, "extend_below": 1.0,
                 "memory_format": "contiguous"},
    "train": {"eval_batch_size": 256, "precision": "fp32", "memory_format": "contiguous"},
}
#: Fields renamed after sweeps were stored: hashed under their old name (new → old).
_RENAMED_IN_KEYS = {"lr_schedule": "schedule"}


def _drop_defaults(d: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not (k in defaults and v == defaults[k])}


def _stable(obj: Any, top: bool = True) -> Any:
    if isinstance(obj, dict):
        out = {_RENAMED_IN_KEYS.get(k, k): _stable(v, False) for k, v in obj.items()}
        if top:
            out = _drop_defaults(out, _LATER_DEFAULTS[""])
        for parent, defaults in _LATER_DEFAULTS.items():
            sub = out.get(parent)
            if parent and isinstance(sub, dict):
                out[parent] = _drop_defaults(sub, defaults)
        for parent in ("finetune", "train"):  # how a run loads data or is logged never
            sub = out.get(parent)              # changes its key
            if isinstance(sub, dict):
                out[parent] = {k: v for k, v in sub.items()
                               if k not in LOADER_FIELDS and k not in RUN_OPTIONS}
        return out
    if isinstance(obj, list):
        return [_stable(v, False) for v in obj]
    return obj


def _canonical(obj: Any) -> str:
    return json.dumps(_stable(obj), sort_keys=True, separators=(",", ":"), default=str)


def point_hash(point: PointSpec) -> str:
    return hashlib.sha256(_canonical(point.model_dump(exclude={"name"})).encode()).hexdigest()


def _point_dump(point: PointSpec) -> dict[str, Any]:
    """The point as hashed into run keys: its fields at their later defaults dropped."""
    return _drop_defaults(point.model_dump(exclude={"name"}), _LATER_DEFAULTS[""])


def baseline_key(recipe: Recipe) -> str:
    """Hash of everything that determines the baseline model."""
    d = {"data": recipe.data.model_dump(), "model": recipe.model.model_dump(),
         "baseline": recipe.baseline.model_dump()}
    digest = recipe.model.checkpoint_digest()
    if digest is not None:  # a retrained file under the same name is another baseline
        d["model_checkpoint_sha256"] = digest
    return hashlib.sha256(_canonical(d).encode()).hexdigest()[:12]


def run_key(recipe: Recipe, point: PointSpec) -> str:
    """Hash of a run: the baseline, the point and its fine-tuning — what determines the
    trained model. The hardware costing is not part of it (see :func:`hardware_key`)."""
    ft = point.finetune or recipe.finetune
    d = {"baseline": baseline_key(recipe), "point": _point_dump(point),
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
    return parse_record(raw, str(path), Recipe).check()


#: ``SCHEDULES`` (a tuple of names here before) is the registry :data:`spikelite.compress.SCHEDULES`
__getattr__ = moved(__name__, {"SCHEDULES": ("spikelite.compress.schedules", "SCHEDULES")})
