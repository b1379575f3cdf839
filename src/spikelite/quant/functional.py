"""Functional weight quantizers (the math layer of :mod:`spikelite.quant`).

Registered in :data:`QUANTIZERS` by name; build one with :func:`get_quantizer`::

    q = get_quantizer("rescaw", gamma="mean")       # frozen dataclass, options = fields
    params = q.init_params(w, bits)                  # {} / {"a","c"} / {"step"} / {"scale"}
    w_hat = q.fake(w, params, bits)                  # training: STE fake-quant
    codes, scale, zp = q.codes(w, params, bits)      # export: Ŵ = scale·(codes − zp)

``fake`` is bitwise equal to ``scale·(codes − zp)``, so a baked layer reproduces the
training forward exactly.

=========  =====================================  ==========  ======================
name       formula (source)                       levels      params (learnable)
=========  =====================================  ==========  ======================
uniform    QP-SNN Eqs. 4–6, range [−1, 1]         2^b         –
rescaw     QP-SNN Eq. 10 (γ rescaling)            2^b         optional ``gamma``
duq        PROFIT DuQ (Schaefer et al.)           2^b − 1     a, c (a, c)
symmetric  narrow-range signed, calibrated        2^b − 1     scale
ternary    TWN (Li & Liu 2016), b = 2             3           –
binary     sign·mean|w|, b = 1                    2           –
lsq        Esser et al. 2020                      2^b         step (step)
=========  =====================================  ==========  ======================

Also QP-SNN's bit-width utilization (§4.1, Eq. 8): :func:`bit_utilization` and
:func:`bit_utilization_estimate`.
"""

from __future__ import annotations

import math
from dataclasses import fields

import torch

from spikelite.errors import SpikeliteError
from spikelite.quant.schemes import (
    LSQ,
    QUANTIZERS,
    Binary,
    DuQ,
    QuantScheme,
    ReScaW,
    Symmetric,
    Ternary,
    Uniform,
    dequantize,
)
from spikelite.quant.schemes.base import (
    MAX_BITS,
    Params,
    abs_max,
    abs_mean,
    percentile_absmax,
)
from spikelite.quant.schemes.duq import duq_init
from spikelite.quant.schemes.qpsnn import uniform_codes, uniform_grid

__all__ = [
    "LSQ",
    "MAX_BITS",
    "QUANTIZERS",
    "Binary",
    "DuQ",
    "Params",
    "QuantScheme",
    "ReScaW",
    "Symmetric",
    "Ternary",
    "Uniform",
    "abs_max",
    "abs_mean",
    "bit_utilization",
    "bit_utilization_estimate",
    "dequantize",
    "duq_init",
    "get_quantizer",
    "percentile_absmax",
    "quantizer_options",
    "uniform_codes",
    "uniform_grid",
]


def quantizer_options(name: str) -> dict[str, object]:
    """The options of quantizer ``name`` with their defaults."""
    cls = QUANTIZERS.get(name)
    return {f.name: f.default for f in fields(cls)}


def get_quantizer(spec: str | QuantScheme, **options: object) -> QuantScheme:
    """Build quantizer ``spec`` (a registered name) with ``options``, or pass an instance
    through. Unknown names and options raise :class:`SpikeliteError` listing valid ones."""
    return QUANTIZERS.build(spec, **options)


def bit_utilization(w: torch.Tensor, bits: int, quantizer: str | QuantScheme = "uniform") -> float:
    """R_utilize = N_actual(W_int)/N_total (QP-SNN Eq. 8): distinct codes used by ``w``
    over the whole tensor, divided by the scheme's level count (default: the vanilla
    uniform quantizer the paper analyses; any scheme, calibrated from ``w``, works)."""
    q = get_quantizer(quantizer)
    codes, _, _ = q.codes(w, None, bits)
    return codes.unique().numel() / q.levels(bits)


def bit_utilization_estimate(a: float, bits: int) -> float:
    """R ≈ (s·a + 1)/(s + 1), s = 2^b − 1 (QP-SNN §4.1), for weights spread over [−a, a]
    under the vanilla uniform quantizer; a = max(|P_0.01(W)|, |P_0.99(W)|)
    (:func:`percentile_absmax`). a > 1 is clipped to 1 (every level is reachable)."""
    Uniform().check_bits(bits)
    if isinstance(a, bool) or not isinstance(a, (int, float)) or not a >= 0 or math.isinf(a):
        raise SpikeliteError(f"a must be a finite number >= 0, got {a!r}")
    s = 2**bits - 1
    return (s * min(float(a), 1.0) + 1) / (s + 1)
