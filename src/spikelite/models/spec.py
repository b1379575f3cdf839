"""``ModelSpec``: which model to build — a zoo model by name, or the user's own network
from a ``module:function`` factory (converted by :mod:`spikelite.interop`) — as a
validated record; :func:`build_model`."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from torch import nn

from spikelite.errors import SpikeliteError
from spikelite.models.registry import MODELS, create
from spikelite.records import Strict, registered

#: the keys of a user's network (``factory``); left out of a zoo model's dump, so run keys
#: and saved configs of zoo models stay as they were
FOREIGN_KEYS = ("factory", "checkpoint", "input_shape", "time_steps", "input_layout")


class ModelSpec(Strict):
    """Which model to build: a zoo model (``name``, see ``spikelite models``) or the user's
    snnTorch / SpikingJelly / Norse network::

        model: {factory: "mynets:build_net", kwargs: {beta: 0.9}, checkpoint: net.pt}

    ``factory`` is imported from the current folder or ``PYTHONPATH`` and called with
    ``kwargs``; ``checkpoint`` (optional) is the foreign model's ``state_dict``
    (``torch.save``, read with ``weights_only=True``, or safetensors). ``input_shape``
    (one sample, one step) and ``time_steps`` default to the dataset's; ``input_layout``
    is the layout the network's forward takes (``TB``: ``[T, B, ...]``, ``BT``).
    """

    name: Annotated[str, AfterValidator(registered(MODELS))] = "csnn"
    kwargs: dict[str, Any] = Field(default_factory=dict)
    factory: str | None = None
    checkpoint: str | None = None
    input_shape: list[int] | None = None
    time_steps: int | None = Field(None, ge=1)
    input_layout: Literal["TB", "BT"] = "TB"

    @field_validator("factory")
    @classmethod
    def _factory(cls, v: str | None) -> str | None:
        if v is not None:
            module, sep, attr = v.partition(":")
            if not (module and sep and attr):
                raise ValueError(f"factory {v!r} must look like 'module:function' (e.g. "
                                 "'mynets:build_net')")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> ModelSpec:
        if self.factory is not None and "name" in self.model_fields_set:
            raise ValueError("give either name (a zoo model) or factory (your network), "
                             "not both")
        if self.factory is None:
            extra = [k for k in FOREIGN_KEYS[1:] if k in self.model_fields_set]
            if extra:
                raise ValueError(f"{', '.join(extra)} belong(s) to a user's network: add "
                                 "factory: 'module:function'")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if self.factory is None:
            for key in FOREIGN_KEYS:
                data.pop(key, None)
        else:
            data.pop("name", None)
        return data

    @property
    def label(self) -> str:
        """The zoo name or the factory, for messages."""
        return self.factory or self.name

    def checkpoint_digest(self) -> str | None:
        """SHA-256 of the foreign checkpoint file (``None`` without one): a retrained file
        under the same name is a different baseline."""
        if self.checkpoint is None:
            return None
        file = Path(self.checkpoint)
        if not file.is_file():
            raise SpikeliteError(f"model.checkpoint '{file}' does not exist (or is not a file)")
        digest = hashlib.sha256()
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


def _data_kwargs(factory: Callable[..., Any], kwargs: dict[str, Any],
                 train: Any) -> dict[str, Any]:
    try:
        accepted = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return dict(kwargs)
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


def model_kwargs_for_data(name: str, kwargs: dict[str, Any], train: Any) -> dict[str, Any]:
    """Fill the data-dependent arguments a model factory accepts and the user left out.

    ``num_classes`` ← the dataset's classes, ``input_shape`` ← its per-step shape,
    ``in_channels`` ← its first dimension, ``input_size`` ← its last, ``time_steps`` ← T.
    """
    return _data_kwargs(MODELS.get(name), kwargs, train)


def build_model(spec: ModelSpec, train: Any) -> nn.Module:
    """Create the model of ``spec`` sized for the dataset ``train``: a zoo model, or the
    user's network built by its factory (data-dependent arguments it accepts filled in like
    the zoo's) and converted by :func:`spikelite.interop.build_foreign`. ``train`` may be
    ``None`` when the spec gives ``input_shape`` and ``time_steps``."""
    if spec.factory is None:
        return create(spec.name, **model_kwargs_for_data(spec.name, dict(spec.kwargs), train))
    from spikelite.interop import build_foreign, load_factory

    shape = spec.input_shape or list(getattr(train, "input_shape", ()) or ())
    steps = spec.time_steps or getattr(train, "time_steps", None)
    if not shape or not steps:
        raise SpikeliteError(f"model '{spec.factory}': give input_shape and time_steps (or "
                             "a dataset to take them from)")
    kwargs = _data_kwargs(load_factory(spec.factory), dict(spec.kwargs), train)
    return build_foreign(spec.factory, kwargs, spec.checkpoint, input_shape=shape,
                         time_steps=int(steps), input_layout=spec.input_layout)
