"""Fused multi-step LIF: one autograd node for the whole sequence.

The forward loops over T without recording a graph, writing into preallocated buffers
(no per-step allocation, four tensor ops per step for the β-form with zero reset). It saves
the pre-reset membranes ``h`` (in blocks of steps) and the spikes it returns; without
gradients (``no_grad``, or inputs that need none) it keeps one step of ``h`` only. The
backward is hand-written backpropagation through time.

With ``R_t = ∂v_t/∂h_t`` (reset path), ``a = ∂h_t/∂v_{t−1}`` and ``b = ∂h_t/∂x_t``
(β-form: ``a = β, b = 1``; τ-form: ``a = 1 − 1/τ, b = 1/τ``), the gradient of the
pre-reset membrane obeys

    g_h[t] = g_s[t]·σ'(h_t − θ) + g_v[t]·R_t,      g_v[t−1] = a·g_h[t],

so every term except the one-multiply-add recursion ``g_h[t−1] += g_h[t]·(a·R_{t−1})``
is computed for many time steps at once. ``R_t`` is ``1 − s_t`` (+ ``(v_reset − h_t)·σ'``
unless the reset is detached) for the zero reset, ``1`` (− ``θ·σ'``) for subtraction, and
``1`` without reset; when ``R`` does not involve ``σ'`` the recursion masks ``g_h[t]``
with the spikes directly. The backward walks back through time in blocks of about
``_BLOCK_NUMEL`` elements with reused workspaces, so no temporary of the full
``[T, B, ...]`` size is allocated (on CPU a large allocation is fresh ``mmap`` memory
whose pages fault in again on every call, which costs as much as the arithmetic).

Reset and masking use arithmetic on the 0/1 spikes (``h − h·s``), which is exact and an
order of magnitude faster on CPU than ``torch.where``. The forward keeps the peers'
operation order, so spikes are bit-identical to the eager reference; gradients equal
autograd through :func:`spikelite.core.functional.lif_multistep_eager` up to rounding
(tested with float64 and ``gradcheck``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch

from spikelite.core.functional import (
    leak_target,
    lif_multistep_eager,
    reset_flag,
    rest,
)
from spikelite.core.params import LIFParams
from spikelite.core.surrogates import ATan, FastSigmoid, Rectangular, Sigmoid, Triangle
from spikelite.core.threads import LOOP_THREADS, intra_op_threads

#: Elements per backward block (2**19 float32 = 2 MiB per temporary).
_BLOCK_NUMEL = 1 << 19

#: ``observer(t, h_t, h_{t−1} or None, s_t)``, called after each step with the pre-reset
#: membrane (opt-in, e.g. for exact counting); the tensors are only valid during the call.
StepObserver = Callable[[int, torch.Tensor, torch.Tensor | None, torch.Tensor], None]
_ONE = torch.ones(())


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


def _sub_scaled(h: torch.Tensor, s: torch.Tensor, thr: torch.Tensor | float) -> None:
    """``h −= s·θ`` in place (``s`` 0/1: the product is exact)."""
    if isinstance(thr, torch.Tensor):
        h.sub_(s * thr)
    else:
        h.sub_(s, alpha=thr)


def _post_reset(h: torch.Tensor, s: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Vectorised ``v = reset(h, s)`` with a float 0/1 ``s`` (same values as the loop)."""
    if p.reset == "zero":
        return torch.where(s.bool(), torch.as_tensor(p.v_reset, dtype=h.dtype), h)
    if p.reset == "subtract":
        return h - p.threshold * s
    return h


def _scalar(t: torch.Tensor | float | None) -> torch.Tensor | float | None:
    """A 0-dim tensor as a Python number (cheaper in elementwise ops, same value)."""
    if isinstance(t, torch.Tensor) and t.dim() == 0:
        return t.item()
    return t


def _atan_(x: torch.Tensor, sur: ATan) -> torch.Tensor:
    # (α/2) / (1 + (π/2·α·x)²) as 1 / (1 + (π/2·α)²·x·x) · α/2: 3 ops instead of 5
    one = _ONE.to(dtype=x.dtype, device=x.device)
    torch.addcmul(one, x, x, value=(math.pi / 2 * sur.alpha) ** 2, out=x).reciprocal_()
    return x if sur.alpha == 2.0 else x.mul_(sur.alpha / 2)


def _triangle_(x: torch.Tensor, sur: Triangle) -> torch.Tensor:
    return x.abs_().neg_().add_(sur.width).clamp_min_(0).div_(sur.width)


def _fast_sigmoid_(x: torch.Tensor, sur: FastSigmoid) -> torch.Tensor:
    return x.abs_().mul_(sur.slope).add_(1).square_().reciprocal_()


def _sigmoid_(x: torch.Tensor, sur: Sigmoid) -> torch.Tensor:
    x.mul_(sur.slope).sigmoid_()
    one_minus = torch.rsub(x, 1)
    return x.mul_(sur.slope).mul_(one_minus)


def _rectangular_(x: torch.Tensor, sur: Rectangular) -> torch.Tensor:
    return torch.lt(x.abs_(), sur.width / 2, out=x).div_(sur.width)


#: In-place twins of the built-in surrogates' ``grad`` (the same formula; all but the
#: arctan also the same operations in the same order, so bit-identical;
#: ``tests/core/test_fused.py`` compares the fused gradients with autograd through
#: ``Surrogate.grad``). Other surrogates use their own ``grad``.
_SURROGATE_GRAD_ = {ATan: _atan_, Triangle: _triangle_, FastSigmoid: _fast_sigmoid_,
                    Sigmoid: _sigmoid_, Rectangular: _rectangular_}


def _surrogate_grad(h: torch.Tensor, p: LIFParams, ws: torch.Tensor) -> torch.Tensor:
    """``σ'(h − θ)``, computed in the workspace ``ws`` (shape of ``h``) where possible."""
    inplace = _SURROGATE_GRAD_.get(type(p.surrogate))
    if inplace is None:
        return p.surrogate.grad(h - p.threshold)
    return inplace(torch.sub(h, p.threshold, out=ws), p.surrogate)


def _blocks(T: int, step_numel: int) -> list[tuple[int, int]]:
    """Consecutive ``(t0, t1)`` time blocks of about ``_BLOCK_NUMEL`` elements (≥ 1 step)."""
    k = max(1, _BLOCK_NUMEL // max(1, step_numel))
    return [(t0, min(T, t0 + k)) for t0 in range(0, T, k)]


def _forward(
    x: torch.Tensor, v0: torch.Tensor, leak: torch.Tensor, p: LIFParams, save: bool,
    observer: StepObserver | None = None, loop_threads: int | None = LOOP_THREADS,
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """The LIF recursion: ``(spikes, v_T, h blocks)`` (``h`` kept only if ``save``).

    ``h`` is kept in blocks of :func:`_blocks` rather than one ``[T, B, ...]`` tensor: a
    block is small enough to be recycled by the allocator, one large tensor would be fresh
    pages (faulted in again) on every call. ``observer`` (opt-in) sees ``(t, h_t, h_{t−1},
    s_t)`` after every step; without ``save`` it costs a second ``h`` buffer. The loop runs
    with ``loop_threads`` intra-op threads (:mod:`spikelite.core.threads`).
    """
    with intra_op_threads(loop_threads, x.device):
        return _forward_loop(x, v0, leak, p, save, observer)


def _forward_loop(
    x: torch.Tensor, v0: torch.Tensor, leak: torch.Tensor, p: LIFParams, save: bool,
    observer: StepObserver | None,
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    T = x.shape[0]
    s_all = torch.empty_like(x, memory_format=torch.contiguous_format)
    if save:
        h_blocks = [torch.empty((t1 - t0, *x.shape[1:]), dtype=x.dtype, device=x.device)
                    for t0, t1 in _blocks(T, x.shape[1:].numel())]
        hs = [h for blk in h_blocks for h in blk.unbind(0)]
    elif observer is None:  # one step of h, reused
        h_blocks = []
        hs = [torch.empty(x.shape[1:], dtype=x.dtype, device=x.device)] * T
    else:  # two steps of h, alternating, so the observer also sees h_{t−1}
        h_blocks = []
        pair = [torch.empty(x.shape[1:], dtype=x.dtype, device=x.device) for _ in range(2)]
        hs = [pair[t % 2] for t in range(T)]
    v = v0.clone(memory_format=torch.contiguous_format)
    form, timing = p.form, p.reset_timing
    v_r = p.v_reset
    v_r_zero = not isinstance(v_r, torch.Tensor) and v_r == 0.0
    v_l = leak_target(p)
    v_l_zero = not isinstance(v_l, torch.Tensor) and v_l == 0.0
    lk = leak if leak.dim() > 0 else leak.item()
    thr = p.threshold
    # snnTorch's reset flag r_t = H(v_{t−1} − θ): for "delayed" the previous step's spike
    # (the state is the pre-reset membrane), for "mixed" recomputed from the state
    flag = reset_flag(v, p) if timing != "immediate" and p.reset != "none" else None
    h_prev: torch.Tensor | None = None
    for t, (xt, h, st) in enumerate(zip(x.unbind(0), hs, s_all.unbind(0), strict=True)):
        if form == "beta":  # snnTorch's operation order
            if flag is not None and p.reset == "zero":  # β·((1 − r)·v) + x
                torch.addcmul(v, v, flag, value=-1, out=h).mul_(lk).add_(xt)
            else:  # β·v + x (− r·θ)
                torch.mul(v, lk, out=h).add_(xt)
                if flag is not None:
                    _sub_scaled(h, flag, thr)
        elif form == "box":  # Norse: v + k·((x + v_leak) − v)
            if v_l_zero:
                torch.sub(xt, v, out=h)
            else:
                torch.add(xt, v_l, out=h).sub_(v)
            h.mul_(lk).add_(v)
        else:  # SpikingJelly: x − (v − v_leak), or −(v − v_leak) without decay_input
            if v_l_zero:
                torch.sub(xt, v, out=h) if p.decay_input else torch.neg(v, out=h)
            else:
                torch.sub(v, v_l, out=h)
                torch.sub(xt, h, out=h) if p.decay_input else h.neg_()
            # v + (x − (v − v_leak))/τ ; v − (v − v_leak)/τ + x (a − b = a + (−b) exactly)
            h.div_(lk) if form == "tau" else h.mul_(lk)
            h.add_(v)
            if not p.decay_input:
                h.add_(xt)
        _spikes(h, p, out=st)  # float 0/1 directly
        # the reset as arithmetic on the 0/1 spikes (exact; torch.where is ~10x slower)
        if timing == "delayed":
            v.copy_(h)
            if flag is not None:
                flag = st
        elif timing == "mixed":  # v = h − (s − r)·θ  or  h − (s − r)·h
            d = torch.sub(st, flag) if flag is not None else st
            if p.reset == "zero":
                torch.addcmul(h, d, h, value=-1, out=v)
            elif p.reset == "subtract":
                torch.sub(h, d * thr, out=v)
            else:
                v.copy_(h)
            if flag is not None:
                flag = reset_flag(v, p)
        elif p.reset == "zero":  # v = h − h·s (+ v_reset·s)
            torch.addcmul(h, h, st, value=-1, out=v)
            if isinstance(v_r, torch.Tensor):
                v.addcmul_(st, v_r)
            elif not v_r_zero:
                v.add_(st, alpha=v_r)
        elif p.reset == "subtract":
            if isinstance(thr, torch.Tensor):
                torch.sub(h, st * thr, out=v)
            else:
                torch.sub(h, st, alpha=thr, out=v)
        else:
            v.copy_(h)
        if observer is not None:
            observer(t, h, h_prev, st)
            h_prev = h
    return s_all, v, h_blocks


def _reset_complement(
    hb: torch.Tensor, sb: torch.Tensor, sg: torch.Tensor, p: LIFParams, ws: torch.Tensor
) -> torch.Tensor:
    """``1 − R`` (``R = ∂v/∂h`` through the reset, not detached) for a block, in ``ws``."""
    if p.reset == "zero":  # R = (1 − s) + (v_reset − h)·σ'
        v_r = p.v_reset
        if isinstance(v_r, torch.Tensor) or v_r != 0.0:
            w = torch.sub(hb, v_r, out=ws).mul_(sg)
        else:
            w = torch.mul(hb, sg, out=ws)
        return w.add_(sb)
    return torch.mul(sg, p.threshold, out=ws)  # subtract: R = 1 − θ·σ'


def _times_one_minus(w: torch.Tensor, a: torch.Tensor | float) -> torch.Tensor:
    """``a·(1 − w)``, in place of ``w``."""
    if isinstance(a, float):
        return w.mul_(-a).add_(a)
    return w.neg_().add_(1).mul_(a)


def _masked(g: torch.Tensor, s: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``g·(1 − s)`` for 0/1 spikes ``s``, exactly (``g − g·s``), in ``out``."""
    return torch.addcmul(g, g, s, value=-1, out=out)


def _grad_times_surrogate(
    g_s: torch.Tensor | None, t0: int, t1: int, hb: torch.Tensor, p: LIFParams,
    ws: torch.Tensor, out: torch.Tensor,
) -> None:
    """``out = g_s[t0:t1]·σ'(h − θ)``; for the arctan surrogate ``g_s·(α/2) / (1 + z²)``."""
    if g_s is None:
        out.zero_()
        return
    if type(p.surrogate) is ATan:  # 3 ops instead of 7 (same value up to rounding)
        alpha = p.surrogate.alpha
        u = torch.sub(hb, p.threshold, out=ws)
        one = _ONE.to(dtype=u.dtype, device=u.device)
        torch.addcmul(one, u, u, value=(math.pi / 2 * alpha) ** 2, out=u)
        torch.div(g_s[t0:t1], u, out=out)  # g_s / (1 + (π/2·α·u)²)
        if alpha != 2.0:
            out.mul_(alpha / 2)
        return
    torch.mul(g_s[t0:t1], _surrogate_grad(hb, p, ws), out=out)


def _coefficients(leak: torch.Tensor, p: LIFParams
                  ) -> tuple[torch.Tensor | float, torch.Tensor | float | None]:
    """``(a, b) = (∂h/∂v_{t−1}, ∂h/∂x_t)`` of the charge (``b = None``: 1)."""
    if p.form == "beta":
        return _scalar(leak), None
    k = 1 / leak if p.form == "tau" else leak
    return _scalar(1 - k), (_scalar(k) if p.decay_input else None)


def _leak_derivative(x: torch.Tensor, v_prev: torch.Tensor, leak: torch.Tensor,
                     p: LIFParams) -> torch.Tensor:
    """``∂h_t/∂leak`` of every step from the input and the state ``v_{t−1}``."""
    if p.form == "beta":  # h = β·v + x
        return v_prev
    vl = leak_target(p)
    if p.form == "box":  # h = v + k·((x + v_leak) − v)
        return (x + vl) - v_prev
    d = x - (v_prev - vl) if p.decay_input else -(v_prev - vl)
    return d if p.form == "tau_inv" else -d / (leak * leak)  # τ: h = v + d/τ


class FusedLIF(torch.autograd.Function):
    """``(x [T, B, ...], v0 [B, ...], leak) → (spikes [T, B, ...], v_T)``."""

    @staticmethod
    def forward(ctx, x, v0, leak, p: LIFParams, observer: StepObserver | None = None,
                loop_threads: int | None = LOOP_THREADS):
        s_all, v, h_blocks = _forward(x, v0, leak, p, save=_saves_h(p), observer=observer,
                                      loop_threads=loop_threads)
        ctx.p, ctx.loop_threads = p, loop_threads
        ctx.save_for_backward(_saved_input(x, leak, p), s_all, v0, leak, *h_blocks)
        return s_all, v

    @staticmethod
    def backward(ctx, g_s, g_vT):
        return (*_backward(ctx, g_s, g_vT, None), None)


class FusedLIFTrace(torch.autograd.Function):
    """``(x, v0, leak) → (spikes, v_T, h [T, B, ...])``: :class:`FusedLIF` that also returns
    the pre-reset membrane, differentiably (for membrane regularizers)."""

    @staticmethod
    def forward(ctx, x, v0, leak, p: LIFParams, observer: StepObserver | None = None,
                loop_threads: int | None = LOOP_THREADS):
        s_all, v, h_blocks = _forward(x, v0, leak, p, save=_saves_h(p), observer=observer,
                                      loop_threads=loop_threads)
        ctx.p, ctx.loop_threads = p, loop_threads
        ctx.save_for_backward(_saved_input(x, leak, p), s_all, v0, leak, *h_blocks)
        return s_all, v, _membrane(x, v0, leak, p, h_blocks)

    @staticmethod
    def backward(ctx, g_s, g_vT, g_h_out):
        return (*_backward(ctx, g_s, g_vT, g_h_out), None)


def _saves_h(p: LIFParams) -> bool:
    """The hand-written backward needs ``h``; snnTorch's ``"mixed"`` timing recomputes."""
    return p.reset_timing != "mixed"


def _saved_input(x: torch.Tensor, leak: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """``x`` when the backward needs it (a learnable leak, or a recomputed backward)."""
    if leak.requires_grad or not _saves_h(p):
        return x
    return x.new_empty(0)


def _membrane(x: torch.Tensor, v0: torch.Tensor, leak: torch.Tensor, p: LIFParams,
              h_blocks: list[torch.Tensor]) -> torch.Tensor:
    """``h [T, B, ...]``; for the recomputed timing, from the eager reference."""
    if h_blocks:
        return torch.cat(h_blocks)
    trace: list[torch.Tensor] = []
    lif_multistep_eager(x, v0, _with_leak(p, leak), trace=trace)
    return torch.stack(trace)


def _with_leak(p: LIFParams, leak: torch.Tensor) -> LIFParams:
    return dataclasses.replace(p, leak=leak if leak.dim() > 0 or leak.requires_grad
                               else leak.item())


def _recompute_backward(ctx: Any, g_s: torch.Tensor | None, g_vT: torch.Tensor | None,
                        g_h_out: torch.Tensor | None) -> tuple[Any, ...]:
    """Backward by autograd through the eager reference, recomputed from ``(x, v0, leak)``
    (snnTorch's ``"mixed"`` timing, whose flag depends on the post-reset state)."""
    x, _s, v0, leak, *_ = ctx.saved_tensors
    p: LIFParams = ctx.p
    need = ctx.needs_input_grad[:3]
    with torch.enable_grad():
        xs = x.detach().requires_grad_(need[0])
        v0s = v0.detach().requires_grad_(need[1])
        lk = leak.detach().requires_grad_(need[2])
        trace: list[torch.Tensor] = []
        s_all, v = lif_multistep_eager(xs, v0s, _with_leak(p, lk), trace=trace)
        outs, grads = [], []
        for out, g in ((s_all, g_s), (v, g_vT),
                       (torch.stack(trace) if trace else None, g_h_out)):
            if g is not None and out is not None and out.requires_grad:
                outs.append(out)
                grads.append(g)
        inputs = [t for t, n in zip((xs, v0s, lk), need, strict=True) if n]
        got = iter(torch.autograd.grad(outs, inputs, grads, allow_unused=True)
                   if outs and inputs else [None] * len(inputs))
    res = [next(got) if n else None for n in need]
    return (*res, None, None)


def _backward(ctx: Any, g_s: torch.Tensor | None, g_vT: torch.Tensor | None,
              g_h_out: torch.Tensor | None) -> tuple[Any, ...]:
    """BPTT through the LIF recursion; ``g_h_out``: an external gradient on every ``h_t``
    (added before it propagates back through ``v_{t−1}``)."""
    p: LIFParams = ctx.p
    if not _saves_h(p):
        return _recompute_backward(ctx, g_s, g_vT, g_h_out)
    x, s_all, v0, leak, *h_blocks = ctx.saved_tensors
    T = s_all.shape[0]
    if T == 0:  # v_T = v0
        g_leak = torch.zeros_like(leak) if ctx.needs_input_grad[2] else None
        return torch.zeros_like(s_all), g_vT, g_leak, None, None
    a, b = _coefficients(leak, p)
    threads = getattr(ctx, "loop_threads", LOOP_THREADS)
    delayed = p.reset_timing == "delayed"
    need_leak = ctx.needs_input_grad[2]
    # g_h is computed in place of g_x; the τ-form's factor b is applied per block unless
    # the leak gradient needs the unscaled g_h afterwards
    scale_now = b is not None and not need_leak
    g_h = torch.empty_like(s_all)
    blocks = _blocks(T, s_all[0].numel())
    # workspaces for one block, reused by every block (no allocation in the loop)
    ws_sg, ws_r = torch.empty_like(h_blocks[0]), torch.empty_like(h_blocks[0])
    # R independent of σ' (reset path detached, or no reset): only g_s·σ' is needed,
    # and the recursion masks g_h[t+1] with the spikes instead of building a·R
    # (snnTorch's delayed reset: the state is h itself, R = 1, and the recursion masks with
    # the detached flag r_{t+1} = s_t for the zero reset)
    simple = p.detach_reset or p.reset == "none" or delayed
    mask = p.reset == "zero"  # R = 1 − s (simple), else R = 1
    nxt = None  # unscaled g_h at the first step of the block after this one
    nxt_buf = torch.empty_like(s_all[0]) if scale_now else None
    for hb, (t0, t1) in zip(reversed(h_blocks), reversed(blocks), strict=True):
        n = t1 - t0
        sb, gb = s_all[t0:t1], g_h[t0:t1]
        if simple:
            _grad_times_surrogate(g_s, t0, t1, hb, p, ws_sg[:n], gb)
            if g_h_out is not None:
                gb.add_(g_h_out[t0:t1])
            if t1 == T and g_vT is not None:  # g_v[T−1] = g_vT
                gb[-1].add_(_masked(g_vT, sb[-1], ws_r[0]) if mask and not delayed else g_vT)
            with intra_op_threads(threads, gb.device):
                for j in range(n - 1, -1, -1):
                    if t0 + j == T - 1:
                        continue
                    g_next = gb[j + 1] if j + 1 < n else nxt
                    g_v = _masked(g_next, sb[j], ws_r[j]) if mask else g_next
                    if isinstance(a, float):
                        gb[j].add_(g_v, alpha=a)
                    else:
                        gb[j].addcmul_(g_v, a)
        else:
            sg = _surrogate_grad(hb, p, ws_sg[:n])
            if g_s is not None:
                torch.mul(g_s[t0:t1], sg, out=gb)
            else:
                gb.zero_()
            if g_h_out is not None:
                gb.add_(g_h_out[t0:t1])
            w = _reset_complement(hb, sb, sg, p, ws_r[:n])  # 1 − R
            if t1 == T and g_vT is not None:  # g_v[T−1] = g_vT: + g_vT·R
                gb[-1].add_(g_vT).addcmul_(g_vT, w[-1], value=-1)
            ar = _times_one_minus(w, a)  # a·R
            with intra_op_threads(threads, gb.device):
                for j in range(n - 1, -1, -1):
                    if t0 + j == T - 1:
                        continue
                    gb[j].addcmul_(gb[j + 1] if j + 1 < n else nxt, ar[j])
        if scale_now:
            nxt = nxt_buf.copy_(gb[0])
            gb.mul_(b)
        else:
            nxt = gb[0]
    g_x = g_h if b is None or scale_now else g_h * b
    flag0 = reset_flag(v0, p) if delayed and p.reset == "zero" else None
    g_v0 = None
    if ctx.needs_input_grad[1]:
        g_v0 = nxt * a if flag0 is None else _masked(nxt, flag0, torch.empty_like(nxt)) * a
    g_leak = None
    if need_leak:
        h_all = torch.cat(h_blocks)
        v_all = h_all if delayed else _post_reset(h_all, s_all, p)
        v_prev = torch.cat([v0.unsqueeze(0), v_all[:-1]])
        if flag0 is not None:  # β·((1 − r_t)·v_{t−1}): r_t = s_{t−1}, r_0 from v0
            v_prev = v_prev * (1 - torch.cat([flag0.unsqueeze(0), s_all[:-1]]))
        g_leak = _sum_to(g_h * _leak_derivative(x, v_prev, leak, p), leak)
    return g_x, g_v0, g_leak, None, None


def lif_multistep_fused(
    x: torch.Tensor, v0: torch.Tensor | None, p: LIFParams,
    observer: StepObserver | None = None, loop_threads: int | None = LOOP_THREADS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused equivalent of :func:`lif_multistep_eager`: ``(spikes [T, B, ...], v_T)``.

    Gradients flow to ``x``, ``v0`` and a tensor ``p.leak`` (learnable β or τ). A
    ``threshold`` or ``v_reset`` that requires grad is not supported here; the module
    falls back to the eager path for it. Without gradients the forward keeps no history.
    ``observer``: see :data:`StepObserver` (``None``: no cost). ``loop_threads``: intra-op
    threads of the per-step loops (:mod:`spikelite.core.threads`; ``None``: torch's).
    """
    x, v0, leak, track = _inputs(x, v0, p)
    if not track:
        s_all, v, _ = _forward(x, v0, leak, p, save=False, observer=observer,
                               loop_threads=loop_threads)
        return s_all, v
    return FusedLIF.apply(x, v0, leak, p, observer, loop_threads)


def _inputs(x: torch.Tensor, v0: torch.Tensor | None, p: LIFParams
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """``(x contiguous, v0 or rest, leak as a tensor, whether autograd must track)``."""
    if v0 is None:
        v0 = rest(x[0], p)
    leak = p.leak if isinstance(p.leak, torch.Tensor) else torch.tensor(
        p.leak, dtype=x.dtype, device=x.device
    )
    needs_grad = x.requires_grad or v0.requires_grad or leak.requires_grad
    return x.contiguous(), v0, leak, torch.is_grad_enabled() and needs_grad


def lif_multistep_fused_trace(
    x: torch.Tensor, v0: torch.Tensor | None, p: LIFParams,
    observer: StepObserver | None = None, loop_threads: int | None = LOOP_THREADS,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`lif_multistep_fused` that also returns the pre-reset membrane ``h``
    ``[T, B, ...]`` with gradients: ``(spikes, v_T, h)`` (one extra ``[T, B, ...]`` copy)."""
    x, v0, leak, track = _inputs(x, v0, p)
    if not track:
        s_all, v, h_blocks = _forward(x, v0, leak, p, save=_saves_h(p), observer=observer,
                                      loop_threads=loop_threads)
        return s_all, v, _membrane(x, v0, leak, p, h_blocks)
    return FusedLIFTrace.apply(x, v0, leak, p, observer, loop_threads)
