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


def charge(x: torch.Tensor, v: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Pre-reset membrane ``h_t`` from input ``x_t`` and post-reset membrane ``v_{t−1}``."""
    if p.form == "beta":
        return p.leak * v + x
    return v + (x - (v - p.v_reset)) / p.leak


def reset(h: torch.Tensor, s: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Post-reset membrane ``v_t`` from ``h_t`` and spikes ``s_t`` (differentiable in both)."""
    if p.detach_reset:
        s = s.detach()
    if p.reset == "zero":
        return h * (1 - s) + p.v_reset * s
    if p.reset == "subtract":
        return h - p.threshold * s
    return h


def rest(x: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Initial membrane ``[B, ...]`` for one time step of ``x``: the resting potential.

    The τ-form decays toward ``v_reset`` (SpikingJelly also starts there); the β-form decays
    toward 0 (snnTorch starts at 0).
    """
    v = torch.zeros_like(x)
    if p.form == "tau":
        v = v + p.v_reset
    return v


def lif_step(
    x: torch.Tensor, v: torch.Tensor, p: LIFParams
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step: returns ``(s_t, v_t, h_t)``: spikes, post-reset and pre-reset membrane."""
    h = charge(x, v, p)
    s = spike(h - p.threshold, p.surrogate, p.strict)
    v_new = reset(h, s, p)
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
