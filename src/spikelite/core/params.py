"""Typed parameter record for the LIF family (shared by the step functions and modules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from spikelite.core.state_quant import check_state_quant
from spikelite.core.surrogates import ATan, Surrogate
from spikelite.errors import SpikeliteError

LeakForm = Literal["beta", "tau", "tau_inv", "box"]
ResetMode = Literal["zero", "subtract", "none"]
ResetTiming = Literal["immediate", "delayed", "mixed"]
_FORMS = ("beta", "tau", "tau_inv", "box")
_TIMINGS = ("immediate", "delayed", "mixed")
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
    """β must lie in [0, 1]; τ must be > 0; 1/τ in (0, 1] (errors name the offending value)."""
    if form in ("tau_inv", "box"):
        bad = _first_bad(leak, lambda t: (t > 0) & (t <= 1))
        if bad is not None:
            raise SpikeliteError(
                f"1/tau must lie in (0, 1] (the fraction of the way to v_leak per step), "
                f"got {bad}"
            )
    elif form == "beta":
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
        raise SpikeliteError(f"unknown leak form '{form}'. Valid: {', '.join(_FORMS)}")


def check_threshold(threshold: Scalar) -> None:
    bad = _first_bad(threshold, lambda t: (t > 0) & torch.isfinite(t))
    if bad is not None:
        raise SpikeliteError(f"threshold must be a finite number > 0, got {bad}")


def check_v_reset(v_reset: Scalar) -> None:
    """The reset potential must be a finite number (a NaN would silence the neuron)."""
    bad = _first_bad(v_reset, torch.isfinite)
    if bad is not None:
        raise SpikeliteError(f"v_reset must be a finite number, got {bad}")


def _is_zero(value: Scalar) -> bool:
    return _first_bad(value, lambda t: t == 0) is None


def check_timing(form: str, timing: str, v_reset: Scalar, decay_input: bool) -> None:
    """``reset_timing`` is one of immediate/delayed/mixed; the snnTorch timings need the
    β-form with ``v_reset = 0``; ``decay_input=False`` needs a τ-form other than ``box``."""
    if timing not in _TIMINGS:
        raise SpikeliteError(
            f"unknown reset_timing '{timing}'. Valid: {', '.join(_TIMINGS)}")
    if timing != "immediate" and (form != "beta" or not _is_zero(v_reset)):
        raise SpikeliteError(
            f"reset_timing='{timing}' (snnTorch's reset) needs the beta form with "
            "v_reset = 0; use reset_timing='immediate' for the tau forms")
    if not decay_input and form in ("beta", "box"):
        raise SpikeliteError(
            f"decay_input=False applies to the tau and tau_inv forms, not '{form}' "
            "(its input is never scaled); drop decay_input")


@dataclass(frozen=True)
class LIFParams:
    """Parameters of a (leaky) integrate-and-fire neuron.

    Charge (pre-reset membrane ``h``), for input current ``x`` and post-reset membrane ``v``:

    * ``form="beta"``: ``h_t = β·v_{t−1} + x_t`` (snnTorch ``Leaky``; QP-SNN Eq. 1 with β=0.5).
      β = 1 is the IF neuron.
    * ``form="tau"``: ``h_t = v_{t−1} + (x_t − (v_{t−1} − v_leak))/τ`` (SpikingJelly
      ``LIFNode(decay_input=True)``; Schaefer et al./TCJA with τ = 2); with
      ``decay_input=False``: ``h_t = v_{t−1} − (v_{t−1} − v_leak)/τ + x_t``.
    * ``form="tau_inv"`` (leak = k = 1/τ, multiplied): ``h_t = v + (x − (v − v_leak))·k``,
      without ``decay_input``: ``v − (v − v_leak)·k + x`` (SpikingJelly
      ``ParametricLIFNode``, k = sigmoid(w)).
    * ``form="box"`` (leak = k): ``h_t = v + k·((x + v_leak) − v)`` (Norse ``LIFBoxCell``,
      k = dt·τ_mem_inv).

    Each formula is evaluated in exactly the written operation order (the peers' order),
    so spikes are bit-identical to the peer for any parameter value. ``v_leak`` (the
    potential the τ-forms decay toward) defaults to ``v_reset``.

    Fire: ``s_t = H(h_t − θ)`` with ``h ≥ θ`` (default) or ``h > θ`` when ``strict``.
    Reset: ``zero`` → ``v_t = v_reset`` where ``s_t = 1`` else ``h_t``; ``subtract`` →
    ``v_t = h_t − θ·s_t``; ``none`` → ``v_t = h_t``. ``detach_reset`` stops the gradient
    through the reset path (snnTorch does, SpikingJelly and Norse do not by default).

    ``reset_timing`` (β-form only, ``v_reset = 0``) follows snnTorch ``Leaky``: with
    ``"delayed"`` (``reset_delay=True``, its default) the state is the pre-reset membrane
    and the reset of step t−1 acts at step t after the decay, from the flag
    ``r_t = H(v_{t−1} − θ)`` recomputed from the state: ``subtract`` → ``h_t = (β·v_{t−1} +
    x_t) − θ·r_t``, ``zero`` → ``h_t = β·((1 − r_t)·v_{t−1}) + x_t``; ``v_t = h_t``. With
    ``"mixed"`` (``reset_delay=False``) the flag is applied the same way and the new spike
    too, minus the flag: ``v_t = h_t − (s_t − r_t)·θ`` (zero: ``h_t − (s_t − r_t)·h_t``).
    The flag ``r`` never carries a gradient (snnTorch detaches it). ``v_start`` (optional)
    is the initial membrane (default: 0 for the β-form, ``v_leak`` for the τ-forms).
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
    decay_input: bool = True
    v_leak: Scalar | None = None
    v_start: Scalar | None = None
    reset_timing: ResetTiming = "immediate"

    def __post_init__(self) -> None:
        check_leak(self.form, self.leak)
        check_threshold(self.threshold)
        check_v_reset(self.v_reset)
        object.__setattr__(self, "reset", normalize_reset(self.reset))
        for name in ("v_leak", "v_start"):
            value = getattr(self, name)
            if value is not None and _first_bad(value, torch.isfinite) is not None:
                raise SpikeliteError(f"{name} must be a finite number, got {value!r}")
        check_timing(self.form, self.reset_timing, self.v_reset, self.decay_input)
        check_state_quant(self.state_bits, self.state_max)
        if not isinstance(self.surrogate, Surrogate):
            raise SpikeliteError(
                f"surrogate must be a Surrogate instance, got {type(self.surrogate).__name__}; "
                "use spikelite.core.get_surrogate(name)"
            )
