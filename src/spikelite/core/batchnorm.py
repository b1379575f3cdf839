"""Folding an evaluation-mode BatchNorm into the conv/linear layer before it.

The one home of the formula (ANN→SNN conversion and every export target use it). With
``σ = √(running_var + ε)`` and ``z = W·x + b``::

    BN(z) = γ·(z − μ)/σ + β = s·(W·x) + m,    s = γ/σ,    m = s·(b − μ) + β

(``γ = 1``, ``β = 0`` without affine parameters). :func:`fold_batchnorm` returns the folded
layer ``W' = s·W`` (per output channel), ``b' = m``; :func:`bn_gain_offset` returns the
per-channel gain ``s`` and offset ``m`` themselves (the form the integer package keeps).
"""

from __future__ import annotations

import torch
from torch import nn

from spikelite.errors import SpikeliteError

BATCHNORMS: tuple[type[nn.Module], ...] = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def check_foldable(bn: nn.Module, out_channels: int, layer: str, bn_name: str) -> None:
    """Refuse a BatchNorm ``bn_name`` that cannot fold into ``layer`` (``out_channels``
    outputs): no running statistics, or a different number of features."""
    if not bn.track_running_stats or bn.running_mean is None:
        raise SpikeliteError(
            f"BatchNorm '{bn_name}' has no running statistics (track_running_stats=False), so "
            f"it cannot be folded into '{layer}'; train with track_running_stats=True"
        )
    if bn.num_features != out_channels:
        raise SpikeliteError(
            f"BatchNorm '{bn_name}' has {bn.num_features} features but '{layer}' has "
            f"{out_channels} outputs"
        )


def bn_scale_shift(bn: nn.Module, dtype: torch.dtype | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(s = γ/σ, μ, β)`` of ``bn``'s evaluation statistics, detached, computed in
    ``dtype`` (default: the BatchNorm's own)."""

    def cast(t: torch.Tensor) -> torch.Tensor:
        t = t.detach()
        return t if dtype is None else t.to(dtype)

    std = torch.sqrt(cast(bn.running_var) + bn.eps)
    gamma = cast(bn.weight) if bn.weight is not None else torch.ones_like(std)
    beta = cast(bn.bias) if bn.bias is not None else torch.zeros_like(std)
    return gamma / std, cast(bn.running_mean), beta


def bn_gain_offset(bn: nn.Module | None, bias: torch.Tensor | None, channels: int,
                   dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(s, m)`` of ``BN(W·x + b) = s·(W·x) + m``: ``s = γ/σ``,
    ``m = s·(b − μ) + β``; without a BatchNorm ``s = 1``, ``m = b`` (``b = 0`` without a
    bias). Computed in ``dtype`` (default: the BatchNorm's, else the bias's)."""
    if bn is None:
        dt = dtype or (bias.dtype if bias is not None else torch.get_default_dtype())
        dev = bias.device if bias is not None else None
        s = torch.ones(channels, dtype=dt, device=dev)
        mu, beta = torch.zeros(channels, dtype=dt, device=dev), \
            torch.zeros(channels, dtype=dt, device=dev)
    else:
        s, mu, beta = bn_scale_shift(bn, dtype)
    b = bias.detach() if bias is not None else torch.zeros(channels, dtype=s.dtype,
                                                             device=s.device)
    if dtype is not None:
        b = b.to(dtype)
    return s, s * (b - mu) + beta


def fold_batchnorm(weight: torch.Tensor, bias: torch.Tensor | None,
                   bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``BN(W·x + b)`` as one affine map ``(W', b')``: ``W' = s·W`` per output channel,
    ``b' = s·(b − μ) + β`` (detached; in the BatchNorm's dtype)."""
    s, b = bn_gain_offset(bn, bias, int(weight.shape[0]))
    return weight.detach() * s.view(-1, *([1] * (weight.dim() - 1))), b
