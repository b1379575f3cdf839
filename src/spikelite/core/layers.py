"""Stateless layers applied across time by folding T into the batch."""

from __future__ import annotations

import torch
from torch import nn

from spikelite.core.neurons import check_time_major


class TimeDistributed(nn.Module):
    """Apply a stateless ``module`` to ``[T, B, ...]`` as one ``[T·B, ...]`` batch.

    BatchNorm inside is therefore computed over time and batch together (as SpikingJelly's
    ``SeqToANNContainer`` and the QP-SNN code do).
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_time_major(x, f"TimeDistributed({type(self.module).__name__})")
        T, B = x.shape[:2]
        y = self.module(x.reshape(T * B, *x.shape[2:]))
        return y.reshape(T, B, *y.shape[1:])


class Flatten(nn.Module):
    """``[T, B, C, H, W] → [T, B, C·H·W]`` (keeps the time and batch axes)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_time_major(x, "Flatten")
        return x.flatten(2)


class MeanOverTime(nn.Module):
    """``[T, B, ...] → [B, ...]``: the rate/mean-membrane read-out."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_time_major(x, "MeanOverTime")
        return x.mean(0)
