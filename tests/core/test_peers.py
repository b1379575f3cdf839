"""``spikelite.core.peers``: the LIF equal to a peer's neuron, bit for bit, on adversarial
inputs.

Each input step ``x_t`` is built from the peer's own state ``v_{t−1}`` so that its pre-reset
membrane ``h_t`` lands on θ, one or two ulps either side of it, or (a third of the neurons)
anywhere in ``[−θ/2, 3θ]`` (resets of every kind, post-reset membranes above θ). A
mapping that rounds differently from the peer flips spikes here (the old mappings are
counted in ``test_old_mappings_flip``). Skipped when the peer library is not installed.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from spikelite.core import LIF
from spikelite.errors import SpikeliteError

T, SHAPE = 10, (4, 300)
Step = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _targets(theta: float, dtype: torch.dtype, g: torch.Generator) -> torch.Tensor:
    """Per neuron: θ, θ ± 1 ulp, θ ± 2 ulp (in ``dtype``) or a random membrane."""
    th = torch.full(SHAPE, theta, dtype=dtype)
    up, dn = torch.full_like(th, float("inf")), torch.full_like(th, -float("inf"))
    near = [th, torch.nextafter(th, up), torch.nextafter(th, dn)]
    near += [torch.nextafter(near[1], up), torch.nextafter(near[2], dn)]
    pick = torch.randint(0, 8, SHAPE, generator=g)
    out = (torch.rand(SHAPE, generator=g, dtype=torch.float64) * 3.5 - 0.5) * theta
    for i, t in enumerate(near):
        out = torch.where(pick == i, t.double(), out)
    return out


def _drive(step: Step, v0: torch.Tensor, inverse: Callable[[torch.Tensor, torch.Tensor],
           torch.Tensor], theta: float, dtype: torch.dtype, seed: int = 0
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, peer spikes, peer state)`` ``[T, *SHAPE]``: ``x_t = inverse(v_{t−1}, target)``
    with the peer's own state ``v_{t−1}``."""
    g = torch.Generator().manual_seed(seed)
    v, xs, ss, vs = v0, [], [], []
    with torch.no_grad():
        for _ in range(T):
            x = inverse(v.double(), _targets(theta, dtype, g)).to(dtype)
            s, v = step(x)
            xs.append(x)
            ss.append(s.to(dtype))
            vs.append(v.to(dtype))
    return torch.stack(xs), torch.stack(ss), torch.stack(vs)


def _check(lif: LIF, x: torch.Tensor, spikes: torch.Tensor, mem: torch.Tensor) -> None:
    """Spikes (whole sequence) and the state after every step (one step per call) equal
    the peer's, eager and fused."""
    if x.dtype == torch.float64:
        lif = lif.double()
    assert spikes.sum() > 0 and (spikes == 0).any()
    for fused in (False, True):
        lif.fused = fused
        lif.reset()
        with torch.no_grad():
            out = lif(x)
        assert torch.equal(out, spikes), f"fused={fused}: {int((out != spikes).sum())} flips"
        lif.reset()
        with torch.no_grad():
            for t in range(T):
                lif(x[t:t + 1])
                assert torch.equal(lif.mem, mem[t]), f"fused={fused}: membrane differs at t={t}"


DTYPES = [torch.float32, torch.float64]


# -- snnTorch ---------------------------------------------------------------------------
def _snntorch(beta: float | torch.Tensor, theta: float, reset: str, delay: bool,
              dtype: torch.dtype, **kw: object):
    snn = pytest.importorskip("snntorch")
    leaky = snn.Leaky(beta=beta, threshold=theta, reset_mechanism=reset, reset_delay=delay,
                      **kw)
    b = leaky.beta.detach().clamp(0, 1).double()
    th = float(leaky.threshold.detach())

    def inverse(v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        r = (v > th).double() if reset != "none" else torch.zeros_like(v)
        if reset == "subtract":
            return h - b * v + th * r
        if reset == "zero":
            return h - b * (1 - r) * v
        return h - b * v

    def step(x: torch.Tensor, state: dict = {}) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: B006
        spk, state["mem"] = leaky(x, state.get("mem", torch.zeros_like(x)))
        return spk, state["mem"]

    state: dict = {}
    x, s, v = _drive(lambda x: step(x, state), torch.zeros(SHAPE, dtype=dtype), inverse,
                     th, dtype)
    return leaky, x, s, v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reset,delay", [("subtract", True), ("zero", True), ("none", True),
                                         ("subtract", False), ("zero", False)])
@pytest.mark.parametrize("beta", [1 - 1 / 3, 0.9, 1 - 1 / 7])
def test_snntorch_leaky_exact(beta, reset, delay, dtype):
    from spikelite.core.peers import lif_from_snntorch

    leaky, x, s, v = _snntorch(beta, 1.0, reset, delay, dtype)
    _check(lif_from_snntorch(leaky), x, s, v)


def test_snntorch_learnable_tensor_beta_threshold_clamped():
    from spikelite.core.peers import lif_from_snntorch

    beta = torch.tensor([0.3, 1.2, 0.95] * 100)  # 1.2: clamped to 1 in every forward
    leaky, x, s, v = _snntorch(beta, 0.7, "subtract", True, torch.float32,
                               learn_beta=True, learn_threshold=True)
    lif = lif_from_snntorch(leaky)
    assert isinstance(lif.leak, torch.nn.Parameter) and lif.leak.shape == (300,)
    assert isinstance(lif.threshold, torch.nn.Parameter)
    assert float(lif.leak.detach().max()) == pytest.approx(1.2)
    _check(lif, x, s, v)


def test_snntorch_other_neuron_refused():
    snn = pytest.importorskip("snntorch")
    from spikelite.core.peers import lif_from_snntorch

    with pytest.raises(SpikeliteError, match="Synaptic.*supported: Leaky"):
        lif_from_snntorch(snn.Synaptic(alpha=0.9, beta=0.8))


# -- SpikingJelly ------------------------------------------------------------------------
def _sj_drive(node, charge_inverse, theta: float, dtype: torch.dtype, v_start: float):
    def step(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = node(x)
        return s, node.v

    return _drive(step, torch.full(SHAPE, v_start, dtype=dtype), charge_inverse, theta, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("v_reset", [0.0, -0.3, None])
@pytest.mark.parametrize("tau", [3.0, 7.0, 1.5])
def test_spikingjelly_lifnode_exact(tau, v_reset, decay_input, dtype):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import neuron

    from spikelite.core.peers import lif_from_spikingjelly

    node = neuron.LIFNode(tau=tau, decay_input=decay_input, v_reset=v_reset, v_threshold=0.7)
    vr = 0.0 if v_reset is None else v_reset

    def inverse(v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if decay_input:
            return tau * (h - v) + (v - vr)
        return h - v + (v - vr) / tau

    x, s, v = _sj_drive(node, inverse, 0.7, dtype, vr)
    _check(lif_from_spikingjelly(neuron.LIFNode(tau=tau, decay_input=decay_input,
                                                v_reset=v_reset, v_threshold=0.7)), x, s, v)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("v_reset", [0.4, None])
def test_spikingjelly_ifnode_exact(v_reset, dtype):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import neuron

    from spikelite.core.peers import lif_from_spikingjelly

    node = neuron.IFNode(v_reset=v_reset, v_threshold=0.7)
    x, s, v = _sj_drive(node, lambda v, h: h - v, 0.7, dtype,
                        0.0 if v_reset is None else v_reset)
    _check(lif_from_spikingjelly(neuron.IFNode(v_reset=v_reset, v_threshold=0.7)), x, s, v)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decay_input,v_reset", [(True, -0.3), (False, None)])
def test_spikingjelly_parametric_lif_exact(decay_input, v_reset, dtype):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import neuron

    from spikelite.core.peers import lif_from_spikingjelly

    node = neuron.ParametricLIFNode(init_tau=3.0, decay_input=decay_input, v_reset=v_reset)
    k = float(node.w.detach().sigmoid())
    vr = 0.0 if v_reset is None else v_reset

    def inverse(v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return (h - v) / k + (v - vr) if decay_input else h - v + (v - vr) * k

    x, s, v = _sj_drive(node, inverse, 1.0, dtype, vr)
    lif = lif_from_spikingjelly(node)
    assert isinstance(lif.leak, torch.nn.Parameter)  # w is learnable: so is 1/τ
    _check(lif, x, s, v)


# -- Norse -------------------------------------------------------------------------------
def _norse(tau_mem_inv: float, dt: float, v_leak: float, v_reset: float, subtract: bool,
           dtype: torch.dtype):
    pytest.importorskip("norse")
    from norse.torch import LIFBoxCell, LIFBoxParameters
    from norse.torch.functional.reset import reset_subtract, reset_value

    p = LIFBoxParameters(tau_mem_inv=torch.tensor(tau_mem_inv), v_leak=torch.tensor(v_leak),
                         v_th=torch.tensor(0.7), v_reset=torch.tensor(v_reset),
                         reset_method=reset_subtract if subtract else reset_value)
    cell = LIFBoxCell(p, dt=dt)
    k = float(dt * p.tau_mem_inv)
    vl = float(p.v_leak)
    state: list = [None]

    def step(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z, state[0] = cell(x, state[0])
        return z, state[0].v

    x, s, v = _drive(step, torch.full(SHAPE, vl, dtype=dtype),
                     lambda v, h: (h - v) / k + v - vl, float(p.v_th), dtype)
    return cell, x, s, v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("subtract", [False, True])
@pytest.mark.parametrize("tau_mem_inv,v_leak,v_reset", [(700.0, 0.0, 0.0),
                                                         (300.0, 0.1, -0.2),
                                                         (1000.0 / 7, -0.1, 0.05)])
def test_norse_lifboxcell_exact(tau_mem_inv, v_leak, v_reset, subtract, dtype):
    from spikelite.core.peers import lif_from_norse

    cell, x, s, v = _norse(tau_mem_inv, 1e-3, v_leak, v_reset, subtract, dtype)
    _check(lif_from_norse(cell), x, s, v)


# -- the old mappings fail these inputs ---------------------------------------------------
def test_old_mappings_flip():
    """The mappings documented before (β = 1 − 1/τ for SpikingJelly's no-decay soft reset,
    τ = 1/(dt·τ_mem_inv) for Norse, textbook subtract for snnTorch) flip spikes here."""
    pytest.importorskip("spikingjelly")
    pytest.importorskip("norse")
    from spikingjelly.activation_based import neuron

    node = neuron.LIFNode(tau=3.0, decay_input=False, v_reset=None)
    x, s, _ = _sj_drive(node, lambda v, h: h - v + v / 3.0, 1.0, torch.float32, 0.0)
    with torch.no_grad():
        old = LIF(beta=1 - 1 / 3.0, reset="subtract")(x)
    assert int((old != s).sum()) > 100

    _, x, s, _ = _norse(700.0, 1e-3, 0.0, 0.0, False, torch.float32)
    with torch.no_grad():
        old = LIF(tau=1 / (1e-3 * 700.0), threshold=0.7, reset="zero", strict=True)(x)
    assert int((old != s).sum()) > 100

    _, x, s, _ = _snntorch(0.9, 1.0, "subtract", True, torch.float32)
    with torch.no_grad():
        old = LIF(beta=0.9, reset="subtract", strict=True)(x)
    assert int((old != s).sum()) > 100


# -- fused gradients equal the eager reference ---------------------------------------------
@pytest.mark.parametrize("kw", [
    {"beta": 0.8, "reset": "subtract", "reset_timing": "delayed"},
    {"beta": 0.8, "reset": "zero", "reset_timing": "delayed"},
    {"beta": 0.8, "reset": "subtract", "reset_timing": "mixed"},
    {"beta": 0.8, "reset": "zero", "reset_timing": "mixed"},
    {"tau": 3.0, "decay_input": False, "reset": "subtract"},
    {"tau": 3.0, "decay_input": False, "reset": "zero", "v_reset": -0.2, "v_leak": 0.1},
    {"tau_inv": 0.3, "reset": "zero", "v_reset": -0.2},
    {"tau_inv": 0.3, "decay_input": False, "reset": "subtract"},
    {"tau_inv": 0.7, "form": "box", "reset": "zero", "v_leak": 0.1, "v_reset": -0.2},
    {"tau_inv": 0.7, "form": "box", "reset": "subtract", "detach_reset": True},
])
def test_fused_gradients_equal_eager(kw):
    g = torch.Generator().manual_seed(3)
    x0 = (torch.randn(12, 3, 40, generator=g, dtype=torch.float64) * 0.8 + 0.4)
    w = torch.randn(12, 3, 40, generator=g, dtype=torch.float64)
    grads = []
    for fused in (False, True):
        lif = LIF(learn_leak=True, channels=40, fused=fused, **kw).double()
        x = x0.clone().requires_grad_(True)
        v0 = torch.full((3, 40), 1.3, dtype=torch.float64)  # above θ: the flag at t = 0
        lif.mem = v0
        out = lif(x)
        (out * w).sum().backward()
        grads.append((out.detach(), x.grad, lif.leak.grad))
    (s_e, gx_e, gl_e), (s_f, gx_f, gl_f) = grads
    assert torch.equal(s_e, s_f)
    assert gx_e.abs().sum() > 0 and gl_e.abs().sum() > 0
    torch.testing.assert_close(gx_f, gx_e, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gl_f, gl_e, rtol=1e-10, atol=1e-12)


def test_bad_settings_refused():
    with pytest.raises(SpikeliteError, match="reset_timing='delayed'.*beta form"):
        LIF(tau=3.0, reset_timing="delayed")
    with pytest.raises(SpikeliteError, match="unknown reset_timing"):
        LIF(beta=0.5, reset_timing="late")
    with pytest.raises(SpikeliteError, match="decay_input=False"):
        LIF(beta=0.5, decay_input=False)
    with pytest.raises(SpikeliteError, match="form='box'"):
        LIF(tau=3.0, form="box")
    with pytest.raises(SpikeliteError, match="1/tau must lie in"):
        LIF(tau_inv=1.5)
