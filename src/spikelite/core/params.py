"""Typed parameter record for the LIF family (shared by the step functions and modules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from spikelite.core.state_quant import check_state_quant
from spikelite.core.surrogates import ATan, Surrogate
from spikelite.errors import SpikeliteError

LeakForm = Literal["beta", "tau"]
ResetMode = Literal["zero", "subtract", "none"]
Scalar = float | torch.Tensor

_RESET_ALIASES = {"zero": "zero", "hard": "zero", "subtract": "subtract", "soft": "subtract",
                  "none": "none"}


def normalize_reset(reset: str) -> ResetMode:
    """Canonical reset name: ``zero`` (alias ``hard``), ``subtract`` (``soft``) or ``none``."""
    key = str(reset).lower()
    if key not in _RESET_ALIASES:
        raise SpikeliteError(
            f"unknown reset mode '{reset}'. Valid: zero (alias hard), subtract (alias soft), none"
        )
    return _RESET_ALIASES[key]  # type: ignore[return-value]


def _first_bad(p: Scalar, ok: Callable[[torch.Tensor], torch.Tensor]) -> float | None:
    """The first value of ``p`` failing ``ok`` (vectorised, one sync), or ``None``."""
    t = p.detach() if isinstance(p, torch.Tensor) else torch.tensor(float(p), dtype=torch.float64)
    bad = ~ok(t)
    if bool(bad.any()):
        return float(t[bad].flatten()[0])
    return None


def check_leak(form: LeakForm, leak: Scalar) -> None:
    """β must lie in [0, 1]; τ must be > 0 (errors name the offending value)."""
    if form == "beta":
        bad = _first_bad(leak, lambda t: (t >= 0) & (t <= 1))
        if bad is not None:
            raise SpikeliteError(
                f"beta must lie in [0, 1] (it multiplies the membrane each step), got {bad}"
            )
    elif form == "tau":
        bad = _first_bad(leak, lambda t: (t > 0) & torch.isfinite(t))
        if bad is not None:
            raise SpikeliteError(f"tau must be a finite number > 0, got {bad}")
    else:
        raise SpikeliteError(f"unknown leak form '{form}'. Valid: beta, tau")


def check_threshold(threshold: Scalar) -> None:
    bad = _first_bad(threshold, lambda t: (t > 0) & torch.isfinite(t))
    if bad is not None:
        raise SpikeliteError(f"threshold must be a finite number > 0, got {bad}")


def check_v_reset(v_reset: Scalar) -> None:
    """The reset potential must be a finite number (a NaN would silence the neuron)."""
    bad = _first_bad(v_reset, torch.isfinite)
    if bad is not None:
        raise SpikeliteError(f"v_reset must be a finite number, got {bad}")


@dataclass(frozen=True)
class LIFParams:
    """Parameters of a (leaky) integrate-and-fire neuron.

    Charge (pre-reset membrane ``h``), for input current ``x`` and post-reset membrane ``v``:

    * ``form="beta"``: ``h_t = β·v_{t−1} + x_t`` (snnTorch ``Leaky``; QP-SNN Eq. 1 with β=0.5).
      β = 1 is the IF neuron.
    * ``form="tau"``: ``h_t = v_{t−1} + (x_t − (v_{t−1} − v_reset))/τ`` (SpikingJelly
      ``LIFNode(decay_input=True)``; Schaefer et al./TCJA with τ = 2).

    Fire: ``s_t = H(h_t − θ)`` with ``h ≥ θ`` (default) or ``h > θ`` when ``strict``.
    Reset: ``zero`` → ``v_t = v_reset`` where ``s_t = 1`` else ``h_t``; ``subtract`` →
    ``v_t = h_t − θ·s_t``; ``none`` → ``v_t = h_t``. ``detach_reset`` stops the gradient
    through the reset path (snnTorch does, SpikingJelly and Norse do not by default).
    ``leak``, ``threshold`` and ``v_reset`` may be tensors broadcastable to one time step.
    ``state_bits``/``state_max`` (opt-in) store the post-reset membrane in fixed point
    (:mod:`spikelite.core.state_quant`).
    """

    form: LeakForm = "beta"
    leak: Scalar = 0.5
    threshold: Scalar = 1.0
    v_reset: Scalar = 0.0
    reset: ResetMode = "zero"
    surrogate: Surrogate = field(default_factory=ATan)
    detach_reset: bool = False
    strict: bool = False
    state_bits: int | None = None
    state_max: float | None = None

    def __post_init__(self) -> None:
        check_leak(self.form, self.leak)
        check_threshold(self.threshold)
        check_v_reset(self.v_reset)
        object.__setattr__(self, "reset", normalize_reset(self.reset))
        check_state_quant(self.state_bits, self.state_max)
        if not isinstance(self.surrogate, Surrogate):
            raise SpikeliteError(
                f"surrogate must be a Surrogate instance, got {type(self.surrogate).__name__}; "
                "use spikelite.core.get_surrogate(name)"
            )
