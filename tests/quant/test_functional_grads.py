"""Quantizer gradients: STE masks, DuQ's a/c, LSQ's step, ReScaW's non-detached γ."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelite.quant.functional import get_quantizer

FAST = settings(max_examples=40, deadline=None)


@st.composite
def weights(draw, min_dims: int = 1, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Random Gaussian weights, sometimes with exact zeros and ±1 (clip edges) injected."""
    shape = draw(st.lists(st.integers(1, 5), min_size=min_dims, max_size=4))
    spread = draw(st.sampled_from([1e-3, 0.05, 0.3, 1.0, 4.0]))
    dtype = dtype or draw(st.sampled_from([torch.float32, torch.float64]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    w = torch.randn(shape, generator=g, dtype=dtype) * spread
    if draw(st.booleans()):
        flat = w.view(-1)
        for i, v in enumerate(draw(st.lists(st.sampled_from([0.0, 1.0, -1.0]), max_size=4))):
            flat[i % flat.numel()] = v
    return w


def backward(q, w, params, bits, seed=0):
    """Run ``fake`` with a random upstream gradient; return (upstream, w.grad)."""
    w = w.clone().requires_grad_()
    out = q.fake(w, params, bits)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=w.dtype)
    out.backward(g)
    return g, w.grad


def ste_round(y: torch.Tensor) -> torch.Tensor:
    return y + (torch.round(y) - y).detach()


# --------------------------------------------------------------------- STE masks
@FAST
@given(weights(), st.integers(1, 16))
def test_uniform_clipped_ste(w, bits):
    g, grad = backward(get_quantizer("uniform"), w, None, bits)
    assert torch.equal(grad, torch.where(w.abs() <= 1, g, torch.zeros_like(g)))


@FAST
@given(weights(min_dims=2), st.integers(1, 8), st.booleans(), st.sampled_from(["mean", "max"]))
def test_rescaw_ste_mask_on_w_over_gamma(w, bits, per_channel, gamma):
    q = get_quantizer("rescaw", per_channel=per_channel, gamma=gamma)
    g, grad = backward(q, w, None, bits)
    inside = (w / q.compute_gamma(w)).abs() <= 1
    assert torch.equal(grad, torch.where(inside, g, torch.zeros_like(g)))


@FAST
@given(weights(), st.integers(2, 16))
def test_duq_and_symmetric_masks(w, bits):
    duq = get_quantizer("duq")
    p = duq.init_params(w, bits)  # a == c, so dQ/dw = (c/a)·1[|w/a| ≤ 1] is exactly a mask
    g, grad = backward(duq, w, p, bits)
    assert torch.equal(grad, torch.where((w / p["a"]).abs() <= 1, g, torch.zeros_like(g)))
    sym = get_quantizer("symmetric", calibration="percentile")
    p = sym.init_params(w, bits)
    g, grad = backward(sym, w, p, bits)
    inside = (w / p["scale"]).abs() <= 2 ** (bits - 1) - 1
    assert torch.equal(grad, torch.where(inside, g, torch.zeros_like(g)))


@FAST
@given(weights())
def test_ternary_and_binary_pass_gradient_straight_through(w):
    for name, bits in (("ternary", 2), ("binary", 1)):
        g, grad = backward(get_quantizer(name), w, None, bits)
        assert torch.equal(grad, g)


# -------------------------------------------------------------------------- DuQ
def duq_relaxed(w, a, c, bits):
    """c·round((n−1)·clip(w/a, −1, 1))/(n−1) with a straight-through round."""
    n1 = 2 ** (bits - 1) - 1
    return c * ste_round(n1 * torch.clamp(w / a, -1, 1)) / n1


@settings(max_examples=60, deadline=None)
@given(weights(dtype=torch.float64), st.integers(2, 12),
       st.floats(0.05, 3.0), st.floats(-2.0, 2.0))
def test_duq_gradients_match_autograd_of_ste_relaxed_formula(w, bits, a0, c0):
    q = get_quantizer("duq")
    a, c = torch.tensor(a0, dtype=w.dtype, requires_grad=True), torch.tensor(c0, dtype=w.dtype,
                                                                           requires_grad=True)
    ww = w.clone().requires_grad_()
    out = q.fake(ww, {"a": a, "c": c}, bits)
    g = torch.randn(w.shape, dtype=w.dtype, generator=torch.Generator().manual_seed(1))
    out.backward(g)
    ra, rc = a.detach().clone().requires_grad_(), c.detach().clone().requires_grad_()
    rw = w.clone().requires_grad_()
    ref = duq_relaxed(rw, ra, rc, bits)
    ref.backward(g)
    assert torch.allclose(out, ref.detach(), rtol=1e-12, atol=1e-12)
    for got, want in ((ww.grad, rw.grad), (a.grad, ra.grad), (c.grad, rc.grad)):
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-12)
    # the closed forms of the module docstring
    n1, u = 2 ** (bits - 1) - 1, w / a0
    inside = u.abs() <= 1
    da = torch.where(inside, -(c0 / a0) * u, torch.zeros_like(u))
    dc = torch.round(n1 * u.clamp(-1, 1)) / n1
    assert torch.allclose(a.grad, (g * da).sum(), rtol=1e-9, atol=1e-12)
    assert torch.allclose(c.grad, (g * dc).sum(), rtol=1e-9, atol=1e-12)
    assert torch.allclose(ww.grad, torch.where(inside, g * c0 / a0, torch.zeros_like(g)))


def test_duq_per_channel_params_reduce_to_their_shape():
    w = torch.randn(4, 6, dtype=torch.float64)
    a = (torch.rand(4, 1, dtype=torch.float64) + 0.5).requires_grad_()
    c = (torch.rand(4, 1, dtype=torch.float64) + 0.5).requires_grad_()
    get_quantizer("duq").fake(w, {"a": a, "c": c}, 3).pow(2).sum().backward()
    ra, rc = a.detach().clone().requires_grad_(), c.detach().clone().requires_grad_()
    duq_relaxed(w, ra, rc, 3).pow(2).sum().backward()
    assert a.grad.shape == (4, 1) and torch.allclose(a.grad, ra.grad)
    assert torch.allclose(c.grad, rc.grad)


def test_duq_trains_a_and_c():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(16, 8) * 0.1)
    q = get_quantizer("duq")
    params = {k: torch.nn.Parameter(v) for k, v in q.init_params(w, 2).items()}
    opt = torch.optim.SGD([w, *params.values()], lr=0.05)
    before = {k: v.detach().clone() for k, v in params.items()}
    for _ in range(3):
        opt.zero_grad()
        (q.fake(w, params, 2) - 0.05).pow(2).sum().backward()
        opt.step()
    assert all(not torch.equal(params[k].detach(), before[k]) for k in ("a", "c"))


# -------------------------------------------------------------------------- LSQ
@settings(max_examples=60, deadline=None)
@given(weights(dtype=torch.float64), st.integers(2, 12), st.floats(0.2, 5.0))
def test_lsq_step_gradient_is_esser_formula(w, bits, step_mult):
    q = get_quantizer("lsq")
    s0 = q.init_params(w, bits)["step"] * step_mult
    step = s0.clone().requires_grad_()
    ww = w.clone().requires_grad_()
    g = torch.randn(w.shape, dtype=w.dtype, generator=torch.Generator().manual_seed(2))
    q.fake(ww, {"step": step}, bits).backward(g)
    qn, qp = 2 ** (bits - 1), 2 ** (bits - 1) - 1
    v = w / s0
    elem = torch.where(v <= -qn, torch.full_like(v, -qn),
                       torch.where(v >= qp, torch.full_like(v, qp), torch.round(v) - v))
    want = (g * elem).sum() / math.sqrt(w.numel() * qp)
    assert torch.allclose(step.grad, want, rtol=1e-9, atol=1e-12)
    assert torch.equal(ww.grad, torch.where((v > -qn) & (v < qp), g, torch.zeros_like(g)))


def test_lsq_matches_the_usual_round_pass_implementation():
    """Away from the clip edges, autograd of ``round_pass(clamp(w/s))·s`` with the
    gradient-scaled step gives the same gradients."""
    torch.manual_seed(3)
    w, bits = torch.randn(32, 9, dtype=torch.float64) * 0.2, 3
    q = get_quantizer("lsq")
    s0 = q.init_params(w, bits)["step"]
    qn, qp = 2 ** (bits - 1), 2 ** (bits - 1) - 1
    gs = 1 / math.sqrt(w.numel() * qp)
    s1, w1 = s0.clone().requires_grad_(), w.clone().requires_grad_()
    q.fake(w1, {"step": s1}, bits).pow(2).sum().backward()
    s2, w2 = s0.clone().requires_grad_(), w.clone().requires_grad_()
    s_scaled = (s2 - s2 * gs).detach() + s2 * gs
    (ste_round((w2 / s_scaled).clamp(-qn, qp)) * s_scaled).pow(2).sum().backward()
    assert torch.allclose(s1.grad, s2.grad) and torch.allclose(w1.grad, w2.grad)


# ------------------------------------------------------------- ReScaW with live γ
def ref_gamma(w, kind, per_channel, x=0.99):
    v = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
    if kind == "mean":
        r = v.abs().mean(dim=1)
    elif kind == "max":
        r = v.abs().amax(dim=1)
    else:
        r = torch.maximum(torch.quantile(v, 1 - x, dim=1).abs(), torch.quantile(v, x, dim=1).abs())
    return r.reshape((w.shape[0],) + (1,) * (w.dim() - 1)) if per_channel else r.reshape(())


@settings(max_examples=60, deadline=None)
@given(weights(min_dims=2, dtype=torch.float64), st.integers(1, 8),
       st.sampled_from(["mean", "max", "percentile"]), st.booleans())
def test_rescaw_live_gamma_matches_autograd(w, bits, kind, per_channel):
    q = get_quantizer("rescaw", gamma=kind, per_channel=per_channel, detach_gamma=False)
    g, grad = backward(q, w, None, bits, seed=4)
    s = 2**bits - 1
    rw = w.clone().requires_grad_()
    gamma = ref_gamma(rw, kind, per_channel).clamp_min(torch.finfo(w.dtype).tiny)
    ref = gamma * (2 / s * ste_round(s / 2 * (torch.clamp(rw / gamma, -1, 1) + 1)) - 1)
    ref.backward(g)
    assert torch.allclose(grad, rw.grad, rtol=1e-8, atol=1e-10)


def test_rescaw_gamma_gradient_formula_and_detach():
    torch.manual_seed(5)
    w, bits = torch.randn(3, 4, 3, 3, dtype=torch.float64) * 0.1, 3
    s = 2**bits - 1
    g = torch.randn_like(w)
    gamma0 = w.abs().mean()
    live = get_quantizer("rescaw", detach_gamma=False)
    gamma = gamma0.clone().requires_grad_()
    live.fake(w, {"gamma": gamma}, bits).backward(g)
    x = w / gamma0
    q = 2 / s * torch.round(s / 2 * (x.clamp(-1, 1) + 1)) - 1
    want = (g * (q - torch.where(x.abs() <= 1, x, torch.zeros_like(x)))).sum()
    assert torch.allclose(gamma.grad, want)
    frozen = gamma0.clone().requires_grad_()
    out = get_quantizer("rescaw").fake(w.clone().requires_grad_(), {"gamma": frozen}, bits)
    out.backward(g)
    assert frozen.grad is None


@pytest.mark.parametrize("name", ["uniform", "rescaw", "duq", "symmetric", "lsq"])
def test_no_grad_flows_without_inputs_requiring_it(name):
    q = get_quantizer(name)
    w = torch.randn(3, 3)
    assert not q.fake(w, q.init_params(w, 4), 4).requires_grad
