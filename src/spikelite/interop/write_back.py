"""A converted, compressed and fine-tuned model's weights back in the user's own network.

:func:`to_foreign` is :func:`~spikelite.interop.from_foreign` in reverse: each synaptic
layer's *deployed* weight (what the forward pass uses: a fake-quantized or pruned weight is
read through its parametrization, exactly as :func:`spikelite.quant.bake` reads it) and
each BatchNorm's tensors are copied into the foreign module the layer was converted from,
and the foreign network, called its library's way, must then give outputs bit-identical to
the spikelite model's. The foreign neurons are left as they are (for snnTorch's default
``Leaky`` that keeps its delayed subtract reset, which no NIR importer rebuilds), so the
neuron layers of the spikelite model must still be the ones converted from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from spikelite.core import LIF, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.interop.convert import (
    Layout,
    Protocol,
    _describe_mismatch,
    _run_foreign,
    detect_library,
    sample_input_for,
)

_SYNAPSES = (nn.Conv2d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _foreign_modules(net: nn.Module) -> dict[str, nn.Module]:
    """The foreign network's modules under the keys :func:`from_foreign` gives their
    converted layers (the module path with ``.`` → ``_``)."""
    out: dict[str, nn.Module] = {}
    for name, m in net.named_modules():
        if name:
            out.setdefault(name.replace(".", "_"), m)
    return out


def _shape(m: nn.Module) -> str:
    w = getattr(m, "weight", None)
    return f", weight {list(w.shape)}" if isinstance(w, torch.Tensor) else ""


def _copy_layer(key: str, ours: nn.Module, theirs: nn.Module) -> None:
    if isinstance(ours, _SYNAPSES):
        if not isinstance(theirs, _SYNAPSES) or theirs.weight.shape != ours.weight.shape:
            raise SpikeliteError(
                f"layer '{key}' ({type(ours).__name__}, weight {list(ours.weight.shape)}) does "
                f"not fit the foreign layer there ({type(theirs).__name__}{_shape(theirs)}): "
                "channel pruning changes the architecture; write back only models whose "
                "layers keep their shapes")
        with torch.no_grad():
            theirs.weight.copy_(ours.weight)  # the deployed weight, through parametrizations
            if (ours.bias is None) != (theirs.bias is None):
                raise SpikeliteError(f"layer '{key}': one of the two layers has a bias, the "
                                     "other not")
            if ours.bias is not None:
                theirs.bias.copy_(ours.bias)
    elif isinstance(ours, _NORMS):
        theirs.load_state_dict(ours.state_dict())


def _check_neuron(key: str, ours: nn.Module, theirs: nn.Module, lib: Any) -> None:
    """The spikelite neuron must still be the conversion of the foreign one."""
    fresh = lib.to_neuron(theirs)
    a, b = ours.state_dict(), fresh.state_dict()
    same = a.keys() == b.keys() and all(
        a[k].shape == b[k].shape and torch.equal(a[k].to(b[k]), b[k]) for k in a)
    if not same or type(ours) is not type(fresh):
        raise SpikeliteError(
            f"neuron layer '{key}' no longer equals the {type(theirs).__name__} it was "
            "converted from (a learnable β or threshold changed in fine-tuning, or state "
            "quantization was added); to_foreign writes back synaptic and BatchNorm layers "
            "only: fine-tune with the neurons' parameters frozen")


def to_foreign(
    model: nn.Module,
    net: nn.Module,
    sample_input: torch.Tensor | None = None,
    *,
    time_steps: int | None = None,
    input_layout: Layout = "TB",
    protocol: Protocol = "auto",
) -> nn.Module:
    """Copy ``model``'s deployed weights (``model``: what :func:`from_foreign` made of
    ``net``, then quantized, pruned, fine-tuned or baked) into ``net`` and check that
    ``net`` now computes ``model``'s outputs bit for bit. Returns ``net`` (changed in place).

    ``sample_input``: the input to compare on (``[T, B, ...]``; ``[B, T, ...]`` with
    ``input_layout="BT"``); default a random binary ``[time_steps, B, *input_shape]`` (the
    conversion's ``T`` unless ``time_steps``) at three strengths (×1, ×4, ×16).
    ``protocol``: how ``net`` is called, as in :func:`from_foreign`. Raises
    :class:`SpikeliteError` naming the first layer that does not fit or the outputs that
    differ.
    """
    lib = detect_library(net)
    theirs = _foreign_modules(net)
    for key, layer in model.named_children():
        inner = layer.module if isinstance(layer, TimeDistributed) else layer
        if not isinstance(inner, (LIF, *_SYNAPSES, *_NORMS)):
            continue  # pools, flattens, dropout: nothing to copy
        if key not in theirs:
            raise SpikeliteError(f"layer '{key}' has no module of that name in "
                                 f"{type(net).__name__}: is it the network the model was "
                                 "converted from?")
        if isinstance(inner, LIF):
            _check_neuron(key, inner, theirs[key], lib)
        else:
            _copy_layer(key, inner, theirs[key])
    _compare(model, net, lib, sample_input, time_steps, input_layout, protocol)
    return net


def _compare(model: nn.Module, net: nn.Module, lib: Any, sample: torch.Tensor | None,
             time_steps: int | None, layout: Layout, protocol: Protocol) -> None:
    shape: Sequence[int] | None = getattr(model, "input_shape", None)
    if sample is None:
        if shape is None:
            raise SpikeliteError("give sample_input: the model has no input_shape")
        check = getattr(model, "conversion_check", None) or {}
        T = int(time_steps or (check.get("input") or [8])[0])
        x = sample_input_for(net, shape, T)
        samples = [x, 4.0 * x, 16.0 * x]
    else:
        x = sample.detach() if layout == "TB" else sample.detach().transpose(0, 1)
        samples = [x]
    steps = lib.steps(net) if protocol == "auto" else protocol == "step"
    flags = {m: m.training for m in (*model.modules(), *net.modules())}
    model.eval()
    net.eval()
    streaming = getattr(model, "streaming", False)
    try:
        with torch.no_grad():
            for xs in samples:
                if hasattr(model, "streaming"):
                    model.streaming = False
                ours = model(xs)
                ref = _run_foreign(net, xs, lib, steps, layout)
                if ours.shape != ref.shape or not bool(torch.equal(ours, ref.to(ours))):
                    raise SpikeliteError(
                        f"after writing the weights back, {type(net).__name__} does not "
                        f"reproduce the spikelite model: {_describe_mismatch(ours, ref)}")
    finally:
        for m, flag in flags.items():
            m.train(flag)
        if hasattr(model, "streaming"):
            model.streaming = streaming
