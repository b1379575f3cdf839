"""Conversion of each peer's network: bit-identical per neuron layer and at the output."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.interop import ConvertedSequential, from_foreign

from .nets import IN_SHAPE, PEERS, snntorch_net, strong


def _peer(key: str) -> nn.Module:
    package, build = PEERS[key]
    pytest.importorskip(package)
    torch.manual_seed(0)
    return build()


def _foreign_run(net: nn.Module, x: torch.Tensor, key: str) -> torch.Tensor:
    """The peer network's output the way its users call it."""
    net.eval()
    with torch.no_grad():
        if key == "snntorch":
            import snntorch.utils

            snntorch.utils.reset(net)
            return torch.stack([net(x_t)[0] for x_t in x])
        if key.startswith("spikingjelly"):
            from spikingjelly.activation_based import functional

            functional.reset_net(net)
            if key.endswith("-m"):
                return net(x)
            return torch.stack([net(x_t) for x_t in x])
        if key == "norse-lift":  # the last Lift(cell) returns (spikes, state) too
            return net(x)[0][0]
        state, outs = None, []
        for x_t in x:
            y, state = net(x_t, state)
            outs.append(y)
        return torch.stack(outs)


@pytest.mark.parametrize("key", sorted(PEERS))
def test_conversion_is_bit_identical(key: str) -> None:
    net = _peer(key)
    model = from_foreign(net, input_shape=IN_SHAPE, time_steps=5)
    assert isinstance(model, ConvertedSequential)
    assert [type(m) for m in model.children() if isinstance(m, LIF)]
    assert any(isinstance(m, Flatten) for m in model.children())
    # every neuron layer fired during the check: it compared real spikes, not zeros
    assert all(n > 0 for n in model.conversion_check["spikes"].values())
    # and on inputs it never saw: analog currents, strong enough to drive every layer
    g = torch.Generator().manual_seed(7)
    for scale in (1.0, 3.0):
        x = torch.rand(6, 3, *IN_SHAPE, generator=g) * scale
        with torch.no_grad():
            ours = model.eval()(x)
        assert torch.equal(ours, _foreign_run(net, x, key))


def test_user_sample_in_batch_major_layout() -> None:
    pytest.importorskip("spikingjelly")
    net = _peer("spikingjelly-m")

    class BatchFirst(nn.Module):  # a user module whose forward takes [B, T, ...]
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x.transpose(0, 1)).transpose(0, 1)

    x = (torch.rand(3, 4, *IN_SHAPE, generator=torch.Generator().manual_seed(3)) < 0.6).float()
    model = from_foreign(BatchFirst(), x * 3, input_layout="BT")
    assert model.input_shape == IN_SHAPE
    with torch.no_grad():
        assert torch.equal(model.eval()(x.transpose(0, 1)),
                           BatchFirst().eval()(x).transpose(0, 1))


def test_snntorch_custom_forward_loop_with_a_view() -> None:
    """The tutorials' user module: a forward looping over time, ``x.view(B, -1)`` instead of
    an nn.Flatten, returning (spikes, membranes)."""
    snn = pytest.importorskip("snntorch")

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3)
            self.lif1 = snn.Leaky(beta=0.5, threshold=0.3, reset_mechanism="zero")
            self.fc1 = nn.Linear(4 * 10 * 10, 5)
            self.lif2 = snn.Leaky(beta=0.5, threshold=0.3, reset_mechanism="zero")

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            mem1, mem2 = self.lif1.reset_mem(), self.lif2.reset_mem()
            spk_rec, mem_rec = [], []
            for x_t in x:
                spk1, mem1 = self.lif1(self.conv1(x_t), mem1)
                spk2, mem2 = self.lif2(self.fc1(spk1.view(x_t.shape[0], -1)), mem2)
                spk_rec.append(spk2)
                mem_rec.append(mem2)
            return torch.stack(spk_rec), torch.stack(mem_rec)

    torch.manual_seed(0)
    model = from_foreign(Net(), input_shape=IN_SHAPE, time_steps=4)
    assert [type(m).__name__ for m in model.children()] == [
        "TimeDistributed", "LIF", "Flatten", "TimeDistributed", "LIF"]


def test_snntorch_default_subtract_reset() -> None:
    pytest.importorskip("snntorch")
    torch.manual_seed(0)
    model = from_foreign(snntorch_net(reset="subtract"), input_shape=IN_SHAPE, time_steps=5)
    assert all(n > 0 for n in model.conversion_check["spikes"].values())


def test_layers_become_plain_torch_layers() -> None:
    net = _peer("spikingjelly-m")
    model = from_foreign(net, input_shape=IN_SHAPE, time_steps=3)
    inner = [type(m.module) for m in model.children() if isinstance(m, TimeDistributed)]
    assert inner == [nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.Conv2d, nn.AvgPool2d,
                     nn.Linear]
    assert net.training  # the user's network is left as it was


def test_unsupported_layer_is_named() -> None:
    snn = pytest.importorskip("snntorch")
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), snn.Leaky(beta=0.5, init_hidden=True,
                                                                  reset_mechanism="zero"))
    with pytest.raises(SpikeliteError, match=r"layer '1' is a torch.nn.modules.activation.ReLU"
                       r".*Supported layers: Conv2d, Linear"):
        from_foreign(net, input_shape=IN_SHAPE, time_steps=2)


def test_operation_outside_modules_is_refused() -> None:
    snn = pytest.importorskip("snntorch")

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(144, 4)
            self.lif = snn.Leaky(beta=0.5, threshold=0.1, init_hidden=True,
                                 reset_mechanism="zero")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([self.lif(torch.relu(self.fc(x_t.flatten(1)) - 0.05))
                                for x_t in x])

    with pytest.raises(SpikeliteError, match="does not reproduce Net.*outside them"):
        from_foreign(Net(), input_shape=IN_SHAPE, time_steps=4)


def test_unsupported_neuron_and_missing_input() -> None:
    snn = pytest.importorskip("snntorch")
    net = nn.Sequential(nn.Linear(4, 3), snn.Synaptic(alpha=0.5, beta=0.5, init_hidden=True))
    with pytest.raises(SpikeliteError, match="snnTorch Synaptic is not supported"):
        from_foreign(net, input_shape=(4,), time_steps=2)
    with pytest.raises(SpikeliteError, match="give sample_input, or input_shape"):
        from_foreign(net)
    with pytest.raises(SpikeliteError, match="no module of snnTorch, SpikingJelly or Norse"):
        from_foreign(nn.Sequential(nn.Linear(4, 3)), input_shape=(4,), time_steps=2)


def test_every_snntorch_reset_and_spikingjelly_neuron_converts() -> None:
    """core.peers' neurons: snnTorch reset_delay=False and reset_mechanism='none',
    SpikingJelly IFNode with v_reset ≠ 0 and ParametricLIFNode — bit-identical."""
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    for kw in ({"reset_delay": False}, {"reset_mechanism": "zero", "reset_delay": False},
               {"reset_mechanism": "none"}):
        net = nn.Sequential(nn.Linear(8, 6), snn.Leaky(beta=0.8, threshold=0.4,
                                                        init_hidden=True, **kw))
        with torch.no_grad():
            net[0].weight.mul_(3.0)
        model = from_foreign(net, input_shape=(8,), time_steps=6)
        assert model.conversion_check["spikes"]["1"] > 0
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron

    net = nn.Sequential(layer.Linear(8, 6), neuron.IFNode(v_threshold=0.5, v_reset=-0.25),
                        layer.Linear(6, 4), neuron.ParametricLIFNode(init_tau=3.0))
    functional.set_step_mode(net, "m")
    strong(net)
    model = from_foreign(net, input_shape=(8,), time_steps=6)
    assert all(n > 0 for n in model.conversion_check["spikes"].values())


def test_to_foreign_refuses_what_does_not_fit() -> None:
    """Writing back needs the network the model came from, with its neurons unchanged."""
    pytest.importorskip("snntorch")
    from spikelite.interop import to_foreign

    torch.manual_seed(0)
    net = snntorch_net()
    model = from_foreign(net, input_shape=IN_SHAPE, time_steps=3)
    with torch.no_grad():
        model[0].module.weight.mul_(0.5)
    to_foreign(model, net)  # fits: the weights go back, outputs equal
    assert torch.equal(net[0].weight, model[0].module.weight)
    other = nn.Sequential(*[nn.Conv2d(1, 6, 3, padding=1) if i == 0 else m
                            for i, m in enumerate(snntorch_net())])
    with pytest.raises(SpikeliteError, match=r"layer '0' \(Conv2d, weight \[4, 1, 3, 3\]\) "
                                             r"does not fit"):
        to_foreign(model, other)
    wrapped = nn.Module()
    wrapped.body = snntorch_net()  # other module names: 'body.0', ...
    with pytest.raises(SpikeliteError, match="layer '0' has no module of that name"):
        to_foreign(model, wrapped)
    model[1].threshold.fill_(0.9)
    with pytest.raises(SpikeliteError, match="neuron layer '1' no longer equals the Leaky"):
        to_foreign(model, net)
