"""QP-SNN's Spiking ResNet "20" (Wei et al., ICLR 2025, App. G Table 10).

Layout chosen (the one of the QP-SNN code-3rd, ``YunlinLiu/QP-SNN-Quantization-pass``):

* stem ``conv0`` 3×3, 3→64 (no bias) → BN → LIF;
* three stages of 3 BasicBlocks with 128 / 256 / 512 channels at H, H/2, H/4 (the first
  block of stages 2 and 3 has stride 2);
* BasicBlock (tdBN style, SEW-like "add, then fire"):
  ``lif2(bn2(conv2(lif1(bn1(conv1(x))))) + shortcut(x))``;
* **option-A shortcut** (``shortcut="pad"``, default): parameter-free; spatial subsampling
  ``x[..., ::2, ::2]`` when strided and zero-padding of the channels (split evenly before
  and after) when they grow; ``shortcut="conv"`` gives option B (1×1 conv + BN) instead;
* global average pool, flatten, one Linear read-out (no LIF after it).

With option A the full-precision count is exactly the paper's: **17,095,076** parameters
for CIFAR-100 (17.095 M, papers.md §1.14) and 17,048,906 (17.05 M) for CIFAR-10; option B
would add 173,824. The paper's *pruned* ResNet20 sizes (6.22 M for config a, 3.87 M for
config b) do **not** reproduce with Table 10's ratios on this layout (≈ 5.73 M / 3.47 M),
nor with 1×1/3×3 conv shortcuts — the official block structure is unknown (§1.14 finding 2).

``widths`` has 19 entries: ``conv0``, then ``conv1, conv2`` of each block in order
(layer1.0, layer1.1, layer1.2, layer2.0, …, layer3.2). A block's input channels are the
previous block's ``conv2`` width; option A pads or crops the identity path to fit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spikelite.core import Flatten, TimeDistributed
from spikelite.core.traits import CoupledResidualBlock, ZeroPadShortcut
from spikelite.errors import SpikeliteError
from spikelite.models.common import (
    QPSNN_NEURON,
    NeuronMaker,
    SpikingSequential,
    check_positive,
    check_widths,
    neuron_maker,
    pair,
    qpsnn_init,
)
from spikelite.models.registry import register_model

STAGES = ((128, 1), (256, 2), (512, 2))
BLOCKS_PER_STAGE = 3
RESNET20_WIDTHS = (64, *(w for w, _ in STAGES for _ in range(2 * BLOCKS_PER_STAGE)))


class PadShortcut(nn.Module, ZeroPadShortcut):
    """Option-A shortcut over ``[T, B, C, H, W]``: subsample by ``stride``, then zero-pad
    (or, if ``out_channels < in_channels``, crop) the channel axis, split evenly as
    ``F.pad`` in the QP-SNN code. Identity when shapes already match."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.stride = int(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[..., :: self.stride, :: self.stride]
        diff = self.out_channels - x.shape[2]
        if diff:
            x = F.pad(x, (0, 0, 0, 0, diff // 2, diff - diff // 2))
        return x

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class BasicBlock(nn.Module, CoupledResidualBlock):
    """Spiking BasicBlock: ``conv1/bn1/lif1 → conv2/bn2``, ``+ shortcut(x)``, ``lif2``."""

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        make: NeuronMaker,
        *,
        stride: int = 1,
        shortcut: str = "pad",
    ) -> None:
        super().__init__()
        self.conv1 = TimeDistributed(
            nn.Conv2d(in_channels, mid_channels, 3, stride=stride, padding=1, bias=False)
        )
        self.bn1 = TimeDistributed(nn.BatchNorm2d(mid_channels))
        self.lif1 = make(mid_channels)
        self.conv2 = TimeDistributed(
            nn.Conv2d(mid_channels, out_channels, 3, stride=1, padding=1, bias=False)
        )
        self.bn2 = TimeDistributed(nn.BatchNorm2d(out_channels))
        self.shortcut: nn.Module
        if shortcut == "pad":
            self.shortcut = PadShortcut(in_channels, out_channels, stride)
        elif stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                OrderedDict(
                    conv=TimeDistributed(
                        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
                    ),
                    bn=TimeDistributed(nn.BatchNorm2d(out_channels)),
                )
            )
        self.lif2 = make(out_channels)
        # its input is a residual sum: one addition per neuron-step, which the hardware
        # model charges with the cost option residual=count
        self.lif2.residual_input = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.lif1(self.bn1(self.conv1(x)))))
        return self.lif2(out + self.shortcut(x))


@register_model("resnet20", default_widths=RESNET20_WIDTHS)
def resnet20(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int | Sequence[int] = 32,
    widths: Sequence[int] | None = None,
    shortcut: str = "pad",
    neuron: str = "lif",
    neuron_kw: Mapping[str, Any] | None = None,
) -> SpikingSequential:
    """QP-SNN Spiking ResNet20: conv0 64 | 3×BasicBlock 128 | 3× 256 (/2) | 3× 512 (/2),
    global average pool, FC 512→classes (see the module docstring for the layout and the
    parameter-count caveat). ``shortcut``: ``"pad"`` (option A, default) or ``"conv"``
    (option B, 1×1 conv + BN). Neuron defaults: QP-SNN (β = 0.5, θ = 1, hard reset,
    triangle surrogate)."""
    ws = check_widths("resnet20", widths, RESNET20_WIDTHS)
    check_positive("resnet20", num_classes=num_classes, in_channels=in_channels)
    if shortcut not in ("pad", "conv"):
        raise SpikeliteError(f"resnet20: shortcut must be 'pad' or 'conv', got {shortcut!r}")
    hw = pair("resnet20", input_size)
    make = neuron_maker(neuron, QPSNN_NEURON, neuron_kw)
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        conv0=TimeDistributed(nn.Conv2d(in_channels, ws[0], 3, padding=1, bias=False)),
        bn0=TimeDistributed(nn.BatchNorm2d(ws[0])),
        lif0=make(ws[0]),
    )
    c_in, k = ws[0], 1
    for s, (_, stage_stride) in enumerate(STAGES, start=1):
        blocks = []
        for b in range(BLOCKS_PER_STAGE):
            stride = stage_stride if b == 0 else 1
            mid, out = ws[k], ws[k + 1]
            blocks.append(BasicBlock(c_in, mid, out, make, stride=stride, shortcut=shortcut))
            c_in, k = out, k + 2
        layers[f"layer{s}"] = nn.Sequential(*blocks)
    layers["avgpool"] = TimeDistributed(nn.AdaptiveAvgPool2d(1))
    layers["flatten"] = Flatten()
    layers["fc"] = TimeDistributed(nn.Linear(c_in, num_classes))
    model = SpikingSequential(layers, num_classes=num_classes, input_shape=(in_channels, *hw))
    qpsnn_init(model, linear_std=None)
    return model
