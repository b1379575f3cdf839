"""snnTorch: ``Leaky`` neurons; ``nn.Sequential`` with ``init_hidden=True`` runs per step."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spikelite.core.peers import lif_from_snntorch
from spikelite.errors import SpikeliteError
from spikelite.interop.library import Library


def _is_neuron(m: nn.Module) -> bool:
    from snntorch._neurons.neurons import SpikingNeuron

    return isinstance(m, SpikingNeuron)


def _to_neuron(m: nn.Module) -> nn.Module:
    """:func:`~spikelite.core.peers.lif_from_snntorch`: every ``reset_mechanism`` and
    ``reset_delay``; refuses other neuron classes (``Synaptic``, ``RLeaky``, ...)."""
    if type(m).__name__ != "Leaky":
        raise SpikeliteError(f"snnTorch {type(m).__name__} is not supported; use snn.Leaky")
    return lif_from_snntorch(m)


def _reset(model: nn.Module) -> None:
    for m in model.modules():
        if _is_neuron(m) and isinstance(getattr(m, "mem", None), torch.Tensor):
            m.mem = torch.zeros(0, device=m.mem.device, dtype=m.mem.dtype)


def _steps(model: nn.Module) -> bool:
    neurons = [m for m in model.modules() if _is_neuron(m)]
    return (type(model) is nn.Sequential and bool(neurons)
            and all(getattr(m, "init_hidden", False) for m in neurons))


def _call_step(model: nn.Module, x: torch.Tensor, state: Any) -> tuple[Any, Any]:
    return model(x), None


SNNTORCH = Library(
    name="snntorch", package="snntorch", is_neuron=_is_neuron, to_neuron=_to_neuron,
    supported="Leaky", reset=_reset, steps=_steps, call_step=_call_step)
