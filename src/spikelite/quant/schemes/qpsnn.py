"""QP-SNN's quantizers (Wei et al., ICLR 2025): the vanilla uniform baseline and ReScaW.

With s = 2^b − 1 integer steps and zero point z = 1 (paper Eqs. 4–6)::

    W_int = round((s/2)·(clamp(W, −1, 1) + 1)) ∈ {0, …, s}
    Ŵ     = 2·W_int/s − 1                       → 2^b levels in [−1, 1], no zero level

stored as ``codes = W_int``, ``scale = 2/s``, ``zero_point = s/2`` (a half-integer).
ReScaW (Eq. 10) applies the same grid to W/γ and rescales by γ: levels γ·(2k/s − 1).
Gradients follow the clipped STE of App. D: dŴ/dW = 1[|W/γ| ≤ 1].
``round`` is ``torch.round`` (round half to even; the paper's ⌈·⌋ leaves ties open).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from spikelite.quant.schemes.base import (
    QUANTIZERS,
    Build,
    QuantScheme,
    abs_max,
    abs_mean,
    check_choice,
    check_flag,
    check_percentile,
    floor_eps,
    percentile_absmax,
)

GAMMAS = ("mean", "max", "percentile")


def uniform_codes(x: torch.Tensor, bits: int) -> torch.Tensor:
    """W_int = round((s/2)·(clamp(x, −1, 1) + 1)), s = 2^b − 1 (QP-SNN Eq. 4), as floats."""
    s = 2**bits - 1
    return torch.round((s / 2) * (x.clamp(-1.0, 1.0) + 1.0))


def uniform_grid(bits: int) -> tuple[float, float]:
    """``(unit_scale, zero_point) = (2/s, s/2)``: Ŵ = unit_scale·(W_int − zero_point)."""
    s = 2**bits - 1
    return 2 / s, s / 2


def _uniform_build(
    w: torch.Tensor, gamma: torch.Tensor | None, bits: int, need_grad: bool
) -> Build:
    """Eq. 10 on ``w/γ`` (Eq. 4–6 when ``gamma`` is None); γ may require grad."""
    unit, zp = uniform_grid(bits)
    wd = w.detach()
    gd = None if gamma is None else gamma.detach()
    x = wd if gd is None else wd / gd
    k = uniform_codes(x, bits)
    scale = wd.new_tensor(unit) if gd is None else gd * unit
    dw = learn = None
    if need_grad:
        inside = x.abs() <= 1
        dw = inside
        if gamma is not None and gamma.requires_grad:
            # d/dγ [γ·q(W/γ)] = q − (W/γ)·q'(W/γ), with q' = 1[|W/γ| ≤ 1] (STE + clamp).
            q = unit * (k - zp)
            learn = ((gamma, q - torch.where(inside, x, torch.zeros_like(x))),)
    return Build(k.to(torch.int32), scale, zp, dw, learn or ())


@QUANTIZERS.register("uniform")
@dataclass(frozen=True)
class Uniform(QuantScheme):
    """QP-SNN's vanilla baseline (Eqs. 4–6): fixed range [−1, 1], 2^b levels, no zero.

    ``codes = W_int``, ``scale = 2/(2^b−1)``, ``zero_point = (2^b−1)/2``; clipped STE.
    """

    name: ClassVar[str] = "uniform"

    def _levels(self, bits: int) -> int:
        return 2**bits

    def _build(self, w, params, bits, need_grad):
        return _uniform_build(w, None, bits, need_grad)


@QUANTIZERS.register("rescaw")
@dataclass(frozen=True)
class ReScaW(QuantScheme):
    """QP-SNN's ReScaW (Eq. 10): Ŵ = γ·(2/s·round((s/2)(clamp(W/γ, −1, 1) + 1)) − 1).

    Options (defaults follow the paper):

    * ``gamma``: ``"mean"`` (‖W‖₁/|W|, the paper's choice, Fig. 5a), ``"max"`` (max|W|)
      or ``"percentile"`` (Ψ_x = max(|P_{1−x}(W)|, |P_x(W)|)).
    * ``percentile``: x of Ψ_x; the paper gives none, 0.99 matches its §4.1 analysis.
    * ``per_channel``: False = one γ per layer (the paper's W^l); True = one γ per output
      channel, shape ``[C, 1, …]`` (the third-party code).
    * ``detach_gamma``: True = γ is a constant in backward (the third-party code; the
      paper leaves it open). False = γ gets d/dγ[γ·q(W/γ)] = q − (W/γ)·1[|W/γ| ≤ 1] and
      passes it on to W through γ's own formula.

    γ is recomputed from the current weights on every call; ``params={"gamma": t}``
    overrides it (a frozen γ). ``codes``: W_int, ``scale = γ·2/s``, ``zero_point = s/2``.
    """

    gamma: str = "mean"
    percentile: float = 0.99
    per_channel: bool = False
    detach_gamma: bool = True

    name: ClassVar[str] = "rescaw"
    optional_params: ClassVar[tuple[str, ...]] = ("gamma",)

    def __post_init__(self) -> None:
        check_choice(self.name, "gamma", self.gamma, GAMMAS)
        check_percentile(self.percentile)
        check_flag(self.name, "per_channel", self.per_channel)
        check_flag(self.name, "detach_gamma", self.detach_gamma)

    def _levels(self, bits: int) -> int:
        return 2**bits

    def compute_gamma(self, w: torch.Tensor) -> torch.Tensor:
        """γ of ``w`` (0-dim, or ``[C, 1, …]`` per channel), floored at the smallest
        normal float so an all-zero layer gives no NaN; differentiable."""
        if self.gamma == "mean":
            g = abs_mean(w, self.per_channel)
        elif self.gamma == "max":
            g = abs_max(w, self.per_channel)
        else:
            g = percentile_absmax(w, self.percentile, self.per_channel)
        return floor_eps(g)

    def _build(self, w, params, bits, need_grad):
        if "gamma" in params:
            gamma = floor_eps(params["gamma"])
        else:
            gamma = self.compute_gamma(w if need_grad and not self.detach_gamma else w.detach())
        if self.detach_gamma:
            gamma = gamma.detach()
        return _uniform_build(w, gamma, bits, need_grad)
