"""A user's network from a ``module:function`` factory and a checkpoint of its weights.

The factory is imported with :mod:`importlib` (from the current folder or ``PYTHONPATH``)
and called with keyword arguments; the checkpoint is the *foreign* model's ``state_dict``
as saved by ``torch.save`` (read with ``torch.load(..., weights_only=True)``: never
unpickled) or as a safetensors file.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikelite.errors import SpikeliteError, os_failure
from spikelite.interop.convert import Layout, Protocol, from_foreign
from spikelite.interop.model import ConvertedSequential


def load_factory(spec: str) -> Callable[..., nn.Module]:
    """The callable named by ``"package.module:function"`` (the current folder is searched
    first, like ``python -m``)."""
    module_name, sep, attr = str(spec).partition(":")
    if not sep or not module_name or not attr:
        raise SpikeliteError(f"model factory {spec!r} must look like 'module:function' (e.g. "
                             "'mynets:build_net' for build_net in mynets.py)")
    cwd = str(Path.cwd())
    added = cwd not in sys.path and "" not in sys.path
    if added:  # only for this import: sys.path is left as it was
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise SpikeliteError(
                f"model factory {spec!r}: no module named '{module_name}' (searched the current "
                "folder and PYTHONPATH); run from the folder holding it or add it to "
                "PYTHONPATH") from None
        raise SpikeliteError(f"model factory {spec!r}: importing '{module_name}' failed: {exc}"
                             ) from None
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300]
        raise SpikeliteError(f"model factory {spec!r}: importing '{module_name}' failed "
                             f"({type(exc).__name__}: {detail})") from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
    fn = module
    for part in attr.split("."):
        if not hasattr(fn, part):
            public = sorted(n for n in dir(module) if not n.startswith("_")
                            and callable(getattr(module, n)))[:12]
            raise SpikeliteError(f"model factory {spec!r}: module '{module_name}' has no "
                                 f"attribute '{attr}'; callables there: "
                                 f"{', '.join(public) or 'none'}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise SpikeliteError(f"model factory {spec!r}: '{attr}' is a {type(fn).__name__}, not "
                             "a function or class")
    return fn  # type: ignore[return-value]


def accepted_parameters(fn: Callable[..., Any]) -> set[str]:
    """The keyword names ``fn`` accepts (empty when it cannot be inspected)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def load_foreign_weights(model: nn.Module, path: str | Path) -> None:
    """Load a checkpoint of the foreign ``model``: a ``state_dict`` saved with
    ``torch.save`` (``.pt``/``.pth``/other) or a ``.safetensors`` file. Also accepted: a
    dict holding the state dict under ``state_dict`` or ``model_state_dict``."""
    file = Path(path)
    if not file.is_file():
        raise SpikeliteError(f"checkpoint '{file}' does not exist (or is not a file)")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(file))
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise os_failure(exc, file) from None
    except Exception:
        raise SpikeliteError(
            f"checkpoint '{file}' is not a state_dict spikelite can read: save the weights "
            "with torch.save(model.state_dict(), path) or safetensors (files holding other "
            "Python objects are refused: spikelite never unpickles them)") from None
    if isinstance(state, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor)
                                                 for v in state.values()):
        raise SpikeliteError(f"checkpoint '{file}' holds a {type(state).__name__}, not a "
                             "state_dict of tensors; save model.state_dict()")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    shape = next((k for k in own if k in state and tuple(own[k].shape)
                  != tuple(state[k].shape)), None)
    problem = (f"the model has {len(missing)} tensor(s) the file lacks, first '{missing[0]}'"
               if missing else f"the file has {len(extra)} tensor(s) the model lacks, first "
               f"'{extra[0]}'" if extra else f"tensor '{shape}' has shape "
               f"{list(state[shape].shape)} in the file but {list(own[shape].shape)} in the "
               "model" if shape else None)
    if problem is not None:
        raise SpikeliteError(f"checkpoint '{file}' does not fit the network the factory "
                             f"built: {problem}; pass the factory arguments it was trained "
                             "with")
    model.load_state_dict(dict(state), strict=True)


def build_foreign(
    factory: str,
    kwargs: Mapping[str, Any] | None = None,
    checkpoint: str | Path | None = None,
    *,
    input_shape: Sequence[int],
    time_steps: int,
    input_layout: Layout = "TB",
    protocol: Protocol = "auto",
) -> ConvertedSequential:
    """Build the user's network with ``factory(**kwargs)``, load ``checkpoint`` into it and
    convert it (:func:`~spikelite.interop.from_foreign` on a random binary input of
    ``[time_steps, B, *input_shape]``). The result's ``spikelite_config`` records how to
    build it again (without the checkpoint: a spikelite checkpoint holds the weights)."""
    fn = load_factory(factory)
    kw = dict(kwargs or {})
    try:
        net = fn(**kw)
    except TypeError as exc:
        raise SpikeliteError(f"model factory {factory!r} cannot be called with {kw}: {exc}"
                             ) from None
    if not isinstance(net, nn.Module):
        raise SpikeliteError(f"model factory {factory!r} returned a {type(net).__name__}, not "
                             "a torch nn.Module")
    if checkpoint is not None:
        load_foreign_weights(net, checkpoint)
    model = from_foreign(net, input_shape=input_shape, time_steps=time_steps,
                         input_layout=input_layout, protocol=protocol)
    model.spikelite_config = {
        "name": factory, "factory": factory, "kwargs": kw,
        "input_shape": [int(s) for s in input_shape], "time_steps": int(time_steps),
        "input_layout": input_layout, "protocol": protocol,
    }
    return model
