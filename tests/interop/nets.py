"""Small conv–LIF–pool–conv–LIF–pool–linear–LIF networks built by each peer (1×12×12 input)."""

from __future__ import annotations

import torch
from torch import nn

IN_SHAPE = (1, 12, 12)


def snntorch_net(reset: str = "zero", beta: float = 0.75) -> nn.Module:
    import snntorch as snn

    def leaky(**kw: object) -> nn.Module:
        return snn.Leaky(beta=beta, threshold=0.5, init_hidden=True, reset_mechanism=reset,
                         **kw)

    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), leaky(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), leaky(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 3 * 3, 5), leaky(output=True))


def spikingjelly_net(step_mode: str = "m") -> nn.Module:
    from spikingjelly.activation_based import functional, layer, neuron

    net = nn.Sequential(
        layer.SeqToANNContainer(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)),
        neuron.LIFNode(tau=2.0, v_threshold=0.5), layer.MaxPool2d(2),
        layer.Conv2d(4, 8, 3, padding=1), neuron.IFNode(), layer.AvgPool2d(2),
        layer.Flatten(), layer.Linear(8 * 3 * 3, 5), neuron.LIFNode(tau=2.0, v_threshold=0.5))
    if step_mode == "s":  # SeqToANNContainer is multi-step only: a plain single-step net
        net = nn.Sequential(
            layer.Conv2d(1, 4, 3, padding=1), layer.BatchNorm2d(4),
            neuron.LIFNode(tau=2.0, v_threshold=0.5), layer.MaxPool2d(2),
            layer.Conv2d(4, 8, 3, padding=1), neuron.IFNode(), layer.AvgPool2d(2),
            layer.Flatten(), layer.Linear(8 * 3 * 3, 5), neuron.LIFNode(tau=2.0, v_threshold=0.5))
    functional.set_step_mode(net, step_mode)
    randomize_bn(net)
    return net


def norse_net(lifted: bool = True) -> nn.Module:
    import norse.torch as norse

    def cell() -> nn.Module:
        p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(500.0), v_th=torch.tensor(0.5))
        return norse.LIFBoxCell(p, dt=1e-3)

    layers = [nn.Conv2d(1, 4, 3, padding=1), cell(), nn.MaxPool2d(2),
              nn.Conv2d(4, 8, 3, padding=1), cell(), nn.MaxPool2d(2),
              nn.Flatten(), nn.Linear(8 * 3 * 3, 5), cell()]
    if lifted:
        layers = [norse.Lift(m) for m in layers]
    return norse.SequentialState(*layers)


def strong(net: nn.Module, gain: float = 3.0) -> nn.Module:
    """Synaptic weights ×3 (PyTorch's initialisation is too weak for every layer of a tiny
    net to spike), so each neuron layer's spikes are compared."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(gain)
    return net


def randomize_bn(net: nn.Module) -> None:
    """Non-trivial running statistics, so a BatchNorm mapped wrongly shows."""
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.2)
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(m.num_features, generator=g))


PEERS = {
    "snntorch": ("snntorch", lambda: strong(snntorch_net())),
    "spikingjelly-m": ("spikingjelly", lambda: strong(spikingjelly_net("m"))),
    "spikingjelly-s": ("spikingjelly", lambda: strong(spikingjelly_net("s"))),
    "norse-lift": ("norse", lambda: strong(norse_net(True))),
    "norse-cells": ("norse", lambda: strong(norse_net(False))),
}
