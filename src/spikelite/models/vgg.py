"""QP-SNN's VGG family (Wei et al., ICLR 2025, App. G Tables 9 and 11): VGG-16 and VGGSNN.

Layout (papers.md §1.12/§1.14): 3×3 convs (padding 1), each followed by BN and LIF;
2×2 max-pools after the listed convs; then ``AvgPool2d(2)``, flatten and **one** Linear
read-out. Only the first conv has a bias (it is the full-precision input layer; the other
convs feed BN, so a bias would be redundant) — with this convention the paper's model sizes
come out exactly (VGG-16 CIFAR-10: 14,724,106 parameters = 14.72 M; the pruned sizes of
Tables 9 and 11 via :func:`~spikelite.models.widths_from_ratios`). Init as the QP-SNN code:
Kaiming fan-out convs, BN 1/0, read-out ``N(0, 0.01)``.

Module names: ``conv{i}``/``bn{i}``/``lif{i}`` (i = 1…n), ``pool{i}`` after conv i,
``avgpool``, ``flatten``, ``fc``; the real ``nn.Conv2d`` is ``conv{i}.module``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from spikelite.core import Flatten, TimeDistributed
from spikelite.models.common import (
    QPSNN_NEURON,
    SpikingSequential,
    check_positive,
    check_widths,
    conv_bn_lif,
    halve,
    neuron_maker,
    pair,
    pool2,
    qpsnn_init,
)
from spikelite.models.registry import register_model

VGG16_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
VGG16_POOLS = (2, 4, 7, 10)
VGGSNN_WIDTHS = (64, 128, 256, 256, 512, 512, 512, 512)
VGGSNN_POOLS = (2, 4, 6)


def build_vgg(
    name: str,
    *,
    widths: Sequence[int],
    pools_after: Sequence[int],
    num_classes: int,
    in_channels: int,
    input_size: int | Sequence[int],
    neuron: str,
    neuron_kw: Mapping[str, Any] | None,
    pool: str = "max",
) -> SpikingSequential:
    """Conv-BN-LIF stack with max-pools (``pool="avg"``: average pools) after
    ``pools_after`` (1-based conv indices), ``AvgPool2d(2)`` and a single Linear read-out."""
    check_positive(name, num_classes=num_classes, in_channels=in_channels)
    hw = pair(name, input_size)
    make = neuron_maker(neuron, QPSNN_NEURON, neuron_kw)
    pool2(name, pool)  # fail early on a bad name
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    c_in = in_channels
    for i, c in enumerate(widths, start=1):
        for key, mod in conv_bn_lif(c_in, c, make, bias=(i == 1)):
            layers[f"{key}{i}"] = mod
        if i in pools_after:
            layers[f"pool{i}"] = pool2(name, pool)
        c_in = c
    h, w = halve(name, hw, len(pools_after) + 1)
    layers["avgpool"] = TimeDistributed(nn.AvgPool2d(2))
    layers["flatten"] = Flatten()
    layers["fc"] = TimeDistributed(nn.Linear(c_in * h * w, num_classes))
    model = SpikingSequential(layers, num_classes=num_classes, input_shape=(in_channels, *hw))
    qpsnn_init(model)
    return model


@register_model("vgg16", default_widths=VGG16_WIDTHS)
def vgg16(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int | Sequence[int] = 32,
    widths: Sequence[int] | None = None,
    neuron: str = "lif",
    neuron_kw: Mapping[str, Any] | None = None,
    pool: str = "max",
) -> SpikingSequential:
    """QP-SNN VGG-16 (Table 9): 13 convs 64-64-M-128-128-M-256×3-M-512×3-M-512×3,
    AvgPool2d(2), FC. 32×32 input → FC 512→classes; 64×64 (TinyImageNet) → FC 2048→200.

    Neuron defaults: :data:`~spikelite.models.common.QPSNN_NEURON` (β = 0.5, θ = 1, hard
    reset, triangle surrogate, width 1). ``widths``: 13 output channel counts.
    ``pool="avg"``: average pools instead of max-pools.
    """
    return build_vgg(
        "vgg16",
        widths=check_widths("vgg16", widths, VGG16_WIDTHS),
        pools_after=VGG16_POOLS,
        num_classes=num_classes,
        in_channels=in_channels,
        input_size=input_size,
        neuron=neuron,
        neuron_kw=neuron_kw,
        pool=pool,
    )


@register_model("vggsnn", default_widths=VGGSNN_WIDTHS)
def vggsnn(
    *,
    num_classes: int = 10,
    in_channels: int = 2,
    input_size: int | Sequence[int] = 48,
    widths: Sequence[int] | None = None,
    neuron: str = "lif",
    neuron_kw: Mapping[str, Any] | None = None,
    pool: str = "max",
) -> SpikingSequential:
    """QP-SNN VGGSNN for DVS-CIFAR10 (Table 11): 2×48×48 input, 8 convs
    64-128-M-256-256-M-512-512-M-512-512, AvgPool2d(2) to 3×3, FC 4608→10.

    Neuron defaults as :func:`vgg16`. ``widths``: 8 output channel counts. ``pool="avg"``:
    average pools instead of max-pools.
    """
    return build_vgg(
        "vggsnn",
        widths=check_widths("vggsnn", widths, VGGSNN_WIDTHS),
        pools_after=VGGSNN_POOLS,
        num_classes=num_classes,
        in_channels=in_channels,
        input_size=input_size,
        neuron=neuron,
        neuron_kw=neuron_kw,
        pool=pool,
    )
