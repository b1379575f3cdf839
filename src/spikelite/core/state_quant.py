"""Fixed-point membrane state (opt-in): ``b_u``-bit two's complement with saturation.

With step ``Δ = v_max / 2^(b_u−1)`` the stored membrane is

    v_q = Δ · clamp(round(v / Δ), −2^(b_u−1), 2^(b_u−1) − 1),

so it covers ``[−v_max, v_max − Δ]``. The gradient is straight-through inside that range
and 0 where the value saturates. The hardware cost model reads ``b_u`` from the neuron
(``state_bits``) to size membrane storage and traffic.
"""

from __future__ import annotations

import math

import torch

from spikelite.errors import SpikeliteError


def check_state_quant(bits: int | None, v_max: float | None) -> None:
    if bits is None:
        return
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 32:
        raise SpikeliteError(f"state_bits must be an integer in [2, 32], got {bits!r}")
    if v_max is None or not (v_max > 0 and math.isfinite(v_max)):
        raise SpikeliteError(f"state_max must be a finite number > 0, got {v_max!r}")


class _StateQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: torch.Tensor, bits: int, v_max: float) -> torch.Tensor:
        step = v_max / 2 ** (bits - 1)
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        codes = torch.round(v / step)
        ctx.save_for_backward((codes >= lo) & (codes <= hi))
        return codes.clamp_(lo, hi).mul_(step)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        (inside,) = ctx.saved_tensors
        return g * inside.to(g.dtype), None, None


def quantize_state(v: torch.Tensor, bits: int, v_max: float) -> torch.Tensor:
    """``v`` rounded to ``bits``-bit fixed point over ``[−v_max, v_max)`` (saturating)."""
    return _StateQuant.apply(v, bits, v_max)
