"""Bit-identical spikes with snnTorch, SpikingJelly and Norse under equivalent settings.

Mapping (also in :mod:`spikelite.core.neurons`): see ../shared/neuron-conventions.md.
Skipped when the peer library is not installed.
"""

from __future__ import annotations

import pytest
import torch

from spikelite.core import LIF


def _inputs(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.8 * torch.randn(32, 16, 8, 6, 6, generator=g) + 0.3


@pytest.mark.parametrize("beta", [0.5, 0.9])
@pytest.mark.parametrize("threshold", [1.0, 0.5])
def test_snntorch_leaky_zero_reset(beta, threshold):
    snn = pytest.importorskip("snntorch")
    x = _inputs()
    leaky = snn.Leaky(beta=beta, threshold=threshold, reset_mechanism="zero")
    mem = leaky.init_leaky()
    ref = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            spk, mem = leaky(x[t], mem)
            ref.append(spk)
    ref = torch.stack(ref)
    ours = LIF(beta=beta, threshold=threshold, reset="zero", strict=True)(x)
    assert ref.sum() > 0
    assert torch.equal(ours, ref)


@pytest.mark.parametrize("tau", [2.0, 4.0])
@pytest.mark.parametrize("v_reset", [0.0, -0.2])
def test_spikingjelly_lifnode_multistep_hard_reset(tau, v_reset):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional, neuron

    x = _inputs(1)
    node = neuron.LIFNode(tau=tau, v_reset=v_reset, step_mode="m")
    with torch.no_grad():
        ref = node(x)
    functional.reset_net(node)
    ours = LIF(tau=tau, v_reset=v_reset, reset="zero")(x)
    assert ref.sum() > 0
    assert torch.equal(ours, ref)


def test_spikingjelly_lifnode_soft_reset_no_decay_input():
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import neuron

    x = _inputs(2)
    node = neuron.LIFNode(tau=2.0, decay_input=False, v_reset=None, step_mode="m")
    with torch.no_grad():
        ref = node(x)
    # SpikingJelly computes h = v − (v − 0)/τ + x; with τ = 2 that is exactly 0.5·v + x.
    ours = LIF(beta=0.5, reset="subtract")(x)
    assert torch.equal(ours, ref)


@pytest.mark.parametrize("tau_mem_inv,dt", [(500.0, 1e-3), (250.0, 1e-3)])
def test_norse_lifboxcell(tau_mem_inv, dt):
    pytest.importorskip("norse")
    from norse.torch import LIFBoxCell, LIFBoxParameters

    x = _inputs(3)
    cell = LIFBoxCell(
        LIFBoxParameters(tau_mem_inv=torch.tensor(tau_mem_inv), v_leak=torch.tensor(0.0),
                         v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0)),
        dt=dt,
    )
    state = None
    ref = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            z, state = cell(x[t], state)
            ref.append(z)
    ref = torch.stack(ref)
    tau = 1.0 / (dt * tau_mem_inv)
    ours = LIF(tau=tau, reset="zero", strict=True)(x)
    assert ref.sum() > 0
    assert torch.equal(ours, ref)
