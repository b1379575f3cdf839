"""TCJA-SNN for DVS128 Gesture, as used by Schaefer et al. (ISCAS 2023; papers.md §2.3).

Zhu et al.'s "Temporal-Channel Joint Attention" network (``CextNet``), following the Flax
port in ``Intelligent-Microsystems-Lab/SNNQuantPrune`` (``examples/tcja/models.py``):

* 5 blocks ``Conv3×3 (no bias, 128 ch) → BN → LIF [→ TCJA] → MaxPool2`` at 128, 64, 32,
  16, 8 px; TCJA on blocks 4 and 5 (after the LIF, before the pool; its output, and so
  the input of conv 5 and FC 1, is no longer binary);
* ``Flatten (2048) → Dropout 0.5 → FC 2048→512 (no bias) → LIF → Dropout 0.5 →
  FC 512→110 (no bias) → LIF → vote`` (mean of each group of 10 output neurons → 11).

Neuron: SpikingJelly-form LIF ``u ← u + (x − u)/τ``, τ = 2, θ = 1, hard reset to 0, ATan
α = 2, reset path detached (the Flax code resets with ``where(s, v_reset, u)``, which
passes no gradient through ``s``). Dropout: a keep-mask redrawn every time step and no
``1/(1−p)`` rescaling, as the Flax code (:class:`~spikelite.models.common.TimeDropout`).

Deviation: BN statistics are pooled over time and batch (``TimeDistributed``, like the
original PyTorch TCJA's ``SeqToANNContainer``); the Flax port normalises per time step.

Exactly 1,831,296 weights at T = 20 (convs 2,304 + 4×147,456; TCJA 2×(1,600 + 65,536);
FC 1,048,576 + 56,320) plus 1,280 BN affine parameters.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spikelite.core import Flatten, TimeDistributed
from spikelite.core.traits import AttentionBlock, ReadoutPool
from spikelite.errors import SpikeliteError
from spikelite.models.common import (
    SpikingSequential,
    TimeDropout,
    check_positive,
    check_widths,
    conv_bn_lif,
    halve,
    neuron_maker,
    pair,
)
from spikelite.models.registry import register_model

TCJA_NEURON: dict[str, Any] = {
    "tau": 2.0,
    "threshold": 1.0,
    "v_reset": 0.0,
    "reset": "zero",
    "surrogate": "atan",
    "surrogate_params": {"alpha": 2.0},
    "detach_reset": True,
}
"""Schaefer et al. / TCJA neuron (papers.md §2.3)."""

TCJA_WIDTHS = (128, 128, 128, 128, 128)


class TCJA(nn.Module, AttentionBlock):
    """Temporal-channel joint attention over ``[T, B, C, H, W]`` (Zhu et al. 2022).

    ``z = mean_{H,W}(x)`` → ``[T, B, C]``. ``conv_channel``: Conv1d with T→T maps sliding
    along the channel axis (``k·T²`` weights); ``conv_time``: Conv1d with C→C maps sliding
    along time (``k·C²`` weights). Attention ``a = sigmoid(conv_channel(z) ·
    conv_time(z))`` multiplies ``x`` per (t, b, c). Both convs are "same"-padded: with
    the even kernel 4 that is 1 zero before and 2 after (``(k−1)//2`` before, the rest
    after), exactly as Flax's ``'SAME'`` and PyTorch's ``padding="same"``. The padding is
    applied explicitly (the convs themselves have ``padding=0``), which avoids PyTorch's
    even-kernel warning and copy.
    """

    cost_note = ("attention arithmetic (spatial mean, sigmoid, products) is not costed; its "
                 "two Conv1d layers are")

    def __init__(self, time_steps: int, channels: int, kernel_size: int = 4) -> None:
        super().__init__()
        self.time_steps = int(time_steps)
        self.channels = int(channels)
        self.pad = ((kernel_size - 1) // 2, kernel_size - 1 - (kernel_size - 1) // 2)
        self.conv_channel = nn.Conv1d(time_steps, time_steps, kernel_size, bias=False)
        self.conv_time = nn.Conv1d(channels, channels, kernel_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.mean(dim=(3, 4))  # [T, B, C]
        along_c = self.conv_channel(F.pad(z.transpose(0, 1), self.pad))  # [B, T, C]
        along_t = self.conv_time(F.pad(z.permute(1, 2, 0), self.pad)).transpose(1, 2)
        att = torch.sigmoid(along_c * along_t).transpose(0, 1)  # [T, B, C]
        return x * att[..., None, None]

    def extra_repr(self) -> str:
        return f"time_steps={self.time_steps}, channels={self.channels}"


class Vote(nn.Module, ReadoutPool):
    """``[T, B, n·group] → [T, B, n]``: mean over consecutive groups of ``group`` neurons."""

    def __init__(self, group: int = 10) -> None:
        super().__init__()
        self.group = int(group)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (-1, self.group)).mean(-1)

    def extra_repr(self) -> str:
        return f"group={self.group}"


@register_model("tcja-dvsgesture", default_widths=TCJA_WIDTHS)
def tcja_dvsgesture(
    *,
    num_classes: int = 11,
    in_channels: int = 2,
    input_size: int | Sequence[int] = 128,
    time_steps: int = 20,
    widths: Sequence[int] | None = None,
    fc_hidden: int = 512,
    voters: int = 10,
    kernel_size: int = 4,
    dropout: float = 0.5,
    dropout_per_step: bool = True,
    dropout_rescale: bool = False,
    neuron: str = "lif",
    neuron_kw: Mapping[str, Any] | None = None,
) -> SpikingSequential:
    """Schaefer et al.'s TCJA-SNN (DVS128 Gesture, T = 20, 2×128×128 → 11 classes).

    ``time_steps`` is fixed at construction (the TCJA channel conv has T→T maps) and the
    input's T must equal it. Output per step: the 110 output spikes voted in groups of
    ``voters`` → ``num_classes`` rates (Schaefer et al. train with MSE to one-hot labels).
    """
    ws = check_widths("tcja-dvsgesture", widths, TCJA_WIDTHS)
    check_positive(
        "tcja-dvsgesture",
        num_classes=num_classes,
        in_channels=in_channels,
        time_steps=time_steps,
        fc_hidden=fc_hidden,
        voters=voters,
        kernel_size=kernel_size,
    )
    if not 0.0 <= float(dropout) < 1.0:
        raise SpikeliteError(f"tcja-dvsgesture: dropout must lie in [0, 1), got {dropout}")
    hw = pair("tcja-dvsgesture", input_size)
    make = neuron_maker(neuron, TCJA_NEURON, neuron_kw)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    c_in = in_channels
    for i, c in enumerate(ws, start=1):
        for key, mod in conv_bn_lif(c_in, c, make):
            layers[f"{key}{i}"] = mod
        if i >= 4:
            layers[f"tcja{i}"] = TCJA(time_steps, c, kernel_size)
        layers[f"pool{i}"] = TimeDistributed(nn.MaxPool2d(2))
        c_in = c
    h, w = halve("tcja-dvsgesture", hw, len(ws))

    def drop() -> TimeDropout:
        return TimeDropout(dropout, per_step=dropout_per_step, rescale=dropout_rescale)

    n_out = num_classes * voters
    layers.update(
        flatten=Flatten(),
        drop1=drop(),
        fc1=TimeDistributed(nn.Linear(c_in * h * w, fc_hidden, bias=False)),
        lif_fc1=make(fc_hidden),
        drop2=drop(),
        fc2=TimeDistributed(nn.Linear(fc_hidden, n_out, bias=False)),
        lif_fc2=make(n_out),
        vote=Vote(voters),
    )
    return SpikingSequential(
        layers, num_classes=num_classes, input_shape=(in_channels, *hw), time_steps=time_steps
    )
