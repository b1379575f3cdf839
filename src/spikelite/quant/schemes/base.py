"""Shared machinery of the weight quantizers: the scheme record, bit checks, the STE.

Every scheme is a frozen dataclass (its fields are its options) registered by name in
:data:`QUANTIZERS`. A scheme turns a float weight ``w`` into the exact integer sidecar of
:class:`spikelite.quant.baked.LayerQuant`::

    codes (int32), scale (tensor, w's dtype), zero_point (float)
    Ŵ = scale · (codes − zero_point)                                    (:func:`dequantize`)

:meth:`QuantScheme.fake` computes its forward value with exactly that expression, so the
training forward and the baked weight are bitwise equal; its backward is a custom
``autograd.Function`` whose per-element derivatives each scheme states (straight-through
estimators through the rounding, plus analytic gradients of learnable parameters).
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch

from spikelite._registry import Registry
from spikelite.errors import SpikeliteError

MAX_BITS = 16
Params = Mapping[str, torch.Tensor]

def dequantize(codes: torch.Tensor, scale: torch.Tensor, zero_point: float) -> torch.Tensor:
    """``scale · (codes − zero_point)`` — the one expression both the sidecar and
    :meth:`QuantScheme.fake` use (see :meth:`LayerQuant.dequantize`)."""
    return scale * (codes.to(scale.dtype) - zero_point)


def floor_eps(t: torch.Tensor) -> torch.Tensor:
    """``t`` clamped to ≥ the smallest normal float of its dtype (autograd-aware).

    Guards divisions by a zero scale (an all-zero layer or channel, or a learned step
    driven to ≤ 0); it changes nothing for any positive normal value.
    """
    return t.clamp_min(torch.finfo(t.dtype).tiny)


def per_channel_view(w: torch.Tensor) -> torch.Tensor:
    """``w`` as ``[C, rest]`` (output channels first); errors on a 0-dim tensor."""
    if w.dim() == 0:
        raise SpikeliteError("per-channel quantization needs a weight with an output dim")
    return w.reshape(w.shape[0], -1)


def channel_shape(w: torch.Tensor) -> tuple[int, ...]:
    """``[C, 1, …, 1]``: the shape of a per-output-channel statistic of ``w``."""
    return (w.shape[0],) + (1,) * (w.dim() - 1)


def abs_mean(w: torch.Tensor, per_channel: bool = False) -> torch.Tensor:
    """‖W‖₁/|W| (0-dim), or per output channel (shape ``[C, 1, …]``)."""
    if not per_channel:
        return w.abs().mean()
    return per_channel_view(w).abs().mean(dim=1).reshape(channel_shape(w))


def abs_max(w: torch.Tensor, per_channel: bool = False) -> torch.Tensor:
    """max|W| (0-dim), or per output channel (shape ``[C, 1, …]``)."""
    if not per_channel:
        return w.abs().amax()
    return per_channel_view(w).abs().amax(dim=1).reshape(channel_shape(w))


def _quantile_rows(v: torch.Tensor, q: float) -> torch.Tensor:
    """Linear-interpolation quantile of each row of ``v`` (numpy/``torch.quantile``'s
    default), by sorting: differentiable and without ``torch.quantile``'s size limit."""
    srt = v.sort(dim=-1).values
    pos = q * (v.shape[-1] - 1)
    lo = int(pos)
    hi = min(lo + 1, v.shape[-1] - 1)
    frac = pos - lo
    return srt[..., lo] + (srt[..., hi] - srt[..., lo]) * frac


def percentile_absmax(w: torch.Tensor, x: float = 0.99, per_channel: bool = False) -> torch.Tensor:
    """Ψ_x(W) = max(|P_{1−x}(W)|, |P_x(W)|) (QP-SNN §4.1/Eq. 9; x = 1 gives max|W|)."""
    check_percentile(x)
    v = per_channel_view(w) if per_channel else w.reshape(1, -1)
    if v.shape[-1] == 0:
        raise SpikeliteError("cannot take a percentile of an empty weight")
    psi = torch.maximum(_quantile_rows(v, 1.0 - x).abs(), _quantile_rows(v, x).abs())
    return psi.reshape(channel_shape(w)) if per_channel else psi.reshape(())


def check_percentile(x: object) -> None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0.5 <= float(x) <= 1.0:
        raise SpikeliteError(f"percentile must be a number in [0.5, 1], got {x!r}")


def check_choice(scheme: str, field: str, value: object, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise SpikeliteError(
            f"quantizer '{scheme}': unknown {field} {value!r}. Valid: {', '.join(valid)}"
        )


def check_flag(scheme: str, field: str, value: object) -> None:
    if not isinstance(value, bool):
        raise SpikeliteError(f"quantizer '{scheme}': {field} must be true or false, got {value!r}")


class Build(NamedTuple):
    """What a scheme computes for one weight (all but ``learn``'s parameters detached).

    ``dw`` is dŴ/dW per element (``None`` = identity STE); ``learn`` pairs each parameter
    that receives a gradient (γ, a, c, step — possibly with ``requires_grad``) with its
    per-element local derivative dŴ/dp, summed down to the parameter's shape in backward.
    """

    codes: torch.Tensor
    scale: torch.Tensor
    zero_point: float
    dw: torch.Tensor | None = None
    learn: tuple[tuple[torch.Tensor, torch.Tensor], ...] = ()


class _FakeQuantFn(torch.autograd.Function):
    """Forward: :func:`dequantize` of precomputed codes; backward: the scheme's derivatives."""

    @staticmethod
    def forward(ctx, w, codes, scale, zero_point, dw, p1, d1, p2, d2):  # type: ignore[override]
        ctx.save_for_backward(dw, d1, d2)
        ctx.p_shapes = (None if p1 is None else p1.shape, None if p2 is None else p2.shape)
        return dequantize(codes, scale, zero_point)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        dw, d1, d2 = ctx.saved_tensors
        need = ctx.needs_input_grad
        gw = g1 = g2 = None
        if need[0]:
            gw = grad if dw is None else grad * dw
        if need[5]:
            g1 = (grad * d1).sum_to_size(ctx.p_shapes[0])
        if need[7]:
            g2 = (grad * d2).sum_to_size(ctx.p_shapes[1])
        return gw, None, None, None, None, g1, None, g2, None


@dataclass(frozen=True)
class QuantScheme(ABC):
    """A weight quantizer. Subclasses set the class constants and implement
    :meth:`_levels` and :meth:`_build` (plus :meth:`_init` when they have state)."""

    name: ClassVar[str] = "base"
    #: params computed by :meth:`init_params` that are trained (the caller wraps them as
    #: ``nn.Parameter``); the others are calibrated once and then fixed.
    learnable_params: ClassVar[tuple[str, ...]] = ()
    #: keys :meth:`codes`/:meth:`fake` require in ``params`` / may accept.
    required_params: ClassVar[tuple[str, ...]] = ()
    optional_params: ClassVar[tuple[str, ...]] = ()
    min_bits: ClassVar[int] = 1
    fixed_bits: ClassVar[int | None] = None

    # ----------------------------------------------------------------- public API
    def check_bits(self, bits: object) -> None:
        """Raise :class:`SpikeliteError` unless ``bits`` is an int this scheme supports."""
        if isinstance(bits, bool) or not isinstance(bits, numbers.Integral):
            raise SpikeliteError(f"quantizer '{self.name}': bits must be an integer, got {bits!r}")
        b = int(bits)
        if not 1 <= b <= MAX_BITS:
            raise SpikeliteError(
                f"quantizer '{self.name}': bits must lie in 1..{MAX_BITS}, got {b}"
            )
        if self.fixed_bits is not None and b != self.fixed_bits:
            raise SpikeliteError(
                f"quantizer '{self.name}' has exactly {self.levels(self.fixed_bits)} levels "
                f"and needs bits={self.fixed_bits}, got {b}"
            )
        if b < self.min_bits:
            raise SpikeliteError(
                f"quantizer '{self.name}' is signed and needs bits >= {self.min_bits} "
                f"(one bit holds the sign), got {b}"
            )

    def levels(self, bits: int) -> int:
        """Number of distinct representable values per scale at ``bits``."""
        self.check_bits(bits)
        return self._levels(int(bits))

    def init_params(self, w: torch.Tensor, bits: int) -> dict[str, torch.Tensor]:
        """State computed once from the weights at quantization start / calibration
        (detached; ``{}`` for stateless schemes)."""
        self.check_bits(bits)
        w = self._check_weight(w, bits)
        with torch.no_grad():
            return {k: v.detach().clone() for k, v in self._init(w.detach(), int(bits)).items()}

    def codes(
        self, w: torch.Tensor, params: Params | None, bits: int
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """``(codes int32, scale, zero_point)`` with ``Ŵ = scale·(codes − zero_point)``.

        ``params=None`` calibrates from ``w`` (:meth:`init_params`). No gradient.
        """
        self.check_bits(bits)
        w = self._check_weight(w, bits)
        if not bool(torch.isfinite(w).all()):
            raise SpikeliteError(f"quantizer '{self.name}': the weight has NaN/inf entries")
        with torch.no_grad():
            w = w.detach()
            p = {k: v.detach() for k, v in self._params(w, params, int(bits)).items()}
            b = self._build(w, p, int(bits), need_grad=False)
        return b.codes, b.scale.detach(), b.zero_point

    def fake(self, w: torch.Tensor, params: Params | None, bits: int) -> torch.Tensor:
        """Differentiable fake-quantized weight; the forward value is bitwise
        ``scale·(codes − zero_point)`` from :meth:`codes`."""
        self.check_bits(bits)
        w = self._check_weight(w, bits)
        b = self._build(w, self._params(w, params, int(bits)), int(bits), need_grad=True)
        learn = [(p, d) for p, d in b.learn if p.requires_grad]
        learn += [(None, None)] * (2 - len(learn))
        (p1, d1), (p2, d2) = learn
        return _FakeQuantFn.apply(w, b.codes, b.scale.detach(), b.zero_point, b.dw, p1, d1, p2, d2)

    # ------------------------------------------------------------ for subclasses
    @abstractmethod
    def _levels(self, bits: int) -> int:
        """Number of distinct representable values per scale at ``bits``."""

    def _init(self, w: torch.Tensor, bits: int) -> dict[str, torch.Tensor]:
        return {}

    @abstractmethod
    def _build(
        self, w: torch.Tensor, params: dict[str, torch.Tensor], bits: int, need_grad: bool
    ) -> Build:
        """Codes, scale, zero point and the straight-through derivatives for ``w``."""

    # -------------------------------------------------------------------- helpers
    def _check_weight(self, w: object, bits: int) -> torch.Tensor:
        if not isinstance(w, torch.Tensor) or not w.is_floating_point():
            raise SpikeliteError(
                f"quantizer '{self.name}': the weight must be a floating-point tensor"
            )
        if w.numel() == 0:
            raise SpikeliteError(f"quantizer '{self.name}': the weight is empty")
        # codes − zero_point (half-integers up to 2^b/2) must be exact in w's dtype
        precision = round(-math.log2(torch.finfo(w.dtype).eps)) + 1
        if int(bits) + 1 > precision:
            raise SpikeliteError(
                f"quantizer '{self.name}': {bits}-bit codes are not exact in {w.dtype} "
                f"(at most {precision - 1} bits); quantize a float32 weight instead"
            )
        return w

    def _params(self, w: torch.Tensor, params: Params | None, bits: int) -> dict[str, torch.Tensor]:
        """``params`` checked and cast to ``w``'s dtype/device (autograd-aware), or
        calibrated from ``w`` when ``None``."""
        if params is None:
            return self._init(w.detach(), bits) if self.required_params else {}
        allowed = self.required_params + self.optional_params
        missing = [k for k in self.required_params if k not in params]
        unknown = [k for k in params if k not in allowed]
        if missing or unknown:
            raise SpikeliteError(
                f"quantizer '{self.name}': params must hold {list(self.required_params)}"
                f"{f' (optional {list(self.optional_params)})' if self.optional_params else ''}"
                f"; missing {missing}, unknown {unknown}. Compute them with init_params()"
            )
        out = {}
        for k, v in params.items():
            t = torch.as_tensor(v)
            out[k] = t.to(dtype=w.dtype, device=w.device)
        return out


QUANTIZERS: Registry[type[QuantScheme]] = Registry("quantizer", instance_of=QuantScheme)
