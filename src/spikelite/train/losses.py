"""Losses on time-major network outputs ``[T, B, classes]``, registered by name.

* ``ce``: cross-entropy on the time-averaged output (QP-SNN App. D: the output-layer
  membrane averaged over T acts as the logit).
* ``mse_rate``: mean squared error between the time-averaged output (a firing rate in
  [0, 1]) and the one-hot label (Schaefer et al., §2.4 of papers.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from spikelite._registry import Registry

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOSSES: Registry[LossFn] = Registry("loss")


def time_mean(out: torch.Tensor) -> torch.Tensor:
    """``[T, B, C] → [B, C]``; a 2-D output (already reduced) is returned unchanged."""
    return out.mean(0) if out.dim() == 3 else out


@LOSSES.register("ce")
def cross_entropy(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``CE(mean_t out_t, y)``."""
    return F.cross_entropy(time_mean(out), target)


@LOSSES.register("mse_rate")
def mse_rate(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean((mean_t out_t − onehot(y))²)``."""
    rate = time_mean(out)
    return F.mse_loss(rate, F.one_hot(target, rate.shape[-1]).to(rate.dtype))
