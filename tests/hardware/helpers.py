"""Helpers for the hardware tests: hand-made sidecars (no dependency on ``bake``)."""

from __future__ import annotations

import torch
from torch import nn

from spikelite.quant import LayerQuant


def symmetric_sidecar(
    name: str,
    weight: torch.Tensor,
    bits: int,
    mask: torch.Tensor | None = None,
    *,
    set_weight: nn.Module | None = None,
) -> LayerQuant:
    """Per-tensor symmetric ``bits``-bit codes of ``weight`` (levels ±(2^(b−1)−1)), with
    an optional keep-mask applied after quantization; ``set_weight`` receives the exact
    deployed weight (as ``bake`` would leave it)."""
    qmax = 2 ** (bits - 1) - 1
    w = weight.detach().float()
    scale = w.abs().max().clamp_min(1e-12) / qmax
    codes = torch.round(w / scale).clamp(-qmax, qmax).to(torch.int32)
    lq = LayerQuant(
        name=name, weight_shape=tuple(w.shape), scheme="uniform", bits=bits, codes=codes,
        scale=scale, zero_point=0.0, levels=2 * qmax + 1,
        mask=None if mask is None else mask.bool(), mask_order="after_quant",
        bias_bits=None,
    )
    if set_weight is not None:
        with torch.no_grad():
            set_weight.weight.copy_(lq.dequantize(w))
    return lq


def fixed_sidecar(
    name: str, shape: tuple[int, ...], bits: int, mask: torch.Tensor | None = None
) -> LayerQuant:
    """Codes that are all non-zero (±1 alternating) with an optional keep-mask."""
    codes = torch.ones(shape, dtype=torch.int32)
    codes.view(-1)[1::2] = -1
    return LayerQuant(
        name=name, weight_shape=shape, scheme="uniform", bits=bits, codes=codes,
        scale=torch.tensor(0.01), levels=2 ** bits - 1, mask=mask,
        mask_order=None if mask is None else "after_quant",
    )


def c1_layer() -> tuple[nn.Module, torch.Tensor]:
    """energy.md §6: FC-1000×100 (no bias) and one step with 100 input spikes."""
    model = nn.Sequential(nn.Linear(1000, 100, bias=False))
    x = torch.zeros(1, 1, 1000)
    x[0, 0, ::10] = 1.0
    return model, x


def c3_mask() -> torch.Tensor:
    """80 % unstructured pruning with 20 non-zeros per input row at 0, 5, …, 95."""
    keep = torch.zeros(100, 1000, dtype=torch.bool)
    keep[::5, :] = True
    return keep
