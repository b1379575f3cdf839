"""The LIF equal, bit for bit, to a peer library's neuron module (snnTorch, SpikingJelly,
Norse).

Each function reads the peer module's class name and attributes (no peer import) and
returns a :class:`~spikelite.core.neurons.LIF` whose spikes and membranes equal the peer's
on time-major input ``[T, B, ...]`` for any parameter value, in float32 and float64, on the
eager and the fused path (``tests/core/test_peers.py`` checks inputs whose membrane lands
within one ulp of the threshold):

==========================================  ==============================================
peer neuron                                 LIF
==========================================  ==============================================
snnTorch ``Leaky(beta, threshold, ...)``    ``LIF(beta, threshold, reset=reset_mechanism,
                                            strict=True, reset_timing="delayed"`` (for
                                            ``reset_delay=True``) or ``"mixed"``)
SpikingJelly ``LIFNode(tau, decay_input,    ``LIF(tau=τ, decay_input, threshold,
v_threshold, v_reset)``                     v_reset=v_r or 0, reset="zero"/"subtract")``
SpikingJelly ``IFNode(v_threshold,          ``LIF(beta=1, v_start=v_r, ...)``
v_reset)``
SpikingJelly ``ParametricLIFNode(w, ...)``  ``LIF(tau_inv=sigmoid(w), decay_input, ...)``
Norse ``LIFBoxCell(p, dt)``                 ``LIF(tau_inv=dt·τ_mem_inv, form="box",
                                            v_leak, v_reset, threshold=v_th,
                                            strict=True)``
==========================================  ==============================================

Tensor parameters stay tensors (per channel ``[C]`` — a ``[C, 1, 1]`` tensor becomes
``[C]`` — or per neuron); a learnable β, τ or 1/τ becomes a learnable leak (a
ParametricLIFNode's ``w`` becomes its ``sigmoid(w)``), a learnable threshold a learnable
threshold. Surrogate gradients are mapped to the nearest spikelite surrogate (the forward
pass does not depend on them).
"""

from __future__ import annotations

import torch
from torch import nn

from spikelite.core.neurons import LIF
from spikelite.core.surrogates import Surrogate, get_surrogate
from spikelite.errors import SpikeliteError

_SNNTORCH = ("Leaky",)
_SPIKINGJELLY = ("LIFNode", "IFNode", "ParametricLIFNode")
_NORSE = ("LIFBoxCell", "LIFBox")


def _refuse_class(neuron: object, library: str, supported: tuple[str, ...]) -> SpikeliteError:
    return SpikeliteError(
        f"{type(neuron).__name__} from {library} has no exact spikelite equivalent; "
        f"supported: {', '.join(supported)}")


def _library(neuron: object) -> str:
    return type(neuron).__module__.split(".")[0]


def _per_channel(t: torch.Tensor) -> torch.Tensor:
    """A ``[C, 1, ..., 1]`` parameter as ``[C]`` (spikelite's per-channel shape)."""
    t = t.detach().clone()
    if t.dim() >= 2 and all(n == 1 for n in t.shape[1:]):
        return t.reshape(-1)
    return t


def _value(t: object) -> float | torch.Tensor:
    """A peer parameter as a Python number (0-dim or number) or a detached tensor."""
    if isinstance(t, torch.Tensor):
        return float(t) if t.dim() == 0 and t.dtype == torch.float64 else _per_channel(t)
    return float(t)  # type: ignore[arg-type]


def _learnable(t: object) -> bool:
    return isinstance(t, torch.Tensor) and t.requires_grad


def _make_learnable(lif: LIF, name: str, raw: torch.Tensor) -> None:
    """Turn buffer ``name`` into a parameter holding the peer's raw value."""
    value = _per_channel(raw).to(getattr(lif, name).dtype)
    delattr(lif, name)
    setattr(lif, name, nn.Parameter(value))


def _match_dtype(lif: LIF, *params: object) -> LIF:
    """Float64 peer parameters: the LIF in float64 too (its exact given values restored)."""
    if any(isinstance(t, torch.Tensor) and t.dtype == torch.float64 for t in params):
        lif.double()
    return lif


def _surrogate_from_callable(fn: object, default: Surrogate) -> Surrogate:
    """snnTorch/SpikingJelly surrogate → spikelite's (same family and shape parameter)."""
    name = type(fn).__name__
    if name == "function":  # snnTorch closures: atan(alpha) → inner
        qual = getattr(fn, "__qualname__", "")
        cells = {n: c.cell_contents for n, c in zip(
            fn.__code__.co_freevars, fn.__closure__ or (), strict=False)}  # type: ignore[attr-defined]
        family = qual.split(".")[0]
        if family == "atan":
            return get_surrogate("atan", alpha=float(cells.get("alpha", 2.0)))
        if family == "fast_sigmoid":
            return get_surrogate("fast_sigmoid", slope=float(cells.get("slope", 25.0)))
        if family == "sigmoid":
            return get_surrogate("sigmoid", slope=float(cells.get("slope", 25.0)))
        return default
    alpha = getattr(fn, "alpha", None)
    if isinstance(alpha, (int, float)):
        if name == "ATan":
            return get_surrogate("atan", alpha=float(alpha))
        if name == "Sigmoid":
            return get_surrogate("sigmoid", slope=float(alpha))
    return default


def lif_from_snntorch(neuron: nn.Module) -> LIF:
    """The LIF equal to an snnTorch ``snn.Leaky`` (``reset_mechanism`` subtract/zero/none,
    ``reset_delay`` True/False, learnable/tensor β and threshold; β clamped to [0, 1] as
    snnTorch does in every forward)."""
    name = type(neuron).__name__
    if name not in _SNNTORCH:
        raise _refuse_class(neuron, "snnTorch", _SNNTORCH)
    if getattr(neuron, "inhibition", False):
        raise SpikeliteError("snnTorch Leaky(inhibition=True) has no spikelite equivalent; "
                             "build it with inhibition=False")
    if getattr(neuron, "state_quant", False):
        raise SpikeliteError("snnTorch Leaky(state_quant=...) has no exact equivalent; use "
                             "LIF(state_bits=...) instead")
    gsf = getattr(neuron, "graded_spikes_factor", 1.0)
    if _learnable(gsf) or float(torch.as_tensor(gsf)) != 1.0:
        raise SpikeliteError("snnTorch Leaky(graded_spikes_factor≠1) emits graded spikes, "
                             "which LIF does not; build it with graded_spikes_factor=1.0")
    beta, threshold = neuron.beta, neuron.threshold
    reset = str(neuron.reset_mechanism)
    timing = "immediate" if reset == "none" else (
        "delayed" if getattr(neuron, "reset_delay", True) else "mixed")
    lif = LIF(
        beta=_value(beta.detach().clamp(0, 1)) if isinstance(beta, torch.Tensor)
        else min(max(float(beta), 0.0), 1.0),
        threshold=_value(threshold),
        reset=reset,
        reset_timing=timing,
        strict=True,  # snnTorch fires when mem − θ > 0
        # snnTorch detaches its reset flag (always, in LIF too); with reset_delay=False
        # the new spike in do_reset = spk − reset keeps its gradient
        detach_reset=timing != "mixed",
        surrogate=_surrogate_from_callable(getattr(neuron, "spike_grad", None),
                                           get_surrogate("atan")),
    )
    if _learnable(beta):
        _make_learnable(lif, "leak", beta)  # raw value: clamped to [0, 1] in the forward
    if _learnable(threshold):
        _make_learnable(lif, "threshold", threshold)
    return _match_dtype(lif, beta, threshold)


def lif_from_spikingjelly(neuron: nn.Module) -> LIF:
    """The LIF equal to a SpikingJelly ``LIFNode`` (``decay_input`` True/False, hard reset
    to ``v_reset`` or soft reset for ``v_reset=None``), ``IFNode`` or ``ParametricLIFNode``
    (torch/CPU arithmetic; fires when ``h ≥ θ``)."""
    name = type(neuron).__name__
    if name not in _SPIKINGJELLY:
        raise _refuse_class(neuron, "SpikingJelly", _SPIKINGJELLY)
    v_reset = neuron.v_reset
    kw: dict[str, object] = {
        "threshold": float(neuron.v_threshold),
        "v_reset": 0.0 if v_reset is None else float(v_reset),
        "reset": "subtract" if v_reset is None else "zero",
        "detach_reset": bool(neuron.detach_reset),
        "surrogate": _surrogate_from_callable(getattr(neuron, "surrogate_function", None),
                                              get_surrogate("sigmoid")),
    }
    if name == "IFNode":  # h = v + x; starts at v_reset (or 0)
        return LIF(beta=1.0, v_start=kw["v_reset"], **kw)  # type: ignore[arg-type]
    decay_input = bool(getattr(neuron, "decay_input", True))
    if name == "LIFNode":
        return LIF(tau=float(neuron.tau), decay_input=decay_input, **kw)  # type: ignore[arg-type]
    w = neuron.w  # ParametricLIFNode: h = v + (x − (v − v_r))·sigmoid(w)
    k = w.detach().sigmoid()
    lif = LIF(tau_inv=_value(k), decay_input=decay_input, learn_leak=_learnable(w),
              **kw)  # type: ignore[arg-type]
    return _match_dtype(lif, w)


def lif_from_norse(neuron: nn.Module, dt: float | None = None) -> LIF:
    """The LIF equal to a Norse ``LIFBoxCell`` (``h = v + dt·τ_mem_inv·((x + v_leak) −
    v)`` with ``dt·τ_mem_inv`` evaluated first, any ``v_leak``/``v_reset``, reset to value
    or by subtraction, fires when ``h > v_th``; starts at ``v_leak``). ``dt``: the module's
    own ``dt`` when ``None``."""
    name = type(neuron).__name__
    if name not in _NORSE:
        raise _refuse_class(neuron, "Norse", _NORSE)
    p = neuron.p
    if dt is None:
        dt = getattr(neuron, "dt", None)
        if dt is None:
            raise SpikeliteError(f"Norse {name} has no dt; pass lif_from_norse(..., dt=...)")
    k = dt * p.tau_mem_inv  # Norse's order: (dt·τ_mem_inv)·(…)
    method = getattr(p.reset_method, "__name__", "reset_value")
    if method not in ("reset_value", "reset_subtract"):
        raise SpikeliteError(f"Norse reset_method {method!r} has no spikelite equivalent; "
                             "supported: reset_value, reset_subtract")
    alpha = p.alpha
    sur = get_surrogate("fast_sigmoid", slope=float(alpha)) if str(p.method) == "super" \
        else get_surrogate("fast_sigmoid")
    lif = LIF(
        tau_inv=_value(k), form="box",
        v_leak=_value(p.v_leak), v_reset=_value(p.v_reset), threshold=_value(p.v_th),
        reset="zero" if method == "reset_value" else "subtract",
        strict=True, detach_reset=False, surrogate=sur,
        learn_leak=_learnable(p.tau_mem_inv),
    )
    return _match_dtype(lif, k, p.v_leak, p.v_reset, p.v_th)
