"""SpikingJelly ``activation_based``: ``LIFNode``/``IFNode``/``ParametricLIFNode``; the
neurons' ``step_mode``
says how the network is called (``'s'``: once per step, ``'m'``: on ``[T, B, ...]``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spikelite.core.peers import lif_from_spikingjelly
from spikelite.errors import SpikeliteError
from spikelite.interop.library import Library


def _is_neuron(m: nn.Module) -> bool:
    from spikingjelly.activation_based.neuron.base_node import BaseNode

    return isinstance(m, BaseNode)


def _to_neuron(m: nn.Module) -> nn.Module:
    """:func:`~spikelite.core.peers.lif_from_spikingjelly`: any ``v_reset`` (or ``None``,
    the soft reset), ``decay_input``, learnable ``w``; refuses other neuron classes."""
    name = type(m).__name__
    if name not in ("LIFNode", "IFNode", "ParametricLIFNode"):
        raise SpikeliteError(f"SpikingJelly {name} is not supported; use neuron.LIFNode, "
                             "neuron.IFNode or neuron.ParametricLIFNode")
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
    supported="LIFNode, IFNode, ParametricLIFNode", reset=_reset, steps=_steps,
    call_step=_call_step)
