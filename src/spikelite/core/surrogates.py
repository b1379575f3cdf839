"""Surrogate gradients for the Heaviside spike function, registered by name.

The forward pass of every surrogate is the step ``s = H(x)`` with ``x = h - θ``; only the
derivative used in the backward pass differs. Each surrogate is a frozen record holding its
shape parameter and a pure ``grad(x)`` function, so the fused kernel and the eager
reference share exactly the same formula.

* ``atan``: (α/2) / (1 + (π α x / 2)²), α = 2 — snnTorch default, TCJA/Schaefer et al.
* ``triangle``: (1/a)·max(a − |x|, 0), a = 1 — QP-SNN (App. D)
* ``fast_sigmoid``: 1 / (k|x| + 1)², k = 25 — snnTorch ``fast_sigmoid``
* ``sigmoid``: k·σ(kx)·(1 − σ(kx)), k = 4 — SpikingJelly default
* ``rectangular``: (1/w)·1[|x| < w/2], w = 1 — STBP (Wu et al. 2018)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from spikelite._registry import Registry
from spikelite.errors import SpikeliteError


@dataclass(frozen=True)
class Surrogate:
    """Base record: subclasses implement :meth:`grad` (dS/dx at ``x = h − θ``)."""

    name = "base"

    def grad(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise SpikeliteError(f"surrogate '{self.name}' does not define a gradient")

    def _positive(self, field: str, value: float) -> None:
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise SpikeliteError(
                f"surrogate '{self.name}': {field} must be a positive number, got {value!r}"
            )


SURROGATES: Registry[type[Surrogate]] = Registry(
    "surrogate", instance_of=Surrogate, options="parameters")


@SURROGATES.register("atan")
@dataclass(frozen=True)
class ATan(Surrogate):
    """dS/dx = (α/2) / (1 + (π α x / 2)²) — the derivative of (1/π)·atan(π α x / 2) + 1/2."""

    alpha: float = 2.0
    name = "atan"

    def __post_init__(self) -> None:
        self._positive("alpha", self.alpha)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * x).square())


@SURROGATES.register("triangle")
@dataclass(frozen=True)
class Triangle(Surrogate):
    """dS/dx = (1/a)·max(a − |x|, 0) with width a (QP-SNN App. D; a = 1 in their code)."""

    width: float = 1.0
    name = "triangle"

    def __post_init__(self) -> None:
        self._positive("width", self.width)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return (self.width - x.abs()).clamp_min(0) / self.width


@SURROGATES.register("fast_sigmoid")
@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """dS/dx = 1 / (k·|x| + 1)² (Zenke & Ganguli 2018; snnTorch ``fast_sigmoid``)."""

    slope: float = 25.0
    name = "fast_sigmoid"

    def __post_init__(self) -> None:
        self._positive("slope", self.slope)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return (self.slope * x.abs() + 1).square().reciprocal()


@SURROGATES.register("sigmoid")
@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """dS/dx = k·σ(kx)·(1 − σ(kx)) (SpikingJelly ``Sigmoid``, α = 4)."""

    slope: float = 4.0
    name = "sigmoid"

    def __post_init__(self) -> None:
        self._positive("slope", self.slope)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        sg = torch.sigmoid(self.slope * x)
        return self.slope * sg * (1 - sg)


@SURROGATES.register("rectangular")
@dataclass(frozen=True)
class Rectangular(Surrogate):
    """dS/dx = (1/w)·1[|x| < w/2] (rectangular window, Wu et al. 2018)."""

    width: float = 1.0
    name = "rectangular"

    def __post_init__(self) -> None:
        self._positive("width", self.width)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return (x.abs() < self.width / 2).to(x.dtype) / self.width


def get_surrogate(spec: str | Surrogate | None = None, **params: float) -> Surrogate:
    """Resolve a surrogate from a name (+ parameters), an instance, or ``None`` (atan)."""
    return SURROGATES.build("atan" if spec is None else spec, **params)


class _SpikeFn(torch.autograd.Function):
    """Heaviside forward, surrogate derivative backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: Surrogate, strict: bool) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None, None


def spike(x: torch.Tensor, surrogate: Surrogate, strict: bool = False) -> torch.Tensor:
    """``H(x)`` (``x ≥ 0``, or ``x > 0`` when ``strict``) with the surrogate gradient."""
    return _SpikeFn.apply(x, surrogate, strict)
