"""Channels-last feature maps: the neurons run on the NHWC view bit for bit, keep the
layout, and a channels-last model infers and counts exactly like the contiguous one when
its convolutions are exact."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

from spikelite.core import LIF, Flatten, MaxPool2d, TimeDistributed, reset_states
from spikelite.core.layout import (
    channels_last,
    contiguous,
    is_steps_channels_last,
    memory_order,
    steps_first,
    steps_last,
)
from spikelite.hardware import record_activity


def _cl(x: torch.Tensor) -> torch.Tensor:
    """``[T, B, C, H, W]`` with every step stored channels-last (same values)."""
    return steps_first(steps_last(x).contiguous())


def _input(seed: int = 0, shape: tuple[int, ...] = (6, 3, 4, 5, 7)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * 1.5


NEURONS = [
    dict(beta=0.5, reset="zero", strict=True, detach_reset=True),
    dict(beta=0.9),
    dict(beta=0.8, reset="subtract", reset_timing="delayed"),
    dict(beta=0.8, reset="zero", reset_timing="mixed"),
    dict(tau=2.0, reset="subtract"),
    dict(tau=2.0, v_reset=-0.2, reset="zero", decay_input=False),
    dict(tau_inv=0.3, form="box", v_leak=0.1, strict=True),
    dict(beta=0.9, reset="none"),
]


def test_layout_helpers():
    x = _input()
    y = _cl(x)
    assert torch.equal(x, y) and not y.is_contiguous() and is_steps_channels_last(y)
    assert not is_steps_channels_last(x) and not is_steps_channels_last(x[:, :, 0])
    assert steps_last(y).is_contiguous()
    s = (y[0] > 0).float()  # one step [B, C, H, W] of 0/1 (exact sums), channels-last
    assert s.is_contiguous(memory_format=torch.channels_last)
    flat = memory_order(s)
    assert flat.is_contiguous() and flat.shape[0] == s.shape[0]
    assert torch.equal(flat.reshape(s.shape[0], -1).sum(1), s.reshape(s.shape[0], -1).sum(1))
    assert memory_order(x) is x


@pytest.mark.parametrize("kw", NEURONS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("fused", [True, False])
def test_lif_bit_identical_on_channels_last_steps(kw, fused):
    x = _input()
    a, b = LIF(**kw, fused=fused), LIF(**kw, fused=fused)
    xa = x.clone().requires_grad_()
    xb = _cl(x).detach().requires_grad_()
    sa, sb = a(xa), b(xb)
    assert torch.equal(sa, sb)
    assert is_steps_channels_last(sb)  # the layout is kept: no copy for the next layer
    assert torch.equal(a.mem, b.mem)
    g = torch.randn_like(sa)
    (sa * g).sum().backward()
    (sb * g).sum().backward()
    assert torch.equal(xa.grad, xb.grad)
    # a second chunk of the stream continues from the stored membrane
    x2 = _input(1)
    assert torch.equal(a(x2), b(_cl(x2)))


def test_per_channel_learnable_leak_and_per_neuron_threshold():
    x = _input()
    C, H, W = x.shape[2:]
    thr = 0.5 + torch.rand(C, H, W)
    a = LIF(beta=torch.rand(C), learn_leak=True, threshold=thr)
    b = copy.deepcopy(a)
    xa, xb = x.clone().requires_grad_(), _cl(x).detach().requires_grad_()
    sa, sb = a(xa), b(xb)
    assert torch.equal(sa, sb)
    g = torch.randn_like(sa)
    (sa * g).sum().backward()
    (sb * g).sum().backward()
    assert torch.equal(xa.grad, xb.grad)
    # the leak's gradient is a sum over batch and positions, taken in memory order: equal
    # up to the rounding of that order
    torch.testing.assert_close(a.leak.grad, b.leak.grad, rtol=1e-5, atol=1e-6)


def test_observer_and_membrane_sink_see_the_logical_layout():
    x = _input()
    seen: dict[str, list] = {"a": [], "b": []}
    sunk: dict[str, torch.Tensor] = {}
    for key, inp in (("a", x), ("b", _cl(x))):
        n = LIF(beta=0.9)
        n.step_observer = lambda t, h, hp, s, key=key: seen[key].append(
            (t, h.clone(), None if hp is None else hp.clone(), s.clone()))
        n.membrane_sink = lambda h, key=key: sunk.__setitem__(key, h)
        n(inp)
    assert len(seen["a"]) == len(seen["b"]) == x.shape[0]
    for (ta, ha, pa, sa), (tb, hb, pb, sb) in zip(seen["a"], seen["b"], strict=True):
        assert ta == tb and ha.shape == hb.shape == x.shape[1:]
        assert torch.equal(ha, hb) and torch.equal(sa, sb)
        assert (pa is None) == (pb is None) and (pa is None or torch.equal(pa, pb))
    assert sunk["a"].shape == sunk["b"].shape == x.shape
    assert torch.equal(sunk["a"], sunk["b"])


def _exact_convnet() -> nn.Module:
    """A conv SNN whose convolutions are exact in any summation order (small integer
    weights on 0/1 inputs), so both layouts must give the same spikes bit for bit."""
    torch.manual_seed(0)
    c1, c2 = nn.Conv2d(2, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)
    bn = nn.BatchNorm2d(8)
    with torch.no_grad():
        for c in (c1, c2):
            c.weight.copy_(torch.randint(-2, 3, c.weight.shape).float())
            c.bias.copy_(torch.randint(-1, 2, c.bias.shape).float())
        bn.running_mean.copy_(torch.rand(8))
        bn.running_var.copy_(1 + torch.rand(8))
    return nn.Sequential(
        TimeDistributed(c1), TimeDistributed(bn), LIF(beta=0.5, threshold=2.0),
        TimeDistributed(MaxPool2d(2)), TimeDistributed(c2), LIF(beta=0.5, threshold=3.0),
        TimeDistributed(MaxPool2d(2)), Flatten(), TimeDistributed(nn.Linear(16 * 4 * 4, 3)),
    ).eval()


def _events(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(5, 4, 2, 16, 16, generator=g) < 0.3).float()


def test_channels_last_model_infers_and_counts_the_same():
    a = _exact_convnet()
    b = channels_last(copy.deepcopy(a))
    assert b[0].module.weight.is_contiguous(memory_format=torch.channels_last)
    x = _events()
    maps: list[torch.Tensor] = []
    hook = b[2].register_forward_hook(lambda _m, _i, out: maps.append(out))
    with torch.no_grad():
        reset_states(a)
        reset_states(b)
        assert torch.equal(a(x), b(x))
    hook.remove()
    assert is_steps_channels_last(maps[0])  # conv → BN → LIF stayed NHWC
    batches = [_events(1), _events(2)]
    ra = record_activity(a, batches, time_major=True, membrane_updates=True)
    rb = record_activity(b, batches, time_major=True, membrane_updates=True)
    assert ra.synaptic.keys() == rb.synaptic.keys() and ra.neurons == rb.neurons
    for name, sa in ra.synaptic.items():  # dataclasses holding a tensor: field by field
        sb = rb.synaptic[name]
        for f in dataclasses.fields(sa):
            va, vb = getattr(sa, f.name), getattr(sb, f.name)
            assert torch.equal(va, vb) if isinstance(va, torch.Tensor) else va == vb, f.name
    assert sum(n.spikes for n in ra.neurons.values()) > 0
    assert all(n.membrane_updates > 0 for n in ra.neurons.values())
    contiguous(b)
    assert b[0].module.weight.is_contiguous()


def test_channels_last_keeps_other_modules_alone():
    m = nn.Sequential(TimeDistributed(nn.Linear(6, 4)), LIF(beta=0.9))
    before = [p.clone() for p in m.parameters()]
    channels_last(m)
    x = torch.rand(3, 2, 6)
    assert m(x).shape == (3, 2, 4)
    assert all(torch.equal(p, q) for p, q in zip(m.parameters(), before, strict=True))


def test_flatten_returns_a_channels_last_gradient():
    x = _cl((_input() > 0).float()).requires_grad_()
    y = Flatten()(x)
    assert y.shape == (*x.shape[:2], x[0, 0].numel())
    assert torch.equal(y, x.detach().flatten(2))  # C, H, W order, as for NCHW
    g = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, g)
    assert is_steps_channels_last(gx) and torch.equal(gx, g.reshape(x.shape))
