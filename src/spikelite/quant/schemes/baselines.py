"""Reference quantizers: symmetric narrow-range, TWN ternary, binary, LSQ.

* ``symmetric``: codes −(2^{b−1}−1)…2^{b−1}−1, scale = calibrated |W| range/(2^{b−1}−1).
* ``ternary``: TWN (Li & Liu 2016), Δ = 0.7·mean|w|, α = mean of |w| over |w| > Δ.
* ``binary``: sign(w)·mean|w| (XNOR-Net-style scale, Rastegari et al. 2016).
* ``lsq``: learned step size (Esser et al., ICLR 2020).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from spikelite.errors import SpikeliteError
from spikelite.quant.schemes.base import (
    QUANTIZERS,
    Build,
    QuantScheme,
    abs_max,
    check_choice,
    check_flag,
    check_percentile,
    floor_eps,
    percentile_absmax,
)

CALIBRATIONS = ("max", "percentile")


@QUANTIZERS.register("symmetric")
@dataclass(frozen=True)
class Symmetric(QuantScheme):
    """Narrow-range signed k-bit: Ŵ = scale·clamp(round(W/scale), −Q, Q), Q = 2^{b−1}−1.

    ``scale`` (``params``, from :meth:`init_params`, fixed afterwards) = R/Q with R =
    max|W| (``calibration="max"``) or Ψ_x(W) = max(|P_{1−x}|, |P_x|) (``"percentile"``,
    x = ``percentile``), per tensor or per output channel (``[C, 1, …]``). STE inside
    the clip range: dŴ/dW = 1[|W/scale| ≤ Q]. 2^b − 1 levels including 0.
    """

    per_channel: bool = False
    calibration: str = "max"
    percentile: float = 0.99

    name: ClassVar[str] = "symmetric"
    required_params: ClassVar[tuple[str, ...]] = ("scale",)
    min_bits: ClassVar[int] = 2

    def __post_init__(self) -> None:
        check_flag(self.name, "per_channel", self.per_channel)
        check_choice(self.name, "calibration", self.calibration, CALIBRATIONS)
        check_percentile(self.percentile)

    def _levels(self, bits: int) -> int:
        return 2**bits - 1

    def _init(self, w, bits):
        if self.calibration == "max":
            r = abs_max(w, self.per_channel)
        else:
            r = percentile_absmax(w, self.percentile, self.per_channel)
        return {"scale": floor_eps(r / (2 ** (bits - 1) - 1))}

    def _build(self, w, params, bits, need_grad):
        q = 2 ** (bits - 1) - 1
        sd = floor_eps(params["scale"].detach())
        x = w.detach() / sd
        k = torch.round(x).clamp(-q, q)
        dw = (x.abs() <= q) if need_grad else None
        return Build(k.to(torch.int32), sd, 0.0, dw)


@QUANTIZERS.register("ternary")
@dataclass(frozen=True)
class Ternary(QuantScheme):
    """TWN (Li & Liu 2016): codes sign(w)·1[|w| > Δ] ∈ {−1, 0, 1}, scale α.

    Δ = ``delta_factor``·mean|w| (0.7 in TWN), α = mean of |w| over {|w| > Δ} (0 when
    that set is empty, i.e. an all-zero weight), both recomputed per call and held
    constant in backward; identity STE for ``w`` (TWN). ``bits`` must be 2.
    """

    delta_factor: float = 0.7

    name: ClassVar[str] = "ternary"
    fixed_bits: ClassVar[int | None] = 2

    def __post_init__(self) -> None:
        f = self.delta_factor
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < math.inf:
            raise SpikeliteError(f"quantizer 'ternary': delta_factor must be > 0, got {f!r}")

    def _levels(self, bits: int) -> int:
        return 3

    def _build(self, w, params, bits, need_grad):
        a = w.detach().abs()
        big = a > self.delta_factor * a.mean()
        k = torch.sign(w.detach()) * big
        alpha = (a * big).sum() / big.sum().clamp_min(1).to(a.dtype)
        return Build(k.to(torch.int32), alpha, 0.0)


@QUANTIZERS.register("binary")
@dataclass(frozen=True)
class Binary(QuantScheme):
    """Ŵ = sign(w)·mean|w|: codes ∈ {−1, +1} (sign(0) → +1), scale = mean|w| (held
    constant in backward), identity STE. ``bits`` must be 1."""

    name: ClassVar[str] = "binary"
    fixed_bits: ClassVar[int | None] = 1

    def _levels(self, bits: int) -> int:
        return 2

    def _build(self, w, params, bits, need_grad):
        wd = w.detach()
        k = torch.where(wd >= 0, 1, -1).to(torch.int32)
        return Build(k, wd.abs().mean(), 0.0)


@QUANTIZERS.register("lsq")
@dataclass(frozen=True)
class LSQ(QuantScheme):
    """LSQ (Esser et al. 2020): ŵ = clamp(round(w/s), −Q_N, Q_P)·s,
    Q_N = 2^{b−1}, Q_P = 2^{b−1}−1 (2^b levels); learnable ``step`` s.

    Init s = 2·mean|w|/√Q_P. Gradients (Esser Eq. 3, with v = w/s):
    dŵ/dw = 1[−Q_N < v < Q_P]; dŵ/ds = (round(v) − v) inside, −Q_N for v ≤ −Q_N, Q_P
    for v ≥ Q_P, times g = 1/√(numel·Q_P). ``step`` is floored above zero.
    """

    name: ClassVar[str] = "lsq"
    learnable_params: ClassVar[tuple[str, ...]] = ("step",)
    required_params: ClassVar[tuple[str, ...]] = ("step",)
    min_bits: ClassVar[int] = 2

    def _levels(self, bits: int) -> int:
        return 2**bits

    def _init(self, w, bits):
        qp = 2 ** (bits - 1) - 1
        return {"step": floor_eps(2 * w.abs().mean() / math.sqrt(qp))}

    def _build(self, w, params, bits, need_grad):
        qn, qp = 2 ** (bits - 1), 2 ** (bits - 1) - 1
        s = floor_eps(params["step"])
        sd = s.detach()
        v = w.detach() / sd
        r = torch.round(v)
        k = r.clamp(-qn, qp)
        if not need_grad:
            return Build(k.to(torch.int32), sd, 0.0)
        inside = (v > -qn) & (v < qp)
        g = 1.0 / math.sqrt(w.numel() * qp)
        ds = torch.where(inside, r - v, k) * g
        return Build(k.to(torch.int32), sd, 0.0, inside, ((s, ds),))
