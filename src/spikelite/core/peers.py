"""Peer neurons (snnTorch, SpikingJelly, Norse) as spikelite :class:`LIF` modules.

TEMPORARY stand-in (branch ``foreign``): only the settings today's :class:`LIF` reproduces
bit for bit (see :mod:`spikelite.core.neurons`); the rest raise ``not yet supported``.
Replaced by the full module from branch ``neurons`` at merge.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from spikelite.core.neurons import LIF
from spikelite.errors import SpikeliteError


def _value(t: object) -> torch.Tensor:
    return torch.as_tensor(t).detach().clone()


def _not_yet(what: str) -> SpikeliteError:
    return SpikeliteError(f"{what} is not yet supported by spikelite.core.peers")


def lif_from_snntorch(neuron: nn.Module) -> LIF:
    """snnTorch ``Leaky(beta, threshold, reset_mechanism="zero")`` ≡
    ``LIF(beta, threshold, reset="zero", strict=True)`` (docs/core.md)."""
    name = type(neuron).__name__
    if name != "Leaky":
        raise _not_yet(f"snnTorch {name}")
    mech = getattr(neuron, "reset_mechanism", "subtract")
    if mech != "zero":
        raise _not_yet(f"snnTorch Leaky(reset_mechanism={mech!r})")
    if getattr(neuron, "inhibition", False) or getattr(neuron, "state_quant", False):
        raise _not_yet("snnTorch Leaky with inhibition or state_quant")
    if not bool(torch.all(_value(neuron.graded_spikes_factor) == 1)):
        raise _not_yet("snnTorch Leaky with graded_spikes_factor != 1")
    return LIF(beta=_value(neuron.beta).clamp(0, 1), threshold=_value(neuron.threshold),
               reset="zero", strict=True, detach_reset=True)


def lif_from_spikingjelly(neuron: nn.Module) -> LIF:
    """SpikingJelly ``LIFNode(tau, decay_input=True, v_reset=v_r)`` ≡
    ``LIF(tau=tau, v_reset=v_r, threshold=v_threshold, reset="zero")``."""
    name = type(neuron).__name__
    if name != "LIFNode":
        raise _not_yet(f"SpikingJelly {name}")
    if not neuron.decay_input or neuron.v_reset is None:
        raise _not_yet("SpikingJelly LIFNode(decay_input=False or v_reset=None)")
    return LIF(tau=float(neuron.tau), v_reset=float(neuron.v_reset),
               threshold=float(neuron.v_threshold), reset="zero",
               detach_reset=bool(neuron.detach_reset))


def lif_from_norse(neuron: nn.Module, dt: float | None = None) -> LIF:
    """Norse ``LIFBox(Cell)(LIFBoxParameters(tau_mem_inv=k, v_leak=0, v_reset=0), dt)`` ≡
    ``LIF(tau=1/(dt·k), threshold=v_th, reset="zero", strict=True)`` (exact when dt·k, as
    Norse computes it in float32, is a power of two)."""
    name = type(neuron).__name__
    if name not in ("LIFBox", "LIFBoxCell"):
        raise _not_yet(f"Norse {name}")
    p = neuron.p
    step = float(neuron.dt if dt is None else dt)
    if p.reset_method.__name__ != "reset_value":
        raise _not_yet(f"Norse {name} with reset_method={p.reset_method.__name__}")
    if bool(torch.any(_value(p.v_leak) != 0)) or bool(torch.any(_value(p.v_reset) != 0)):
        raise _not_yet(f"Norse {name} with v_leak or v_reset != 0")
    k = _value(p.tau_mem_inv)
    if k.numel() != 1:
        raise _not_yet(f"Norse {name} with a per-neuron tau_mem_inv")
    gain = float(torch.tensor(step, dtype=torch.float32) * k.float())
    if gain <= 0 or math.frexp(gain)[0] != 0.5:
        raise _not_yet(f"Norse {name} with dt·tau_mem_inv = {gain:g} (not a power of two)")
    return LIF(tau=1.0 / gain, threshold=_value(p.v_th), reset="zero", strict=True)
