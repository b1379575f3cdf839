"""Small convolutional SNN for 2×34×34 event frames: the default demo model."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from spikelite.core import Flatten, TimeDistributed
from spikelite.models.common import (
    SpikingSequential,
    check_positive,
    check_widths,
    conv_bn_lif,
    halve,
    neuron_maker,
    pair,
    pool2,
)
from spikelite.models.mlp import DEMO_NEURON
from spikelite.models.registry import register_model

CSNN_WIDTHS = (16, 32)


@register_model("csnn", default_widths=CSNN_WIDTHS)
def csnn(
    *,
    num_classes: int = 10,
    in_channels: int = 2,
    input_size: int | Sequence[int] = 34,
    widths: Sequence[int] | None = None,
    neuron: str = "lif",
    neuron_kw: Mapping[str, Any] | None = None,
    pool: str = "max",
) -> SpikingSequential:
    """``[Conv3×3 → BN → LIF → MaxPool2] × 2 → Flatten → Linear`` (2→16→32 channels).

    Sized for the embedded ``digits-dvs`` demo (N-MNIST layout, 34×34, T = 10): small enough
    to train to ≥ 90 % in a minute or two on two CPU cores. Neuron defaults:
    :data:`~spikelite.models.mlp.DEMO_NEURON` (β = 0.9, hard reset, ATan). ``pool="avg"``:
    2×2 average pools instead (:func:`~spikelite.models.common.pool2`).
    """
    ws = check_widths("csnn", widths, CSNN_WIDTHS)
    check_positive("csnn", num_classes=num_classes, in_channels=in_channels)
    hw = pair("csnn", input_size)
    make = neuron_maker(neuron, DEMO_NEURON, neuron_kw)
    pool2("csnn", pool)  # fail early on a bad name
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    c_in = in_channels
    for i, c in enumerate(ws, start=1):
        for key, mod in conv_bn_lif(c_in, c, make):
            layers[f"{key}{i}"] = mod
        layers[f"pool{i}"] = pool2("csnn", pool)
        c_in = c
    h, w = halve("csnn", hw, len(ws))
    layers["flatten"] = Flatten()
    layers["fc"] = TimeDistributed(nn.Linear(c_in * h * w, num_classes))
    return SpikingSequential(layers, num_classes=num_classes, input_shape=(in_channels, *hw))
