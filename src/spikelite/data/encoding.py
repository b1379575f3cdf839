"""Spike encoders for static inputs: ``x`` of any shape → time-major ``[T, *x.shape]`` float32.

Every encoder has the signature ``encoder(x, time_steps, *, generator=None)`` and is
registered by name in :data:`ENCODERS` (``direct``, ``rate``, ``latency``). Inputs are
intensities in [0, 1]; ``rate`` and ``latency`` refuse values outside that range, and every
encoder refuses NaN or infinite inputs (:func:`check_input`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from spikelite._registry import Registry
from spikelite.errors import SpikeliteError


class Encoder(Protocol):
    """A spike encoder: ``(x, time_steps, *, generator) → [time_steps, *x.shape]``."""

    def __call__(
        self, x: torch.Tensor, time_steps: int, *, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...


ENCODERS: Registry[Encoder] = Registry("encoding")


def check_input(x: torch.Tensor, *, unit_range: bool, what: str = "input") -> torch.Tensor:
    """``x`` as float32, refusing NaN/Inf and (``unit_range``) values outside [0, 1]."""
    x = torch.as_tensor(x, dtype=torch.float32)
    bad = ~torch.isfinite(x)
    if bad.any():
        raise SpikeliteError(
            f"spike encoders need finite inputs; {int(bad.sum())} of {x.numel()} {what} values "
            f"are NaN or infinite: clean the data before encoding"
        )
    if unit_range and x.numel() and (x.min() < 0 or x.max() > 1):
        outside = int(((x < 0) | (x > 1)).sum())
        raise SpikeliteError(
            f"spike encoders need intensities in [0, 1]; {outside} of {x.numel()} {what} "
            f"values lie outside (min {float(x.min()):g}, max {float(x.max()):g}): rescale the "
            f"input (e.g. x / 255)"
        )
    return x


def _check(x: torch.Tensor, time_steps: int, unit_range: bool) -> torch.Tensor:
    if (
        isinstance(time_steps, bool)
        or not isinstance(time_steps, (int, np.integer))
        or time_steps < 1
    ):
        raise SpikeliteError(f"time_steps must be a positive integer, got {time_steps!r}")
    return check_input(x, unit_range=unit_range)


@ENCODERS.register("direct")
def direct(
    x: torch.Tensor, time_steps: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Direct (analog) coding: the input repeated at every step, ``out[t] = x``.

    The first layer then acts as the encoder (Rueckauer et al. 2017; Wu et al. 2019).
    """
    x = _check(x, time_steps, unit_range=False)
    return x.unsqueeze(0).expand(int(time_steps), *x.shape).clone()


@ENCODERS.register("rate")
def rate(
    x: torch.Tensor, time_steps: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Rate (Bernoulli) coding: ``out[t, i] = 1`` with probability ``x[i]``, independently.

    ``out[t, i] = float(u[t, i] < x[i])`` with ``u ~ U[0, 1)`` drawn from ``generator``
    (torch's default generator when None), so ``E[out[t, i]] = x[i]``.
    """
    x = _check(x, time_steps, unit_range=True)
    u = torch.rand((int(time_steps), *x.shape), generator=generator)
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
    steps = torch.arange(int(time_steps)).view(int(time_steps), *([1] * x.dim()))
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
