"""The Triton LIF kernel equals the PyTorch fused kernel, run by the Triton interpreter.

``TRITON_INTERPRET=1`` is set for this module only (a module fixture; ``triton.jit``
reads it when the kernels are built, and :mod:`spikelite.core.triton_lif` keeps one kernel
set per mode), so the kernels run on CPU tensors with numpy, op by op, in float32.

Forward: spikes, every step's pre-reset membrane and ``v_T`` bit-identical
(``torch.equal``) to :func:`spikelite.core.fused.lif_multistep_fused` on adversarial inputs:
each ``x_t`` is built from the state so that ``h_t`` lands on θ, one or two float32 ulps
either side, or anywhere in ``[−θ/2, 3θ]`` (as in ``tests/core/test_peers.py``).
Gradients (x, v0, a learnable leak): equal to the fused kernel's up to float32 rounding,
``rtol=1e-4, atol=1e-5`` (the two backward passes sum in different orders).

The interpreter cannot show FMA contraction or approximate division (numpy does neither);
the kernel disables both (``enable_fp_fusion=False``, ``div_rn``), and a GPU run of
``benchmarks/bench_lif_cuda.py`` checks equality on CUDA.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("triton", reason="triton is not installed (pip install 'spikelite[triton]')")

from spikelite.core import LIF, LIFParams, get_surrogate
from spikelite.core.functional import charge, lif_step, rest
from spikelite.core.fused import lif_multistep_fused, lif_multistep_fused_trace
from spikelite.core.surrogates import Surrogate
from spikelite.errors import SpikeliteError

T, B, C, F = 6, 3, 4, 5  # x: [T, B, C, F]


@pytest.fixture(autouse=True, scope="module")
def _interpret():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRITON_INTERPRET", "1")
        yield


def _tl():
    from spikelite.core import triton_lif

    return triton_lif


# form, leak, extra keywords: every leak form and timing the fused kernel has
VARIANTS = [
    ("beta", 0.7, {}),
    ("beta", 0.7, {"reset_timing": "delayed"}),
    ("beta", 0.7, {"reset_timing": "mixed"}),
    ("tau", 3.0, {}),
    ("tau", 3.0, {"decay_input": False}),
    ("tau_inv", 0.3, {"v_leak": -0.1}),
    ("tau_inv", 0.3, {"decay_input": False}),
    ("box", 0.2, {"v_leak": 0.05}),
]
IDS = ["beta", "beta-delayed", "beta-mixed", "tau", "tau-nodecay", "tauinv-vleak",
       "tauinv-nodecay", "box"]
RESETS = ["zero", "subtract", "none"]


def _per(kind: str, value: float, g: torch.Generator, lo: float, hi: float
         ) -> float | torch.Tensor:
    """A parameter as a scalar, per channel ``[C, 1]`` or per neuron ``[C, F]``."""
    if kind == "scalar":
        return value
    shape = (C, 1) if kind == "channel" else (C, F)
    return (value * (1 + (torch.rand(shape, generator=g) - 0.5) * 0.4)).clamp(lo, hi)


def _params(form: str, leak: float, extra: dict, reset: str, kind: str = "scalar",
            strict: bool = False, surrogate: Surrogate | None = None,
            detach: bool = False, learn: bool = False, seed: int = 0) -> LIFParams:
    g = torch.Generator().manual_seed(seed)
    hi = 1.0 if form != "tau" else 50.0
    lk = _per(kind, leak, g, 1e-3, hi)
    if learn:
        lk = torch.as_tensor(lk, dtype=torch.float32).clone().requires_grad_()
    timing = extra.get("reset_timing", "immediate")
    v_reset = 0.0 if timing != "immediate" or reset != "zero" else _per(kind, 0.1, g, -1, 1)
    return LIFParams(form=form, leak=lk, threshold=_per(kind, 1.0, g, 0.2, 5.0),
                     v_reset=v_reset, reset=reset, strict=strict, detach_reset=detach,
                     surrogate=surrogate or get_surrogate("atan"), **extra)


def _theta(p: LIFParams) -> torch.Tensor:
    return torch.as_tensor(p.threshold, dtype=torch.float32).expand(B, C, F)


def _adversarial(p: LIFParams, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x [T, B, C, F], v0)`` driving ``h_t`` onto θ, θ ± 1 or 2 ulps, or anywhere in
    ``[−θ/2, 3θ]``: ``x_t = (target − h(x=0)) / (∂h/∂x)`` from the reference state."""
    g = torch.Generator().manual_seed(seed)
    shape = (B, C, F)
    th = _theta(p)
    up, dn = torch.full(shape, float("inf")), torch.full(shape, -float("inf"))
    near = [th, torch.nextafter(th, up), torch.nextafter(th, dn)]
    near += [torch.nextafter(near[1], up), torch.nextafter(near[2], dn)]
    v0 = rest(torch.zeros(shape), p) + 0.3 * torch.rand(shape, generator=g)
    v, xs = v0, []
    for _ in range(T):
        pick = torch.randint(0, 8, shape, generator=g)
        target = ((torch.rand(shape, generator=g, dtype=torch.float64) * 3.5 - 0.5)
                  * th.double())
        for i, t in enumerate(near):
            target = torch.where(pick == i, t.double(), target)
        zero = torch.zeros(shape)
        with torch.no_grad():
            h0 = charge(zero, v, p).double()
            slope = charge(torch.ones(shape), v, p).double() - h0
            x = ((target - h0) / slope).float()
            # one correction step (the division may land an ulp off the target)
            h = charge(x, v, p).double()
            x = (x.double() + (target - h) / slope).float()
            _, v, _ = lif_step(x, v, p)
        xs.append(x)
    return torch.stack(xs), v0


def _assert_forward_equal(x: torch.Tensor, v0: torch.Tensor, p: LIFParams) -> None:
    tl = _tl()
    assert tl.triton_unsupported(x, p) is None
    sf, vf, hf = lif_multistep_fused_trace(x, v0, p)
    st, vt, ht = tl.lif_multistep_triton_trace(x, v0, p)
    assert sf.sum() > 0 and (sf == 0).any(), "the input must make some neurons fire"
    assert torch.equal(st, sf), f"{int((st != sf).sum())} spikes differ"
    assert torch.equal(ht, hf), "pre-reset membranes differ"
    assert torch.equal(vt, vf), "final membranes differ"
    s2, v2 = tl.lif_multistep_triton(x, v0, p)  # the no-history path
    assert torch.equal(s2, sf) and torch.equal(v2, vf)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("kind", ["scalar", "channel", "neuron"])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_forward_bit_identical(variant, reset, kind, strict):
    form, leak, extra = variant
    p = _params(form, leak, extra, reset, kind, strict)
    x, v0 = _adversarial(p)
    _assert_forward_equal(x, v0, p)
    _, _, h = lif_multistep_fused_trace(x, v0, p)
    th = _theta(p)
    assert (h == th).any() and ((h - th).abs() < 3e-7 * th.abs()).sum() > h.numel() // 10, \
        "the adversarial inputs must land on θ and within ulps of it"


def _grads(fn, x, v0, p, leak=None):
    xs = x.clone().requires_grad_()
    vs = v0.clone().requires_grad_()
    s, v, h = fn(xs, vs, p)
    g = torch.Generator().manual_seed(7)
    gs, gv, gh = (torch.randn(t.shape, generator=g) for t in (s, v, h))
    ((s * gs).sum() + (v * gv).sum() + (h * gh).sum()).backward()
    out = [s, v, h, xs.grad, vs.grad]
    if leak is not None:
        out.append(leak.grad.clone())
        leak.grad = None
    return out


def _compare_grads(p: LIFParams, seed: int = 0) -> None:
    x, v0 = _adversarial(p, seed)
    leak = p.leak if isinstance(p.leak, torch.Tensor) and p.leak.requires_grad else None
    ref = _grads(lif_multistep_fused_trace, x, v0, p, leak)
    got = _grads(_tl().lif_multistep_triton_trace, x, v0, p, leak)
    for a, b in zip(got[:3], ref[:3], strict=True):
        assert torch.equal(a, b)
    for a, b in zip(got[3:], ref[3:], strict=True):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


SURS = ["atan", "triangle", "fast_sigmoid", "sigmoid", "rectangular"]


@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_gradients_equal(variant, reset, detach):
    """x, v0 and the trace's h gradients, every form/timing/reset, surrogates rotating."""
    form, leak, extra = variant
    sur = SURS[(VARIANTS.index(variant) + RESETS.index(reset)) % len(SURS)]
    p = _params(form, leak, extra, reset, "channel", surrogate=get_surrogate(sur),
                detach=detach)
    _compare_grads(p)


@pytest.mark.parametrize("sur,params", [
    ("atan", {"alpha": 3.0}), ("triangle", {"width": 0.5}), ("fast_sigmoid", {}),
    ("sigmoid", {"slope": 2.0}), ("rectangular", {"width": 0.8})])
@pytest.mark.parametrize("variant", [VARIANTS[0], VARIANTS[3]], ids=["beta", "tau"])
def test_every_surrogate(variant, sur, params):
    form, leak, extra = variant
    _compare_grads(_params(form, leak, extra, "zero", "neuron",
                           surrogate=get_surrogate(sur, **params)))


@pytest.mark.parametrize("kind", ["scalar", "channel", "neuron"])
@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_learnable_leak_gradient(variant, kind):
    form, leak, extra = variant
    reset = "subtract" if kind == "scalar" else "zero"
    _compare_grads(_params(form, leak, extra, reset, kind, learn=True))


def test_no_history_paths_and_observer():
    """Without gradients the kernel keeps no ``h``; the observer sees every step's h."""
    p = _params("tau", 2.0, {}, "zero", "channel")
    x, v0 = _adversarial(p)
    seen_ref, seen = [], []

    def obs(into):
        return lambda t, h, hp, s: into.append(
            (t, h.clone(), None if hp is None else hp.clone(), s.clone()))

    with torch.no_grad():
        sf, vf = lif_multistep_fused(x, v0, p, obs(seen_ref))
        st, vt = _tl().lif_multistep_triton(x, v0, p, obs(seen))
    assert torch.equal(st, sf) and torch.equal(vt, vf)
    assert len(seen) == T
    for a, b in zip(seen, seen_ref, strict=True):
        assert a[0] == b[0] and torch.equal(a[1], b[1]) and torch.equal(a[3], b[3])
        assert (a[2] is None) == (b[2] is None)
        assert a[2] is None or torch.equal(a[2], b[2])


def test_module_kernel_option():
    """``LIF(kernel=...)``: "triton" runs the kernel (here interpreted on CPU), "auto" keeps
    the PyTorch kernel on CPU; both give the same spikes and state."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(T, B, C, F, generator=g) * 1.5
    outs = {}
    for kernel in ("triton", "auto", "torch"):
        lif = LIF(tau=2.0, threshold=torch.tensor([0.5, 1.0, 1.5, 2.0]), learn_leak=True,
                  channels=C, kernel=kernel)
        xs = x.clone().requires_grad_()
        s = lif(xs)
        s.sum().backward()
        outs[kernel] = (s, lif.mem, xs.grad, lif.leak.grad)
        assert lif.last_kernel == ("triton" if kernel == "triton" else "torch")
    assert outs["auto"][0].sum() > 0
    for a, b in zip(outs["triton"], outs["torch"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert torch.equal(outs["triton"][0], outs["torch"][0])
    assert torch.equal(outs["triton"][1], outs["torch"][1])


def test_uncovered_configurations():
    """An uncovered configuration: "auto" falls back with the reason, "triton" refuses."""
    x = torch.rand(T, B, C, F)
    tl = _tl()
    assert "float32" in tl.triton_unsupported(x.double(), _params("beta", 0.5, {}, "zero"))
    assert "state_bits" in tl.triton_unsupported(
        x, LIFParams(state_bits=8, state_max=2.0))

    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Custom(Surrogate):
        name = "custom"

        def grad(self, u: torch.Tensor) -> torch.Tensor:
            return torch.ones_like(u)

    custom = LIFParams(surrogate=Custom())
    assert "Triton derivative" in tl.triton_unsupported(x, custom)
    lif = LIF(kernel="triton", state_bits=8)
    with pytest.raises(SpikeliteError, match="kernel='triton'.*state"):
        lif(x)
    lif = LIF(kernel="triton", surrogate=Custom())
    with pytest.raises(SpikeliteError, match="Triton derivative"):
        lif(x)
    with pytest.raises(SpikeliteError, match="unknown kernel"):
        LIF(kernel="cuda")
    ok = LIF(kernel="auto", surrogate=Custom())
    ok(x)
    assert ok.last_kernel == "torch" and ok.kernel_reason


@pytest.mark.parametrize("reset", RESETS)
def test_interpreter_off_refuses_cpu(reset, monkeypatch):
    """Outside the interpreter the kernel needs CUDA tensors: a clear error, not a crash."""
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    p = _params("beta", 0.5, {}, reset)
    x = torch.rand(T, B, C, F)
    assert "CUDA" in _tl().triton_unsupported(x, p)
    with pytest.raises(SpikeliteError, match="kernel='triton'.*CUDA"):
        LIF(beta=0.5, reset=reset, kernel="triton")(x)
    assert LIF(beta=0.5, reset=reset)(x).shape == x.shape

