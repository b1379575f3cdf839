"""Spike encoders for static inputs: ``x`` of any shape → time-major ``[T, *x.shape]`` float32.

Every encoder has the signature ``encoder(x, time_steps, *, generator=None)`` and is
registered by name in :data:`ENCODERS` (``direct``, ``rate``, ``latency``). Inputs are
intensities in [0, 1]; ``rate`` and ``latency`` refuse values outside that range.
"""

from __future__ import annotations

from typing import Protocol

import torch

from spikelite._registry import Registry
from spikelite.errors import SpikeliteError


class Encoder(Protocol):
    """A spike encoder: ``(x, time_steps, *, generator) → [time_steps, *x.shape]``."""

    def __call__(
        self, x: torch.Tensor, time_steps: int, *, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...


ENCODERS: Registry[Encoder] = Registry("encoding")


def _check(x: torch.Tensor, time_steps: int, unit_range: bool) -> torch.Tensor:
    if isinstance(time_steps, bool) or not isinstance(time_steps, int) or time_steps < 1:
        raise SpikeliteError(f"time_steps must be a positive integer, got {time_steps!r}")
    x = torch.as_tensor(x, dtype=torch.float32)
    if unit_range and x.numel() and (x.min() < 0 or x.max() > 1 or torch.isnan(x).any()):
        raise SpikeliteError(
            "spike encoders need intensities in [0, 1]; rescale the input (e.g. x / 255)"
        )
    return x


@ENCODERS.register("direct")
def direct(
    x: torch.Tensor, time_steps: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Direct (analog) coding: the input repeated at every step, ``out[t] = x``.

    The first layer then acts as the encoder (Rueckauer et al. 2017; Wu et al. 2019).
    """
    x = _check(x, time_steps, unit_range=False)
    return x.unsqueeze(0).expand(time_steps, *x.shape).clone()


@ENCODERS.register("rate")
def rate(
    x: torch.Tensor, time_steps: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Rate (Bernoulli) coding: ``out[t, i] = 1`` with probability ``x[i]``, independently.

    ``out[t, i] = float(u[t, i] < x[i])`` with ``u ~ U[0, 1)`` drawn from ``generator``
    (torch's default generator when None), so ``E[out[t, i]] = x[i]``.
    """
    x = _check(x, time_steps, unit_range=True)
    u = torch.rand((time_steps, *x.shape), generator=generator)
    return (u < x).to(torch.float32)


@ENCODERS.register("latency")
def latency(
    x: torch.Tensor,
    time_steps: int,
    *,
    generator: torch.Generator | None = None,
    threshold: float = 0.0,
) -> torch.Tensor:
    """Linear time-to-first-spike coding: one spike per input with ``x > threshold``.

    The spike time is ``t = floor((1 − x)·(T − 1) + 0.5)`` (round half up): ``x = 1``
    fires at step 0, ``x → threshold`` fires late (``x = 0`` would fire at ``T − 1``);
    inputs ``≤ threshold`` (default 0: blank pixels) never fire. Deterministic; the
    generator is ignored.
    """
    x = _check(x, time_steps, unit_range=True)
    t_spike = torch.floor((1.0 - x) * (time_steps - 1) + 0.5).long()
    steps = torch.arange(time_steps).view(time_steps, *([1] * x.dim()))
    return ((steps == t_spike.unsqueeze(0)) & (x > threshold).unsqueeze(0)).to(torch.float32)


def encode(
    x: torch.Tensor,
    time_steps: int,
    encoding: str = "rate",
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Encode ``x`` with the encoder registered as ``encoding`` → ``[time_steps, *x.shape]``."""
    return ENCODERS.get(encoding)(x, time_steps, generator=generator)
