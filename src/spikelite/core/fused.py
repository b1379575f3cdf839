"""Fused multi-step LIF: one autograd node for the whole sequence.

The forward loops over T without recording a graph, writing into preallocated buffers
(no per-step allocation); it saves only the pre-reset membranes ``h`` (spikes are
recomputed from them). The backward is hand-written backpropagation through time.

With ``R_t = ∂v_t/∂h_t`` (reset path), ``a = ∂h_t/∂v_{t−1}`` and ``b = ∂h_t/∂x_t``
(β-form: ``a = β, b = 1``; τ-form: ``a = 1 − 1/τ, b = 1/τ``), the gradient of the
pre-reset membrane obeys

    g_h[t] = g_s[t]·σ'(h_t − θ) + g_v[t]·R_t,      g_v[t−1] = a·g_h[t],

so every term except the one-multiply-add recursion ``g_h[t−1] += g_h[t]·(a·R_{t−1})``
is computed for all time steps at once. ``R_t`` is ``1 − s_t`` (+ ``(v_reset − h_t)·σ'``
unless the reset is detached) for the zero reset, ``1`` (− ``θ·σ'``) for subtraction, and
``1`` without reset. The results equal autograd through
:func:`spikelite.core.functional.lif_multistep_eager` (tested with float64 ``gradcheck``).
"""

from __future__ import annotations

import torch

from spikelite.core.functional import rest
from spikelite.core.params import LIFParams


def _sum_to(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reduce a broadcast gradient to the shape of ``like`` (e.g. a per-channel β)."""
    if grad.shape == like.shape:
        return grad
    lead = grad.dim() - like.dim()
    g = grad.sum(dim=tuple(range(lead))) if lead > 0 else grad
    dims = tuple(i for i, n in enumerate(like.shape) if n == 1 and g.shape[i] != 1)
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    return g.reshape(like.shape)


def _spikes(h: torch.Tensor, p: LIFParams, out: torch.Tensor | None = None) -> torch.Tensor:
    if p.strict:
        return torch.gt(h, p.threshold, out=out) if out is not None else h > p.threshold
    return torch.ge(h, p.threshold, out=out) if out is not None else h >= p.threshold


def _post_reset(h: torch.Tensor, s: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Vectorised ``v = reset(h, s)`` with a float 0/1 ``s`` (same values as the loop)."""
    if p.reset == "zero":
        return torch.where(s.bool(), torch.as_tensor(p.v_reset, dtype=h.dtype), h)
    if p.reset == "subtract":
        return h - p.threshold * s
    return h


class FusedLIF(torch.autograd.Function):
    """``(x [T, B, ...], v0 [B, ...], leak) → (spikes [T, B, ...], v_T)``."""

    @staticmethod
    def forward(ctx, x, v0, leak, p: LIFParams):
        T = x.shape[0]
        h_all = torch.empty_like(x, memory_format=torch.contiguous_format)
        s_all = torch.empty_like(h_all)
        v = v0.clone(memory_format=torch.contiguous_format)
        tau_form = p.form == "tau"
        v_r = p.v_reset
        v_r_zero = not isinstance(v_r, torch.Tensor) and v_r == 0.0
        v_r_t = torch.as_tensor(v_r, dtype=x.dtype, device=x.device)
        lk = leak if leak.dim() > 0 else leak.item()
        fired = torch.empty(x.shape[1:], dtype=torch.bool, device=x.device)
        thr = p.threshold
        for t in range(T):
            h = h_all[t]
            if tau_form:  # h = v + (x − (v − v_reset)) / τ, in SpikingJelly's operation order
                if v_r_zero:
                    torch.sub(x[t], v, out=h)
                else:
                    torch.sub(v, v_r, out=h)
                    torch.sub(x[t], h, out=h)
                h.div_(lk).add_(v)
            else:  # h = β·v + x, in snnTorch's operation order
                torch.mul(v, lk, out=h).add_(x[t])
            _spikes(h, p, out=fired)
            s_all[t].copy_(fired)
            if p.reset == "zero":
                torch.where(fired, v_r_t, h, out=v)
            elif p.reset == "subtract":
                if isinstance(thr, torch.Tensor):
                    torch.sub(h, s_all[t] * thr, out=v)
                else:
                    torch.sub(h, s_all[t], alpha=thr, out=v)
            else:
                v.copy_(h)
        ctx.p = p
        ctx.save_for_backward(h_all, v0, leak)
        return s_all, v

    @staticmethod
    def backward(ctx, g_s, g_vT):
        h_all, v0, leak = ctx.saved_tensors
        p: LIFParams = ctx.p
        T = h_all.shape[0]
        sg = p.surrogate.grad(h_all - p.threshold)
        s = _spikes(h_all, p).to(h_all.dtype)
        # R = ∂v_t/∂h_t
        if p.reset == "zero":
            r = 1 - s
            if not p.detach_reset:
                r = r + (p.v_reset - h_all) * sg
        elif p.reset == "subtract" and not p.detach_reset:
            r = 1 - p.threshold * sg
        else:
            r = torch.ones_like(h_all)
        if p.form == "beta":
            a, b = leak, None
        else:
            a, b = 1 - 1 / leak, 1 / leak
        g_h = g_s * sg if g_s is not None else torch.zeros_like(h_all)
        if g_vT is not None:
            g_h[T - 1].addcmul_(g_vT, r[T - 1])
        ar = r.mul_(a)
        for t in range(T - 1, 0, -1):
            g_h[t - 1].addcmul_(g_h[t], ar[t - 1])
        g_x = g_h if b is None else g_h * b
        g_v0 = g_h[0] * a if ctx.needs_input_grad[1] else None
        g_leak = None
        if ctx.needs_input_grad[2]:
            v_all = _post_reset(h_all, s, p)
            v_prev = torch.cat([v0.unsqueeze(0), v_all[:-1]])
            if p.form == "beta":  # ∂h/∂β = v_{t−1}
                g_leak = _sum_to(g_h * v_prev, leak)
            else:  # ∂h/∂τ = −(h − v_{t−1})/τ
                g_leak = _sum_to(-g_h * (h_all - v_prev) / leak, leak)
        return g_x, g_v0, g_leak, None


def lif_multistep_fused(
    x: torch.Tensor, v0: torch.Tensor | None, p: LIFParams
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused equivalent of :func:`lif_multistep_eager`: ``(spikes [T, B, ...], v_T)``.

    Gradients flow to ``x``, ``v0`` and a tensor ``p.leak`` (learnable β or τ). A
    ``threshold`` or ``v_reset`` that requires grad is not supported here; the module
    falls back to the eager path for it.
    """
    if v0 is None:
        v0 = rest(x[0], p)
    leak = p.leak if isinstance(p.leak, torch.Tensor) else torch.tensor(
        p.leak, dtype=x.dtype, device=x.device
    )
    return FusedLIF.apply(x.contiguous(), v0, leak, p)
