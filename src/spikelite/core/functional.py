"""Pure step functions of the LIF family (eager reference, differentiable by autograd).

All functions are time-major: a sequence is ``[T, B, ...]``; one step is ``[B, ...]``.
See :class:`spikelite.core.params.LIFParams` for the equations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from spikelite.core.params import LIFParams
from spikelite.core.state_quant import quantize_state
from spikelite.core.surrogates import spike
from spikelite.errors import SpikeliteError


def leak_target(p: LIFParams) -> float | torch.Tensor:
    """The potential the τ-forms decay toward: ``v_leak``, by default ``v_reset``."""
    return p.v_reset if p.v_leak is None else p.v_leak


def reset_flag(v: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """snnTorch's reset flag ``r = H(v − θ)`` from the stored membrane, as 0/1 in ``v``'s
    dtype and without gradient (snnTorch detaches it: ``mem_reset``)."""
    v = v.detach()
    return (v > p.threshold if p.strict else v >= p.threshold).to(v.dtype)


def charge(x: torch.Tensor, v: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Pre-reset membrane ``h_t`` from input ``x_t`` and the state ``v_{t−1}``, in the
    peers' operation order (see :class:`~spikelite.core.params.LIFParams`)."""
    k = p.leak
    if p.form == "beta":
        if p.reset_timing == "immediate" or p.reset == "none":
            return k * v + x  # snnTorch: beta * mem + input_
        r = reset_flag(v, p)
        if p.reset == "subtract":  # snnTorch _base_sub: (β·mem + x) − reset·θ
            return (k * v + x) - r * p.threshold
        return k * ((1 - r) * v) + x  # snnTorch _base_zero: mem = (1 − reset)·mem first
    vl = leak_target(p)
    if p.form == "tau":  # SpikingJelly LIFNode
        return v + (x - (v - vl)) / k if p.decay_input else v - (v - vl) / k + x
    if p.form == "tau_inv":  # SpikingJelly ParametricLIFNode (k = sigmoid(w))
        return v + (x - (v - vl)) * k if p.decay_input else v - (v - vl) * k + x
    return v + k * ((x + vl) - v)  # Norse LIFBox: v + dt·τ_mem_inv·(x + v_leak − v)


def reset(h: torch.Tensor, s: torch.Tensor, p: LIFParams,
          v_prev: torch.Tensor | None = None) -> torch.Tensor:
    """Post-reset membrane ``v_t`` from ``h_t`` and spikes ``s_t`` (differentiable in both).

    ``v_prev`` (the state ``v_{t−1}``) is needed for ``reset_timing="mixed"`` only (its
    flag ``r_t``); ``"delayed"`` keeps ``v_t = h_t`` (the reset acts at the next step).
    """
    if p.detach_reset:
        s = s.detach()
    if p.reset_timing == "delayed" or p.reset == "none":
        return h
    if p.reset_timing == "mixed":  # snnTorch reset_delay=False: do_reset = spk − reset
        if v_prev is None:
            raise SpikeliteError("reset_timing='mixed' needs the previous state v_prev")
        d = s - reset_flag(v_prev, p)
        return h - d * p.threshold if p.reset == "subtract" else h - d * h
    if p.reset == "zero":
        return h * (1 - s) + p.v_reset * s
    return h - p.threshold * s


def rest(x: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Initial membrane ``[B, ...]`` for one time step of ``x``: ``v_start`` if given, else
    the resting potential.

    The τ-forms decay toward ``v_leak`` (SpikingJelly starts at ``v_reset``, Norse at
    ``v_leak``); the β-form decays toward 0 (snnTorch starts at 0).
    """
    v = torch.zeros_like(x)
    if p.v_start is not None:
        return v + p.v_start
    if p.form != "beta":
        v = v + leak_target(p)
    return v


def lif_step(
    x: torch.Tensor, v: torch.Tensor, p: LIFParams
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step: returns ``(s_t, v_t, h_t)``: spikes, post-reset and pre-reset membrane."""
    h = charge(x, v, p)
    s = spike(h - p.threshold, p.surrogate, p.strict)
    v_new = reset(h, s, p, v)
    if p.state_bits is not None:
        v_new = quantize_state(v_new, p.state_bits, p.state_max)  # type: ignore[arg-type]
    return s, v_new, h


def lif_multistep_eager(
    x: torch.Tensor,
    v0: torch.Tensor | None,
    p: LIFParams,
    observer: Callable[[int, torch.Tensor, torch.Tensor | None, torch.Tensor], None]
    | None = None,
    *,
    trace: list[torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unfused reference over ``[T, B, ...]``: returns ``(spikes [T, B, ...], v_T)``.

    Iterates with ``unbind(0)`` (indexing a grad-requiring tensor per step makes the
    backward quadratic in T). ``observer(t, h_t, h_{t−1} or None, s_t)`` (opt-in) sees the
    pre-reset membrane of every step (:data:`spikelite.core.fused.StepObserver`), detached.
    ``trace`` (opt-in) receives every step's pre-reset membrane ``h_t`` still attached to
    the autograd graph (for membrane regularizers).
    """
    v = rest(x[0], p) if v0 is None else v0
    out = []
    h_prev: torch.Tensor | None = None
    for t, xt in enumerate(x.unbind(0)):
        s, v, h = lif_step(xt, v, p)
        out.append(s)
        if trace is not None:
            trace.append(h)
        if observer is not None:
            observer(t, h.detach(), h_prev, s.detach())
            h_prev = h.detach()
    return torch.stack(out), v
