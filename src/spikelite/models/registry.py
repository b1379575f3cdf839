"""Model registry: :func:`create` builds a registered model by name (timm-style).

Every factory takes keyword arguments only. :func:`create` checks them against the
factory's signature, builds the model and attaches ``model.spikelite_config = {"name":
..., "kwargs": {...}}`` holding *all* arguments (defaults filled in, JSON-serialisable), so a
checkpoint rebuilds the same architecture with ``create(**model.spikelite_config)``.
"""

from __future__ import annotations

import inspect
import json
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from spikelite._registry import Registry
from spikelite.errors import SpikeliteError

ModelFactory = Callable[..., nn.Module]

MODELS: Registry[ModelFactory] = Registry("model")


def register_model(
    name: str, *, default_widths: Sequence[int] | None = None
) -> Callable[[ModelFactory], ModelFactory]:
    """Register a model factory under ``name``.

    ``default_widths`` are the paper's per-conv output channels (the factory's ``widths``
    default), used by :func:`widths_from_ratios`.
    """

    def deco(fn: ModelFactory) -> ModelFactory:
        fn.default_widths = tuple(default_widths) if default_widths is not None else None  # type: ignore[attr-defined]
        return MODELS.register(name)(fn)

    return deco


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return MODELS.names()


def _to_json(value: Any, where: str) -> Any:
    """Tuples → lists, recursively; reject anything json cannot store."""
    if isinstance(value, Mapping):
        return {str(k): _to_json(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v, where) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise SpikeliteError(
        f"{where}={value!r} is not JSON-serialisable, so the model could not be rebuilt from "
        "a checkpoint; pass plain numbers/strings/lists (e.g. surrogate='triangle' with "
        "surrogate_params={'width': 1.0} instead of a Surrogate instance)"
    )


def _accepted(fn: ModelFactory) -> list[str]:
    return [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def create(name: str, kwargs: Mapping[str, Any] | None = None, **overrides: Any) -> nn.Module:
    """Build the registered model ``name``.

    Keyword arguments go to the factory; ``kwargs`` (a mapping, e.g. the ``"kwargs"`` of a
    saved ``spikelite_config``) is merged first, so ``create(**model.spikelite_config)``
    rebuilds a model. Unknown names or parameters raise :class:`SpikeliteError` listing the
    valid ones.
    """
    factory = MODELS.get(name)
    key = str(name).lower()
    merged = {**dict(kwargs or {}), **overrides}
    accepted = _accepted(factory)
    unknown = sorted(set(merged) - set(accepted))
    if unknown:
        raise SpikeliteError(
            f"model '{key}' has no parameter(s) {', '.join(repr(u) for u in unknown)}. "
            f"Accepted parameters: {', '.join(accepted)}"
        )
    bound = inspect.signature(factory).bind(**merged)
    bound.apply_defaults()
    paper_widths = getattr(factory, "default_widths", None)
    if paper_widths is not None and bound.arguments.get("widths", ...) is None:
        bound.arguments["widths"] = list(paper_widths)  # record the architecture explicitly
    config = {"name": key, "kwargs": _to_json(dict(bound.arguments), key)}
    json.dumps(config)  # guaranteed by _to_json; fails loudly if not
    try:
        model = factory(**bound.arguments)
    except TypeError as exc:
        raise SpikeliteError(f"bad parameters for model '{key}': {exc}") from exc
    model.spikelite_config = config
    return model


def default_widths(name: str) -> list[int]:
    """The paper's per-conv output channel counts of model ``name`` (its ``widths``)."""
    widths = getattr(MODELS.get(name), "default_widths", None)
    if widths is None:
        raise SpikeliteError(f"model '{name}' has no per-layer widths")
    return list(widths)


def widths_from_ratios(name: str, ratios: Sequence[float] | float) -> list[int]:
    """Channel counts after QP-SNN-style pruning: ``int(n·(1 − r))`` per conv.

    ``ratios`` gives one pruning ratio per conv (same order and length as
    :func:`default_widths`), or one number for all convs. ``int()`` truncation matches the
    QP-SNN code and reproduces the paper's model sizes (papers.md §1.14). Pass the result as
    ``create(name, widths=...)``.
    """
    base = default_widths(name)
    rs = [float(ratios)] * len(base) if isinstance(ratios, (int, float)) else list(ratios)
    if len(rs) != len(base):
        raise SpikeliteError(
            f"model '{name}' has {len(base)} convs (widths {base}); got {len(rs)} ratios"
        )
    out = []
    for i, (n, r) in enumerate(zip(base, rs, strict=True)):
        if not 0.0 <= r < 1.0:
            raise SpikeliteError(f"pruning ratio {i} must lie in [0, 1), got {r}")
        out.append(max(1, int(n * (1 - r))))
    return out
