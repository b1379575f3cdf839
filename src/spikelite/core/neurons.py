"""Neuron modules: thin stateful wrappers over the pure step functions.

Input and output are time-major ``[T, B, ...]``. The module keeps the final post-reset
membrane in ``mem`` (detached: gradients do not cross calls) so a stream can be fed in
chunks; :meth:`reset` clears it. ``forward`` always returns the spike tensor.

Equivalent settings in the peer libraries — spikes and membranes bit-identical for any
parameter value, float32 and float64, eager and fused (``tests/core/test_peers.py``, on
inputs whose membrane lands within an ulp of θ); :mod:`spikelite.core.peers` builds them
from the peer's module:

==================================================  ======================================
peer                                                LIF
==================================================  ======================================
snnTorch ``Leaky(beta=β, threshold=θ)`` (default    ``LIF(beta=β, threshold=θ,
``reset_mechanism="subtract"``, ``reset_delay=      reset="subtract", strict=True,
True``: ``h_t = (β·h_{t−1} + x_t) − θ·s_{t−1}``)    reset_timing="delayed")``
snnTorch ``Leaky(..., reset_mechanism="zero")``     ``LIF(beta=β, threshold=θ,
                                                    reset="zero", strict=True,
                                                    reset_timing="delayed")`` (the same
                                                    spikes as ``reset_timing="immediate"``;
                                                    ``mem`` then holds the post-reset value)
snnTorch ``Leaky(..., reset_delay=False)``          ``reset_timing="mixed"``
snnTorch ``Leaky(..., reset_mechanism="none")``     ``LIF(beta=β, reset="none", strict=True)``
SpikingJelly ``LIFNode(tau=τ, v_reset=v_r)``        ``LIF(tau=τ, v_reset=v_r, reset="zero")``
SpikingJelly ``LIFNode(tau=τ, decay_input=False,    ``LIF(tau=τ, decay_input=False,
v_reset=None)``                                     reset="subtract")`` (not β = 1 − 1/τ:
                                                    SpikingJelly computes v − v/τ + x)
SpikingJelly ``IFNode(v_reset=v_r)``                ``LIF(beta=1, v_reset=v_r, v_start=v_r)``
SpikingJelly ``ParametricLIFNode``                  ``LIF(tau_inv=sigmoid(w), ...)``
Norse ``LIFBoxCell(LIFBoxParameters(tau_mem_inv,    ``LIF(tau_inv=dt·tau_mem_inv, form="box",
v_leak, v_th, v_reset), dt)``                       v_leak=v_leak, v_reset=v_reset,
                                                    threshold=v_th, strict=True)``
==================================================  ======================================
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from spikelite._registry import Registry
from spikelite.core.checks import NonFiniteError, describe_bad
from spikelite.core.functional import lif_multistep_eager, rest
from spikelite.core.fused import StepObserver, lif_multistep_fused, lif_multistep_fused_trace
from spikelite.core.layout import (
    is_steps_channels_last,
    params_last,
    state_first,
    state_last,
    steps_first,
    steps_last,
)
from spikelite.core.params import (
    LIFParams,
    check_leak,
    check_threshold,
    check_timing,
    check_v_reset,
    normalize_reset,
)
from spikelite.core.state_quant import check_state_quant
from spikelite.core.surrogates import Surrogate, get_surrogate
from spikelite.core.threads import LOOP_THREADS, check_loop_threads
from spikelite.core.triton_lif import (
    KERNELS,
    choose_kernel,
    lif_multistep_triton,
    lif_multistep_triton_trace,
)
from spikelite.errors import SpikeliteError

NEURONS: Registry[type[nn.Module]] = Registry("neuron", options="parameters")


def _as_tensor(value: float | torch.Tensor | list[float], name: str) -> torch.Tensor:
    try:
        t = torch.as_tensor(value, dtype=torch.get_default_dtype())
    except (TypeError, ValueError) as exc:
        raise SpikeliteError(f"{name} must be a number or a tensor, got {value!r}") from exc
    return t.detach().clone()


def _exact(value: float | torch.Tensor | list[float]) -> torch.Tensor:
    """``value`` in float64 on the CPU: the parameter as given, before any rounding to the
    module's dtype (restored by :meth:`LIF._apply` when the module becomes float64)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64).clone()
    return torch.as_tensor(value, dtype=torch.float64)


def broadcast_param(p: torch.Tensor, x: torch.Tensor, name: str) -> torch.Tensor:
    """View a parameter for a time-major input ``x [T, B, *F]``.

    A 0-dim tensor is a scalar; a 1-dim tensor of length ``F[0]`` is per channel (viewed
    ``[C, 1, ...]``); otherwise its shape must equal ``F`` (per neuron).
    """
    feat = x.shape[2:]
    if p.dim() == 0:
        return p
    if p.dim() == 1 and len(feat) >= 1 and p.shape[0] == feat[0]:
        return p.view(-1, *([1] * (len(feat) - 1)))
    if tuple(p.shape) == tuple(feat):
        return p
    raise SpikeliteError(
        f"{name} has shape {tuple(p.shape)}, which fits neither one channel per feature map "
        f"({feat[0] if feat else '?'},) nor one value per neuron {tuple(feat)} of the input "
        f"{tuple(x.shape)}"
    )


def _pick_form(tau: object, tau_inv: object, form: str | None) -> str:
    """The leak form from which of beta/tau/tau_inv was given (``form``: ``box`` for
    Norse's operation order with ``tau_inv``)."""
    inferred = "tau" if tau is not None else "tau_inv" if tau_inv is not None else "beta"
    if form is None or form == inferred:
        return inferred
    if form == "box" and inferred == "tau_inv":
        return "box"
    raise SpikeliteError(
        f"form={form!r} does not fit the leak given ({inferred}); give beta for 'beta', tau "
        "for 'tau', tau_inv for 'tau_inv' or 'box'")


def _check_finite(t: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(t).all()):
        raise SpikeliteError(f"{name} must be a finite number, got {t.tolist()!r}")


def check_time_major(x: torch.Tensor, who: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise SpikeliteError(f"{who} expects a tensor [T, B, ...], got {type(x).__name__}")
    if x.dim() < 3:
        raise SpikeliteError(
            f"{who} expects a time-major input [T, B, features...] with at least 3 dims, got "
            f"shape {tuple(x.shape)}. Add the time axis first (e.g. x.unsqueeze(0) for one "
            f"step, or spikelite.data encoders for static inputs)"
        )


def _membrane_input(x: torch.Tensor) -> torch.Tensor:
    """Under mixed precision (autocast), a float16/bfloat16 input current in float32: the
    membrane is integrated in float32 so thresholds compare float32 values (the spikes
    stay 0/1, exact in any dtype). Unchanged outside autocast."""
    if x.dtype in (torch.float16, torch.bfloat16) and torch.is_autocast_enabled(
            x.device.type):
        return x.float()
    return x


def _observer_first(observer: StepObserver | None) -> StepObserver | None:
    """``observer`` fed ``[B, C, H, W]`` views of a kernel running on ``[B, H, W, C]``."""
    if observer is None:
        return None

    def first(t: int, h: torch.Tensor, h_prev: torch.Tensor | None, s: torch.Tensor) -> None:
        observer(t, state_first(h), None if h_prev is None else state_first(h_prev),
                 state_first(s))
    return first


def _sink_first(sink: Callable[[torch.Tensor], None] | None
                ) -> Callable[[torch.Tensor], None] | None:
    """``sink`` fed the ``[T, B, C, H, W]`` view of a ``[T, B, H, W, C]`` membrane."""
    return None if sink is None else (lambda h: sink(steps_first(h)))


@NEURONS.register("lif")
class LIF(nn.Module):
    """Leaky integrate-and-fire neuron over ``[T, B, ...]`` (see :class:`LIFParams`).

    Give ``beta`` for the multiplicative form ``h = β·v + x`` (default β = 0.5, QP-SNN) or
    ``tau`` for the SpikingJelly form ``h = v + (x − (v − v_reset))/τ`` (Schaefer et al.:
    τ = 2). ``learn_leak=True`` makes β (or τ) a parameter, one per channel when
    ``channels`` is given. ``threshold``/``v_reset``/``beta``/``tau`` accept per-channel
    ``[C]`` or per-neuron tensors. ``fused=True`` uses the fused kernel
    (:mod:`spikelite.core.fused`); ``False`` the eager reference. ``state_bits`` (opt-in)
    stores the membrane in ``state_bits``-bit fixed point saturating at ±``state_max``
    (default 2θ); it runs on the eager path. ``kernel`` picks the fused kernel:
    ``"auto"`` (the Triton kernel of :mod:`spikelite.core.triton_lif` for CUDA tensors when
    it covers the configuration, else the PyTorch one), ``"triton"`` (that kernel or an
    error saying why not) or ``"torch"``; ``last_kernel``/``kernel_reason`` record the
    choice of the last call. ``loop_threads`` (default ``None``): intra-op threads of the CPU
    kernel's per-step loop (:mod:`spikelite.core.threads`; ``None``: torch's setting); the
    layers around it keep all threads.

    Peer-exact settings (see the table above and :class:`LIFParams`): ``tau_inv`` (1/τ,
    multiplied; ``form="box"`` for Norse's order), ``decay_input=False`` (τ-forms: the
    input is not divided by τ), ``v_leak`` (the τ-forms' decay target, default
    ``v_reset``), ``v_start`` (the initial membrane) and ``reset_timing``
    (``"immediate"``; snnTorch's ``"delayed"`` and ``"mixed"``, β-form only).
    """

    def __init__(
        self,
        beta: float | torch.Tensor | None = None,
        *,
        tau: float | torch.Tensor | None = None,
        tau_inv: float | torch.Tensor | None = None,
        form: str | None = None,
        decay_input: bool = True,
        v_leak: float | torch.Tensor | None = None,
        v_start: float | torch.Tensor | None = None,
        reset_timing: str = "immediate",
        threshold: float | torch.Tensor = 1.0,
        v_reset: float | torch.Tensor = 0.0,
        reset: str = "zero",
        surrogate: str | Surrogate | None = "atan",
        surrogate_params: dict[str, float] | None = None,
        detach_reset: bool = False,
        strict: bool = False,
        learn_leak: bool = False,
        channels: int | None = None,
        fused: bool = True,
        state_bits: int | None = None,
        state_max: float | None = None,
        kernel: str = "auto",
        loop_threads: int | None = LOOP_THREADS,
    ) -> None:
        super().__init__()
        if sum(v is not None for v in (beta, tau, tau_inv)) > 1:
            raise SpikeliteError(
                "give either beta (h = β·v + x), tau (SpikingJelly form) or tau_inv (1/τ, "
                "multiplied), not several"
            )
        self.form = _pick_form(tau, tau_inv, form)
        value = tau if tau is not None else tau_inv if tau_inv is not None else (
            0.5 if beta is None else beta)
        leak = _as_tensor(value, self.form)
        check_leak(self.form, leak)
        th = _as_tensor(threshold, "threshold")
        check_threshold(th)
        vr = _as_tensor(v_reset, "v_reset")
        check_v_reset(vr)
        given = {"leak": _exact(value), "threshold": _exact(threshold),
                 "v_reset": _exact(v_reset)}
        if channels is not None and leak.dim() == 0:
            leak = leak.repeat(int(channels))
            given["leak"] = given["leak"].repeat(int(channels))
        #: the parameters exactly as given (float64, CPU): ``.double()`` restores them, so
        #: a float64 model computes with β = 1 − 1/3, not its float32 rounding
        self._given = given
        if learn_leak:
            self.leak = nn.Parameter(leak)
        else:
            self.register_buffer("leak", leak)
        self.register_buffer("threshold", th)
        self.register_buffer("v_reset", vr)
        for name, val in (("v_leak", v_leak), ("v_start", v_start)):
            t = None if val is None else _as_tensor(val, name)
            if t is not None:
                _check_finite(t, name)
                given[name] = _exact(val)  # type: ignore[arg-type]
            self.register_buffer(name, t)
        self.decay_input = bool(decay_input)
        self.reset_timing = str(reset_timing)
        check_timing(self.form, self.reset_timing, vr, self.decay_input)
        self.reset_mode = normalize_reset(reset)
        self.surrogate = get_surrogate(surrogate, **(surrogate_params or {}))
        self.detach_reset = bool(detach_reset)
        self.strict = bool(strict)
        self.fused = bool(fused)
        if kernel not in KERNELS:
            raise SpikeliteError(f"unknown kernel '{kernel}'. Valid: {', '.join(KERNELS)}")
        self.kernel = kernel
        self.loop_threads = check_loop_threads(loop_threads)
        #: the kernel the last forward ran ("triton", "torch" or "eager") and why the
        #: Triton kernel was not used (``None`` when it was)
        self.last_kernel: str | None = None
        self.kernel_reason: str | None = None
        if state_bits is not None and state_max is None:
            state_max = 2.0 * float(th.max())
        check_state_quant(state_bits, state_max)
        self.state_bits = state_bits
        self.state_max = state_max
        self.mem: torch.Tensor | None = None
        #: opt-in ``observer(t, h_t, h_{t−1}, s_t)`` called after every step with the
        #: pre-reset membrane (set by the hardware recorder while profiling; ``None``: no
        #: cost). Not part of the state: never saved, never copied into checkpoints.
        self.step_observer: StepObserver | None = None
        #: opt-in ``sink(h)`` called after every forward with the pre-reset membrane
        #: ``h`` ``[T, B, ...]`` attached to the autograd graph (set by membrane
        #: regularizers; the fused kernel returns it too). Not part of the state.
        self.membrane_sink: Callable[[torch.Tensor], None] | None = None

    # -- parameters -------------------------------------------------------------------
    @property
    def beta(self) -> torch.Tensor:
        """The multiplicative leak (for the τ-forms: the equivalent 1 − 1/τ)."""
        if self.form == "beta":
            return self.leak
        return 1 - 1 / self.leak if self.form == "tau" else 1 - self.leak

    def params_for(self, x: torch.Tensor) -> LIFParams:
        """The :class:`LIFParams` record with tensors viewed for input ``x``.

        A learnable β is clamped to [0, 1] and a learnable τ to ≥ 1e-3 in the forward pass
        (as snnTorch clamps β), so training cannot leave the valid range.
        """

        def prep(t: torch.Tensor, name: str) -> float | torch.Tensor:
            if t.dim() == 0 and not t.requires_grad:
                return float(t)
            return broadcast_param(t, x, name).to(x.dtype)

        leak = self.leak
        if leak.requires_grad:
            leak = (leak.clamp(0.0, 1.0) if self.form == "beta" else
                    leak.clamp_min(1e-3) if self.form == "tau" else leak.clamp(1e-6, 1.0))
        extra = {name: prep(t, name) for name in ("v_leak", "v_start")
                 if (t := getattr(self, name, None)) is not None}
        return LIFParams(
            form=self.form,  # type: ignore[arg-type]
            leak=prep(leak, self.form),
            threshold=prep(self.threshold, "threshold"),
            v_reset=prep(self.v_reset, "v_reset"),
            reset=self.reset_mode,
            surrogate=self.surrogate,
            detach_reset=self.detach_reset,
            strict=self.strict,
            state_bits=self.state_bits,
            state_max=self.state_max,
            decay_input=getattr(self, "decay_input", True),
            reset_timing=getattr(self, "reset_timing", "immediate"),  # type: ignore[arg-type]
            **extra,
        )

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        """Convert like any module; a parameter still equal to the value given at
        construction (rounded to its old dtype) becomes exactly that value in float64, so
        the parameters follow the module's dtype without keeping float32 rounding."""
        given = getattr(self, "_given", {})
        untouched = {}
        for name, exact in given.items():
            t = getattr(self, name, None)
            untouched[name] = (isinstance(t, torch.Tensor) and t.is_floating_point()
                               and t.shape == exact.shape
                               and torch.equal(t.detach().cpu(), exact.to(t.dtype)))
        out = super()._apply(fn, recurse)
        for name, same in untouched.items():
            t = getattr(self, name)
            if same and t.dtype == torch.float64:
                with torch.no_grad():
                    t.copy_(given[name].to(t.device))
        return out

    @property
    def snntorch_timing(self) -> bool:
        """Whether the reset follows snnTorch's delayed/mixed timing (state = ``h``)."""
        return getattr(self, "reset_timing", "immediate") != "immediate"

    # -- state --------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the membrane state (call between independent samples)."""
        self.mem = None

    def _v0(self, x: torch.Tensor, p: LIFParams) -> torch.Tensor:
        if self.mem is not None and self.mem.shape == x.shape[1:]:
            return self.mem.to(dtype=x.dtype, device=x.device)
        return rest(x[0], p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_time_major(x, type(self).__name__)
        x = _membrane_input(x)
        p = self.params_for(x)
        v0 = self._v0(x, p)
        observer = getattr(self, "step_observer", None)  # absent in modules pickled before
        sink = getattr(self, "membrane_sink", None)
        if is_steps_channels_last(x):  # run on the contiguous [T, B, H, W, C] view
            spikes, v = self._run(steps_last(x), state_last(v0), params_last(p),
                                  _observer_first(observer), _sink_first(sink))
            spikes, v = steps_first(spikes), state_first(v)
        else:
            spikes, v = self._run(x, v0, p, observer, sink)
        # A NaN/±inf input current leaves the final membrane non-finite (every reset keeps
        # it), so checking v_T (1/T of the input) catches it; a fixed-point membrane
        # saturates ±inf, so there the input itself is checked (its sum: NaN/inf propagate)
        if not bool(torch.isfinite(v).all()) or (
                self.state_bits is not None and not bool(torch.isfinite(x.sum()))):
            self.mem = None
            self._refuse(x)
        self.mem = v.detach()
        return spikes

    def _run(self, x: torch.Tensor, v0: torch.Tensor, p: LIFParams,
             observer: StepObserver | None, sink: Callable[[torch.Tensor], None] | None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(spikes, v_T)`` from the kernel that fits (eager, fused or Triton)."""
        eager = (not self.fused) or self.state_bits is not None or any(
            isinstance(t, torch.Tensor) and t.requires_grad for t in (p.threshold, p.v_reset)
        )
        kernel = getattr(self, "kernel", "auto")  # absent in modules pickled before
        if eager:
            if kernel == "triton":
                why = ("fused=False" if not self.fused else "state_bits is set"
                       if self.state_bits is not None else "threshold/v_reset are learnable")
                raise SpikeliteError(
                    f"kernel='triton' cannot run this LIF: {why}, which runs on the eager "
                    "path; use kernel='auto'")
            self.last_kernel, self.kernel_reason = "eager", "the eager path was needed"
        else:
            self.last_kernel, self.kernel_reason = choose_kernel(kernel, x, p)
        triton = self.last_kernel == "triton"
        if sink is not None and eager:
            trace: list[torch.Tensor] = []
            spikes, v = lif_multistep_eager(x, v0, p, observer, trace=trace)
            sink(torch.stack(trace))
        elif sink is not None:
            if triton:
                spikes, v, h = lif_multistep_triton_trace(x, v0, p, observer)
            else:
                spikes, v, h = lif_multistep_fused_trace(
                    x, v0, p, observer, getattr(self, "loop_threads", LOOP_THREADS))
            sink(h)
        elif not (eager or triton):
            spikes, v = lif_multistep_fused(x, v0, p, observer,
                                            getattr(self, "loop_threads", LOOP_THREADS))
        else:
            fn = lif_multistep_eager if eager else lif_multistep_triton
            spikes, v = fn(x, v0, p) if observer is None else fn(x, v0, p, observer)
        return spikes, v

    def _refuse(self, x: torch.Tensor) -> None:
        """Raise :class:`NonFiniteError` for a non-finite input (or membrane)."""
        bad = describe_bad(x)
        if bad is not None:
            raise NonFiniteError(
                f"{type(self).__name__} input of shape {tuple(x.shape)} has {bad}; a "
                "NaN/infinite input current gives no meaningful spikes — check the input "
                "data and the weights of the layers before it", self)
        raise NonFiniteError(
            f"{type(self).__name__} membrane overflowed to a non-finite value on a finite "
            f"input of shape {tuple(x.shape)} (largest |x| = {float(x.abs().max()):.3g}); "
            "check the weights of the layers before it", self)

    def extra_repr(self) -> str:
        leak = self.leak
        lk = f"{float(leak):g}" if leak.numel() == 1 else f"[{leak.numel()}]"
        th = self.threshold
        return (
            f"{self.form}={lk}, threshold={float(th) if th.numel() == 1 else list(th.shape)}, "
            f"reset={self.reset_mode}, surrogate={self.surrogate}"
            + (", strict" if self.strict else "")
            + ("" if getattr(self, "decay_input", True) else ", decay_input=False")
            + (f", reset_timing={self.reset_timing}" if self.snntorch_timing else "")
            + (", detach_reset" if self.detach_reset else "")
        )


@NEURONS.register("if")
class IF(LIF):
    """Integrate-and-fire: ``h = v + x`` (the β-form with β = 1, no leak)."""

    def __init__(self, **kwargs: object) -> None:
        if "beta" in kwargs or "tau" in kwargs:
            raise SpikeliteError("IF has no leak; use LIF for beta/tau")
        super().__init__(beta=1.0, **kwargs)  # type: ignore[arg-type]


def create_neuron(name: str, **kwargs: object) -> nn.Module:
    """Build a registered neuron by name (``lif``, ``if``) with keyword parameters."""
    return NEURONS.build(name, **kwargs)


def reset_states(model: nn.Module) -> None:
    """Call ``reset()`` on every submodule that has one (neurons and stateful layers)."""
    for m in model.modules():
        fn = getattr(m, "reset", None)
        if callable(fn):
            fn()
