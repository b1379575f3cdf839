"""Typed, validated records: the base of every spec and config in spikelite.

A record is a frozen pydantic model that rejects unknown keys. Records are validated from
YAML, CLI flags or Python keywords, and every error names the key and what is allowed::

    invalid configuration in run.yaml:
      train.lr: Input should be greater than 0 (got -1)
      train.epoch: unknown key (allowed here: batch_size, epochs, ...)

This module sits at the foundation (it imports only :mod:`spikelite.errors`): the specs
live with the package they describe (``DataSpec`` in :mod:`spikelite.data`, ``ModelSpec``
in :mod:`spikelite.models`, ``TrainConfig`` in :mod:`spikelite.train`, the compression
spec in :mod:`spikelite.compress`, recipes in :mod:`spikelite.sweep`).
"""

from __future__ import annotations

import typing
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from spikelite.errors import SpikeliteError, os_failure

R = TypeVar("R", bound="Strict")


class ConfigDeprecationWarning(FutureWarning):
    """A renamed key or option in a user's config; shown by default (a ``FutureWarning``),
    with the new name."""


class _RecordMeta(type(BaseModel)):  # type: ignore[misc]
    """Calling a record class directly (``TrainConfig(lr=0)``) raises a
    :class:`SpikeliteError`; validation of nested records (which does not go through
    this call) keeps pydantic's errors, so the outer record can name the nested key."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as exc:
            raise explain(exc, cls.__name__, cls) from None


class Strict(BaseModel, metaclass=_RecordMeta):
    """Frozen record that rejects unknown keys. Built from Python keywords, a validation
    error is raised as a :class:`SpikeliteError` naming the bad keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def renamed_keys(data: Any, renames: Mapping[str, str], where: str) -> Any:
    """Accept old key names in a raw mapping: each ``old → new`` in ``renames`` is moved
    (a :class:`ConfigDeprecationWarning` names both); both present is an error. For a
    ``mode="before"`` model validator."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for old, new in renames.items():
        if old in out:
            if new in out:
                raise ValueError(f"{where}: '{old}' is the old name of '{new}'; give only "
                                 f"'{new}'")
            warnings.warn(f"{where}: the key '{old}' is deprecated; call it '{new}'",
                          ConfigDeprecationWarning, stacklevel=2)
            out[new] = out.pop(old)
    return out


def registered(registry: Any) -> Callable[[str], str]:
    """A field validator that accepts only names in ``registry`` (a
    :class:`~spikelite._registry.Registry`); the error lists the valid names."""

    def check(value: str) -> str:
        registry.get(value)
        return value

    return check


def parse_key_values(items: list[str] | None, what: str) -> dict[str, Any]:
    """``["hidden=[128]", "beta=0.9"]`` → ``{"hidden": [128], "beta": 0.9}`` (YAML values)."""
    parsed: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise SpikeliteError(f"{what} '{item}' must look like key=value")
        key, value = item.split("=", 1)
        if not key.strip():
            raise SpikeliteError(f"{what} '{item}' has no key; it must look like key=value")
        try:
            parsed[key.strip()] = _load_bounded(value, f"{what} '{item}'", len(value))
        except yaml.YAMLError as exc:
            raise SpikeliteError(f"{what} '{item}': the value is not valid YAML "
                                 f"({yaml_problem(exc)}); quote a plain string, e.g. "
                                 f"{key.strip()}='\"...\"'") from None
    return parsed


def allowed_keys(kind: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the record that holds ``loc`` (walking nested records, lists
    and optionals); empty when it cannot be resolved."""

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


def explain(
    exc: ValidationError, source: str, kind: type[BaseModel] | None = None
) -> SpikeliteError:
    """A pydantic error as a :class:`SpikeliteError` with one line per bad key."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = allowed_keys(kind, tuple(err["loc"])) if kind is not None else []
            hint = f"allowed here: {', '.join(allowed)}" if allowed else "check the spelling"
            lines.append(f"  {key}: unknown key ({hint})")
        elif err["type"] == "value_error":  # our own validators: the message says it all
            lines.append(f"  {key}: {str(err['msg']).removeprefix('Value error, ')}")
        else:
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r})")
    return SpikeliteError(f"invalid configuration in {source}:\n" + "\n".join(lines))


def parse_record(data: dict[str, Any], source: str, kind: type[R]) -> R:
    """Validate a plain dict into the record type ``kind``; errors name the bad keys."""
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        raise explain(exc, source, kind) from None


#: a YAML document may expand through its aliases to at most this many nodes, or to
#: ``EXPANSION_RATIO`` times its own node count, whichever is larger
MAX_EXPANDED_NODES = 100_000
EXPANSION_RATIO = 100


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: the problem and where (``line L, column C``)."""
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    position = getattr(exc, "position", None)
    if not where and position is not None:
        where = f" at character {position}"
    return " ".join(f"{problem}{where}".split())


def _expanded_size(root: yaml.Node, source: str) -> tuple[int, int]:
    """``(expanded, unique)`` node counts of a composed YAML document: ``expanded`` counts
    every alias as a full copy of its anchor (what a consumer walking the data sees).
    Memoised by node, so a "billion laughs" document is measured in linear time."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            children = _children(node)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            active.discard(key)
            continue
        if key in sizes:
            continue
        if key in active:
            raise SpikeliteError(f"{source}: a YAML alias refers to its own anchor (a "
                                 "recursive structure); write the values out")
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return sizes[id(root)], len(sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _load_bounded(text: str, source: str, size: int) -> Any:
    """``yaml.safe_load`` that first measures how far the aliases expand and refuses a
    document out of proportion to its size (a "billion laughs")."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded, unique = _expanded_size(node, source)
        limit = max(MAX_EXPANDED_NODES, EXPANSION_RATIO * unique)
        if expanded > limit:
            raise SpikeliteError(
                f"{source}: its YAML aliases expand too far ({expanded:,} values from "
                f"{unique:,} written, {size:,} bytes; at most {limit:,}); write the values "
                "out instead of nesting aliases")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with clear errors for a missing file, a file that is not UTF-8
    text, bad syntax or aliases that expand out of proportion (a "billion laughs")."""
    path = Path(path)
    if path.is_dir():
        raise SpikeliteError(f"config file '{path}' is a folder; name a YAML file")
    if not path.is_file():
        raise SpikeliteError(f"config file '{path}' does not exist")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise os_failure(exc, path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpikeliteError(f"'{path}' is not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                             f"offset {exc.start}); a config file is YAML text: save it as "
                             "UTF-8") from None
    try:
        raw = _load_bounded(text, f"'{path}'", len(data)) or {}
    except yaml.YAMLError as exc:
        raise SpikeliteError(f"'{path}' is not valid YAML: {yaml_problem(exc)}") from None
    if not isinstance(raw, dict):
        raise SpikeliteError(f"'{path}' must contain a YAML mapping of keys to values")
    return raw


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


def merge(cfg: R, overrides: dict[str, Any]) -> R:
    """Apply dotted overrides (``{"train.epochs": 3}``) to a record and re-validate."""
    data = set_dotted(cfg.model_dump(exclude_unset=False), overrides)
    return parse_record(data, "command-line options", type(cfg))
