"""Learning-rate schedules (per optimizer step)."""

from __future__ import annotations

import math

import torch

from spikelite._deprecation import moved
from spikelite.errors import SpikeliteError

LR_SCHEDULES = ("cosine", "constant")


def lr_factor(step: int, total: int, warmup: int, kind: str) -> float:
    """Multiplier of the base LR at optimizer step ``step`` of ``total``.

    Linear warm-up from 0 over ``warmup`` steps, then ``cosine`` decay to 0
    (``0.5·(1 + cos(π·progress))``) or ``constant``.
    """
    if kind not in LR_SCHEDULES:
        raise SpikeliteError(f"unknown schedule '{kind}'. Valid: {', '.join(LR_SCHEDULES)}")
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(
    opt: torch.optim.Optimizer, total: int, warmup: int, kind: str
) -> torch.optim.lr_scheduler.LambdaLR:
    lr_factor(0, total, warmup, kind)  # validates ``kind`` early
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, warmup, kind))


__getattr__ = moved(__name__, {"SCHEDULES": ("spikelite.train.schedule", "LR_SCHEDULES")})
