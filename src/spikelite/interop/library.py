"""What spikelite needs to know of each peer library to run and convert its networks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Library:
    """One peer library: which of its modules are neurons, how to turn one into a
    spikelite neuron, how to clear a network's state and how to call it for one time step.

    ``steps(model)``: the network is called once per time step on ``[B, ...]`` (snnTorch's
    ``init_hidden`` style, SpikingJelly's single-step mode, Norse's cells); otherwise it
    is called once on the whole sequence.
    """

    name: str
    package: str
    is_neuron: Callable[[nn.Module], bool]
    to_neuron: Callable[[nn.Module], nn.Module]
    supported: str
    reset: Callable[[nn.Module], None]
    steps: Callable[[nn.Module], bool]
    call_step: Callable[[nn.Module, torch.Tensor, Any], tuple[Any, Any]]

    def owns(self, m: nn.Module) -> bool:
        """``m``'s class comes from this library."""
        return type(m).__module__.split(".")[0] == self.package


def first_output(out: Any) -> Any:
    """A peer's output without its extras: ``(spikes, membrane)`` of snnTorch's
    ``output=True`` layers and ``(output, state)`` of Norse's modules → the first item."""
    while isinstance(out, (tuple, list)) and out:
        out = out[0]
    return out
