"""Zoo blocks declare their traits (core.traits); costing and channel surgery read the
traits, so a block outside the zoo that declares one is treated like the zoo's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from spikelite.core import LIF, TimeDistributed
from spikelite.core.traits import (
    TRAITS,
    AttentionBlock,
    CoupledResidualBlock,
    DropoutLayer,
    ReadoutPool,
    ZeroPadShortcut,
)
from spikelite.hardware import classify
from spikelite.models import TCJA, BasicBlock, PadShortcut, TimeDropout, Vote
from spikelite.prune.graph import trace_channels
from spikelite.prune.surgery import IndexShortcut


def test_zoo_blocks_declare_their_traits() -> None:
    declared = {cls: [t for t in TRAITS if issubclass(cls, t)]
                for cls in (BasicBlock, PadShortcut, TimeDropout, Vote, TCJA, IndexShortcut)}
    assert declared == {
        BasicBlock: [CoupledResidualBlock], PadShortcut: [ZeroPadShortcut],
        TimeDropout: [DropoutLayer], Vote: [ReadoutPool], TCJA: [AttentionBlock],
        IndexShortcut: [ZeroPadShortcut],
    }
    assert PadShortcut.even_padding and not IndexShortcut.even_padding
    assert "spatial mean, sigmoid, products" in TCJA.cost_note


class Drop(nn.Module, DropoutLayer):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Attend(nn.Module, AttentionBlock):
    cost_note = "its gate is not costed"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x.mean(2, keepdim=True))


class Residual(nn.Module, CoupledResidualBlock):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = TimeDistributed(nn.Conv2d(c, c, 3, padding=1))
        self.bn1 = TimeDistributed(nn.BatchNorm2d(c))
        self.lif1 = LIF(beta=0.9)
        self.conv2 = TimeDistributed(nn.Conv2d(c, c, 3, padding=1))
        self.bn2 = TimeDistributed(nn.BatchNorm2d(c))
        self.shortcut = nn.Identity()
        self.lif2 = LIF(beta=0.9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn2(self.conv2(self.lif1(self.bn1(self.conv1(x)))))
        return self.lif2(h + self.shortcut(x))


def test_a_block_outside_the_zoo_is_read_by_its_traits() -> None:
    model = nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), LIF(beta=0.9), Drop(),
        Residual(4), Attend(), TimeDistributed(nn.Conv2d(4, 4, 1)), LIF(beta=0.9),
    )
    cls = classify(model)
    assert not cls.uncounted
    assert "4 (Attend): its gate is not costed" in cls.notes
    assert any(n.startswith("3 (Residual): the residual addition") for n in cls.notes)
    graph = trace_channels(model)
    # the dropout passes the channels on; the residual sum couples conv 0 with conv2
    assert graph.group("0") == ["0", "3.conv2"]
    assert not graph.spaces[graph.space_of["3.conv1"]].blocked
    # the attention mixes channels: what feeds it cannot be pruned
    assert any("its attention mixes channels" in r for r in graph.blocked("0"))


def test_hardware_does_not_import_the_zoo() -> None:
    code = (
        "import sys, torch\n"
        "from spikelite.hardware import profile\n"
        "profile(torch.nn.Sequential(torch.nn.Linear(4, 3)), torch.rand(2, 1, 4))\n"
        "bad = sorted(k for k in sys.modules if k.startswith('spikelite.models'))\n"
        "assert not bad, bad\n"
    )
    src = Path(classify.__code__.co_filename).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
