"""Shared fixtures-as-functions of the export tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from typer.testing import CliRunner

from spikelite.core import LIF, TimeDistributed


def spikes(*shape: int, rate: float = 0.2, seed: int = 0) -> torch.Tensor:
    """Seeded random binary input of ``shape``."""
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < rate).float()


def two_layer_mlp(first: dict[str, Any], second: dict[str, Any],
                  gains: tuple[float, float] = (3.0, 4.0)) -> nn.Sequential:
    """``Linear(20→32) → LIF(first) → Linear(32→5) → LIF(second)``, seeded, weights scaled
    by ``gains`` so that both layers spike."""
    torch.manual_seed(0)
    model = nn.Sequential(TimeDistributed(nn.Linear(20, 32)), LIF(**first),
                          TimeDistributed(nn.Linear(32, 5)), LIF(**second))
    model[0].module.weight.data *= gains[0]
    model[2].module.weight.data *= gains[1]
    return model


def train_tiny(runner: CliRunner, app: Any, out: Path, limit: int = 20) -> Path:
    """``spikelite train`` on a few embedded samples for one epoch; returns ``out/best``."""
    res = runner.invoke(app, ["train", "--limit", str(limit), "--epochs", "1", "--time-steps",
                              "3", "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    return out / "best"
