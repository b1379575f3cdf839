"""Neuron modules: equations, state handling, validation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikelite.core import IF, LIF, NEURONS, Flatten, TimeDistributed, create_neuron, reset_states
from spikelite.errors import SpikeliteError


def _ref_beta(x: torch.Tensor, beta: float, theta: float, reset: str) -> torch.Tensor:
    """Textbook loop written independently of spikelite.core.functional."""
    v = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        h = beta * v + x[t]
        s = (h >= theta).to(x.dtype)
        v = h * (1 - s) if reset == "zero" else (h - theta * s if reset == "subtract" else h)
        out.append(s)
    return torch.stack(out)


@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
@pytest.mark.parametrize("fused", [True, False])
def test_lif_beta_matches_textbook_loop(reset, fused):
    x = torch.rand(20, 3, 16, generator=torch.Generator().manual_seed(0))
    lif = LIF(beta=0.8, threshold=1.0, reset=reset, fused=fused)
    assert torch.equal(lif(x), _ref_beta(x, 0.8, 1.0, reset))


def test_lif_tau_form_hand_computed():
    # τ = 2, v_reset = 0: h = v + (x − v)/2. Constant x = 1.5: h1 = 0.75, h2 = 1.125 → spike, v = 0
    lif = LIF(tau=2.0, threshold=1.0, reset="zero")
    x = torch.full((4, 1, 1), 1.5)
    assert lif(x).flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    assert lif.mem.item() == 0.0


def test_if_neuron_integrates_without_leak():
    x = torch.full((5, 1, 1), 0.4)
    assert IF(threshold=1.0, reset="subtract")(x).flatten().tolist() == [0, 0, 1, 0, 1]


def test_state_is_kept_until_reset():
    lif = LIF(beta=1.0, threshold=1.0)
    x = torch.full((1, 1, 1), 0.6)
    assert lif(x).item() == 0.0
    assert lif(x).item() == 1.0  # membrane carried over from the first call
    reset_states(nn.Sequential(lif))
    assert lif.mem is None
    assert lif(x).item() == 0.0


def test_per_channel_parameters_and_learnable_leak():
    lif = LIF(beta=0.9, threshold=torch.tensor([0.5, 1.0, 2.0]), learn_leak=True, channels=3)
    assert isinstance(lif.leak, nn.Parameter) and lif.leak.shape == (3,)
    x = torch.rand(6, 2, 3, 4, 4, requires_grad=True)
    lif(x).sum().backward()
    assert lif.leak.grad is not None and lif.leak.grad.shape == (3,)
    assert x.grad is not None


def test_per_neuron_threshold_shape_checked():
    lif = LIF(threshold=torch.ones(5))
    with pytest.raises(SpikeliteError, match="threshold has shape"):
        lif(torch.rand(2, 1, 3, 4))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"threshold": 0.0}, "threshold must be a finite number > 0"),
        ({"threshold": -1.0}, "threshold must be a finite number > 0"),
        ({"beta": 1.5}, r"beta must lie in \[0, 1\]"),
        ({"beta": -0.1}, r"beta must lie in \[0, 1\]"),
        ({"tau": 0.0}, "tau must be a finite number > 0"),
        ({"reset": "bounce"}, "unknown reset mode 'bounce'"),
        ({"surrogate": "relu"}, "unknown surrogate 'relu'"),
        ({"beta": 0.5, "tau": 2.0}, "either beta"),
    ],
)
def test_bad_neuron_parameters(kwargs, match):
    with pytest.raises(SpikeliteError, match=match):
        LIF(**kwargs)


def test_input_must_be_time_major():
    with pytest.raises(SpikeliteError, match=r"time-major input \[T, B, features...\]"):
        LIF()(torch.rand(4, 8))


def test_neuron_registry():
    assert NEURONS.names() == ["if", "lif"]
    assert isinstance(create_neuron("lif", beta=0.9), LIF)
    with pytest.raises(SpikeliteError, match="unknown neuron 'alif'. Valid neuron names: if, lif"):
        create_neuron("alif")
    with pytest.raises(SpikeliteError, match="bad parameters for neuron 'lif'"):
        create_neuron("lif", betta=0.9)


def test_time_distributed_and_flatten():
    conv = nn.Conv2d(2, 4, 3, padding=1)
    td = TimeDistributed(conv)
    x = torch.rand(3, 5, 2, 6, 6)
    y = td(x)
    assert y.shape == (3, 5, 4, 6, 6)
    torch.testing.assert_close(y[1], conv(x[1]))
    assert Flatten()(y).shape == (3, 5, 4 * 36)
