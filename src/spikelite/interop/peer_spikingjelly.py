"""SpikingJelly ``activation_based``: ``LIFNode``/``IFNode``; the neurons' ``step_mode``
says how the network is called (``'s'``: once per step, ``'m'``: on ``[T, B, ...]``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spikelite.core import IF
from spikelite.core.peers import lif_from_spikingjelly
from spikelite.errors import SpikeliteError
from spikelite.interop.library import Library


def _is_neuron(m: nn.Module) -> bool:
    from spikingjelly.activation_based.neuron.base_node import BaseNode

    return isinstance(m, BaseNode)


def _to_neuron(m: nn.Module) -> nn.Module:
    name = type(m).__name__
    if name == "IFNode":
        # SpikingJelly: h = v + x; hard reset v = (1 − s)·h + s·v_reset, or soft v = h − θ·s
        # (v_reset=None); the membrane starts at v_reset (0 for soft) — spikelite's IF
        # starts at 0, so only v_reset = 0 or None carry over exactly
        if m.v_reset not in (None, 0.0):
            raise SpikeliteError(f"SpikingJelly IFNode(v_reset={m.v_reset}) is not supported; "
                                 "use v_reset=0.0 or None")
        return IF(threshold=float(m.v_threshold), reset="zero" if m.v_reset is not None
                  else "subtract", detach_reset=bool(m.detach_reset))
    if name != "LIFNode":
        raise SpikeliteError(f"SpikingJelly {name} is not supported; use neuron.LIFNode or "
                             "neuron.IFNode")
    return lif_from_spikingjelly(m)


def _reset(model: nn.Module) -> None:
    from spikingjelly.activation_based import functional

    functional.reset_net(model)


def _steps(model: nn.Module) -> bool:
    modes = {getattr(m, "step_mode", "s") for m in model.modules() if _is_neuron(m)}
    return modes == {"s"}


def _call_step(model: nn.Module, x: torch.Tensor, state: Any) -> tuple[Any, Any]:
    return model(x), None


SPIKINGJELLY = Library(
    name="spikingjelly", package="spikingjelly", is_neuron=_is_neuron, to_neuron=_to_neuron,
    supported="LIFNode, IFNode", reset=_reset, steps=_steps, call_step=_call_step)
