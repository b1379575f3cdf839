"""Weight masks as ``torch.nn.utils.parametrize`` parametrizations.

``WeightMask(mask)`` computes ``W ⊙ mask``; the mask is a fixed boolean buffer, so pruned
weights receive zero gradient and stay pruned. Registered on a weight together with a
fake-quantizer, the order of registration gives the composition: quantizer first, then
mask → ``mask ⊙ Q(W)`` (Schaefer et al.); mask first, then quantizer → ``Q(mask ⊙ W)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikelite.errors import SpikeliteError


class WeightMask(nn.Module):
    """Parametrization ``W ↦ W ⊙ mask`` with a fixed boolean ``mask`` (True = kept)."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask.detach().to(torch.bool).clone())

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if w.shape != self.mask.shape:
            raise SpikeliteError(
                f"mask of shape {tuple(self.mask.shape)} does not fit a weight of shape "
                f"{tuple(w.shape)}"
            )
        return w * self.mask.to(w.dtype)

    @property
    def sparsity(self) -> float:
        return 1.0 - float(self.mask.float().mean())


def apply_mask_(module: nn.Module, mask: torch.Tensor, name: str = "weight") -> WeightMask:
    """Register a :class:`WeightMask` on ``module.<name>`` (after any existing ones)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, torch.Tensor):
        raise SpikeliteError(f"{type(module).__name__} has no tensor '{name}' to mask")
    if tuple(mask.shape) != tuple(weight.shape):
        raise SpikeliteError(
            f"mask shape {tuple(mask.shape)} differs from {name} shape {tuple(weight.shape)}"
        )
    wm = WeightMask(mask.to(weight.device))
    parametrize.register_parametrization(module, name, wm)
    return wm
