"""``ModelSpec``: which zoo model to build, as a validated record; :func:`build_model`."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from torch import nn

from spikelite.models.registry import MODELS, create
from spikelite.records import Strict, registered


class ModelSpec(Strict):
    """Which zoo model to build (``spikelite models`` lists them)."""

    name: Annotated[str, AfterValidator(registered(MODELS))] = "csnn"
    kwargs: dict[str, Any] = Field(default_factory=dict)


def model_kwargs_for_data(name: str, kwargs: dict[str, Any], train: Any) -> dict[str, Any]:
    """Fill the data-dependent arguments a model factory accepts and the user left out.

    ``num_classes`` ← the dataset's classes, ``input_shape`` ← its per-step shape,
    ``in_channels`` ← its first dimension, ``input_size`` ← its last, ``time_steps`` ← T.
    """
    accepted = inspect.signature(MODELS.get(name)).parameters
    shape = tuple(getattr(train, "input_shape", ()))
    derived: dict[str, Any] = {
        "num_classes": getattr(train, "classes", None),
        "input_shape": list(shape) if shape else None,
        "in_channels": shape[0] if len(shape) >= 2 else None,
        "input_size": shape[-1] if len(shape) >= 2 else None,
        "time_steps": getattr(train, "time_steps", None),
    }
    out = dict(kwargs)
    for key, value in derived.items():
        if key in accepted and key not in out and value is not None:
            out[key] = value
    return out


def build_model(spec: ModelSpec, train: Any) -> nn.Module:
    """Create the zoo model of ``spec`` sized for the dataset ``train``."""
    return create(spec.name, **model_kwargs_for_data(spec.name, dict(spec.kwargs), train))
