"""Norse: ``LIFBoxCell`` neurons in a ``SequentialState`` called once per time step, or
lifted over ``[T, B, ...]`` with ``Lift`` (layers and cells alike) and called once. (Norse
1.1 has no multi-step ``LIFBox`` module; one would be converted like the cell.)"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spikelite.core.peers import lif_from_norse
from spikelite.errors import SpikeliteError
from spikelite.interop.library import Library


def _is_neuron(m: nn.Module) -> bool:
    from norse.torch.module.snn import SNN, SNNCell

    return isinstance(m, (SNN, SNNCell))


def _is_cell(m: nn.Module) -> bool:
    from norse.torch.module.snn import SNNCell

    return isinstance(m, SNNCell)


def _to_neuron(m: nn.Module) -> nn.Module:
    """:func:`~spikelite.core.peers.lif_from_norse`: any ``v_leak``/``v_reset``/``v_th``,
    reset to value or by subtraction, any ``dt``."""
    if type(m).__name__ not in ("LIFBox", "LIFBoxCell"):
        raise SpikeliteError(f"Norse {type(m).__name__} is not supported; use LIFBoxCell")
    return lif_from_norse(m)


def _reset(model: nn.Module) -> None:
    """Norse keeps no state in its modules: the state is passed in and returned."""


def _steps(model: nn.Module) -> bool:
    from norse.torch import Lift, SequentialState

    return (isinstance(model, SequentialState) and any(_is_cell(m) for m in model.modules())
            and not any(isinstance(m, Lift) for m in model.modules()))


def _call_step(model: nn.Module, x: torch.Tensor, state: Any) -> tuple[Any, Any]:
    out, state = model(x, state)
    return out, state


NORSE = Library(
    name="norse", package="norse", is_neuron=_is_neuron, to_neuron=_to_neuron,
    supported="LIFBox, LIFBoxCell", reset=_reset, steps=_steps, call_step=_call_step)
