"""Fused multi-step LIF as one Triton kernel (CUDA): forward and backward.

One program handles a block of neurons and loops over the T steps inside the kernel, the
membrane in registers (float32), so a whole sequence is one launch instead of a few small
kernels per step (the PyTorch loop of :mod:`spikelite.core.fused` is launch-bound on a
GPU). It computes what :func:`spikelite.core.fused.lif_multistep_fused` computes:

* forward: the same operations in the same order (the peers' orders, see
  :class:`~spikelite.core.params.LIFParams`), float32 scalars as torch rounds Python
  numbers, IEEE division (``div_rn``; Triton's ``/`` may be approximate on CUDA) and FP
  contraction disabled (``enable_fp_fusion=False``: ``β·v + x`` is not fused into an FMA),
  so spikes and membranes are bit-identical;
* backward: backpropagation through time, walking the steps backward with the gradient
  of the state ``g_v`` in registers: ``g_h = g_s·σ'(h − θ) + g_hout + g_v·R_t``,
  ``g_x = b·g_h``, ``g_v ← a_t·g_h`` (``R``, ``a``, ``b`` as in :mod:`spikelite.core.fused`;
  snnTorch's delayed/mixed flags ``r_t = H(v_{t−1} − θ)`` recomputed from the saved state,
  no gradient through them). The learnable-leak gradient ``Σ_t g_h·∂h_t/∂leak`` is summed
  over time per neuron in the kernel, then over the broadcast dimensions. Gradients equal
  the PyTorch kernel's up to rounding (the summation order differs).

The surrogate derivatives are Triton expressions from :data:`TRITON_SURROGATES` (keyed
by surrogate name; the exact registered class only). A configuration the kernel does not
cover (another surrogate, a dtype other than float32, state quantization, a learnable
threshold, CPU tensors outside the interpreter) runs the PyTorch kernel, and
:func:`triton_unsupported` says why. ``triton`` is imported lazily; the tests run the
kernel with ``TRITON_INTERPRET=1`` on CPU tensors (``tests/core/test_triton_lif.py``).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from typing import Any, Literal

import torch

from spikelite.core.functional import leak_target, rest
from spikelite.core.fused import StepObserver, _sum_to
from spikelite.core.params import LIFParams
from spikelite.core.surrogates import ATan, FastSigmoid, Rectangular, Sigmoid, Surrogate, Triangle
from spikelite.errors import MissingExtraError, SpikeliteError

KernelChoice = Literal["auto", "triton", "torch"]
KERNELS: tuple[str, ...] = ("auto", "triton", "torch")

_FORM_ID = {"beta": 0, "tau": 1, "tau_inv": 2, "box": 3}
_RESET_ID = {"zero": 0, "subtract": 1, "none": 2}
_TIMING_ID = {"immediate": 0, "delayed": 1, "mixed": 2}
#: neurons per program (the interpreter runs one numpy step per program and time step)
_BLOCK = 1024


@dataclass(frozen=True)
class TritonSurrogate:
    """A surrogate's derivative in the kernel: ``sid`` selects the expression, ``params``
    its two scalar constants (precomputed from the record's field)."""

    cls: type[Surrogate]
    sid: int

    def params(self, sur: Surrogate) -> tuple[float, float]:
        if isinstance(sur, ATan):  # (α/2) / (1 + (π/2·α·u)²)
            return math.pi / 2 * sur.alpha, sur.alpha / 2
        if isinstance(sur, Triangle):  # max(a − |u|, 0) / a
            return sur.width, sur.width
        if isinstance(sur, FastSigmoid):  # 1 / (k|u| + 1)²
            return sur.slope, sur.slope
        if isinstance(sur, Sigmoid):  # k·σ(ku)·(1 − σ(ku))
            return sur.slope, sur.slope
        if isinstance(sur, Rectangular):  # 1[|u| < w/2] / w
            return sur.width / 2, sur.width
        raise SpikeliteError(f"surrogate '{sur.name}' has no Triton derivative")


#: surrogate name → its derivative in the Triton kernel (see ``_surrogate_grad`` there)
TRITON_SURROGATES: dict[str, TritonSurrogate] = {
    "atan": TritonSurrogate(ATan, 0),
    "triangle": TritonSurrogate(Triangle, 1),
    "fast_sigmoid": TritonSurrogate(FastSigmoid, 2),
    "sigmoid": TritonSurrogate(Sigmoid, 3),
    "rectangular": TritonSurrogate(Rectangular, 4),
}


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


@functools.cache
def _kernels(interpret: bool) -> Any:
    """The kernel module, loaded afresh per interpreter mode (``triton.jit`` reads
    ``TRITON_INTERPRET`` when it decorates, and Triton resolves the helpers of a kernel
    from its module's globals, so the kernels live at the top of their own module)."""
    del interpret  # the cache key
    import importlib.util

    spec = importlib.util.find_spec("spikelite.core._triton_kernels")
    if spec is None or spec.loader is None:  # pragma: no cover - a broken install
        raise SpikeliteError("spikelite.core._triton_kernels is missing; reinstall spikelite")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def triton_importable() -> str | None:
    """``None`` when ``triton`` imports, else why not."""
    try:
        import triton  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install
        return f"triton is not importable ({type(exc).__name__}: {exc})"
    return None


def _tensors(p: LIFParams) -> dict[str, Any]:
    return {"leak": p.leak, "threshold": p.threshold, "v_reset": p.v_reset,
            "v_leak": p.v_leak, "v_start": p.v_start}


def triton_unsupported(x: torch.Tensor, p: LIFParams) -> str | None:
    """Why the Triton kernel cannot run ``p`` on ``x`` (``None``: it can).

    Covered: every leak form, reset, reset timing, strictness and ``detach_reset``;
    scalar, per-channel or per-neuron parameters; a learnable leak; the surrogates of
    :data:`TRITON_SURROGATES`; float32 tensors on CUDA (or anywhere with
    ``TRITON_INTERPRET=1``)."""
    if x.device.type != "cuda" and not _interpreting():
        return f"the input is on {x.device.type}, the Triton kernel runs on CUDA tensors"
    if x.dtype != torch.float32:
        return f"the input is {x.dtype}, the Triton kernel computes float32 only"
    if x.dim() < 1 or x.shape[0] == 0 or x[0].numel() == 0:
        return f"the input of shape {tuple(x.shape)} is empty"
    if p.state_bits is not None:
        return "state quantization (state_bits) runs on the eager path"
    ts = TRITON_SURROGATES.get(p.surrogate.name)
    if ts is None or type(p.surrogate) is not ts.cls:
        return (f"the surrogate {type(p.surrogate).__name__} ('{p.surrogate.name}') has no "
                f"Triton derivative (covered: {', '.join(TRITON_SURROGATES)})")
    for name, t in _tensors(p).items():
        if not isinstance(t, torch.Tensor):
            continue
        if t.requires_grad and name != "leak":
            return f"{name} requires a gradient (only the leak is learnable in the kernels)"
        if t.dtype != x.dtype:
            return f"{name} is {t.dtype}, not the input's {x.dtype}"
        if t.device != x.device:
            return f"{name} is on {t.device}, the input on {x.device}"
    return triton_importable()


def choose_kernel(kernel: str, x: torch.Tensor, p: LIFParams) -> tuple[str, str | None]:
    """``("triton" | "torch", reason the Triton kernel is not used or None)``.

    ``"auto"``: Triton for CUDA tensors when covered, else the PyTorch kernel (CPU
    behaviour unchanged); ``"torch"``: always the PyTorch kernel; ``"triton"``: the Triton
    kernel or a :class:`SpikeliteError` (:class:`MissingExtraError` without triton)."""
    if kernel not in KERNELS:
        raise SpikeliteError(f"unknown kernel '{kernel}'. Valid: {', '.join(KERNELS)}")
    if kernel == "torch":
        return "torch", "kernel='torch' was asked for"
    if kernel == "auto" and x.device.type != "cuda":
        return "torch", f"the input is on {x.device.type} (auto picks Triton on CUDA only)"
    reason = triton_unsupported(x, p)
    if reason is None:
        return "triton", None
    if kernel == "triton":
        if reason.startswith("triton is not importable"):
            raise MissingExtraError("triton", "triton", "LIF(kernel='triton')")
        raise SpikeliteError(
            f"kernel='triton' cannot run this LIF: {reason}; use kernel='auto' (falls back "
            "to the PyTorch kernel) or kernel='torch'")
    return "torch", reason


# -- launching ------------------------------------------------------------------------
def _f32(value: float) -> float:
    """A Python number rounded to float32, as torch rounds it against a float32 tensor."""
    return float(torch.tensor(float(value), dtype=torch.float32))


def _arg(value: Any, step: torch.Size, like: torch.Tensor
         ) -> tuple[torch.Tensor, float, bool]:
    """``(pointer tensor, scalar, is_vector)`` for a parameter: a tensor with more than
    one element becomes a contiguous ``[N]`` copy broadcast to one step."""
    if isinstance(value, torch.Tensor):
        if value.dim() == 0:
            return like, _f32(value.item()), False
        t = value.detach().to(like.dtype).expand(step).contiguous()
        return t, 0.0, True
    return like, _f32(value), False


@dataclass(frozen=True)
class _Launch:
    """The constant arguments of one call (parameters as pointers or scalars), the flags
    both kernels take, and the forward's own."""

    args: tuple[Any, ...]
    flags: dict[str, Any]
    fwd_flags: dict[str, Any]


def _launch_args(x: torch.Tensor, leak: torch.Tensor, p: LIFParams) -> _Launch:
    step = x.shape[1:]
    lk = _arg(leak, step, x)
    th = _arg(p.threshold, step, x)
    vr = _arg(p.v_reset, step, x)
    vl_value = leak_target(p)
    vl = _arg(vl_value, step, x)
    args = (lk[0], th[0], vr[0], vl[0], lk[1], th[1], vr[1], vl[1])
    flags = dict(
        FORM=_FORM_ID[p.form], RESET=_RESET_ID[p.reset], TIMING=_TIMING_ID[p.reset_timing],
        STRICT=bool(p.strict), DECAY_INPUT=bool(p.decay_input),
        LEAK_VEC=lk[2], THR_VEC=th[2], VR_VEC=vr[2], VL_VEC=vl[2],
    )
    extra = dict(VR_ZERO=not vr[2] and vr[1] == 0.0, VL_ZERO=not vl[2] and vl[1] == 0.0)
    return _Launch(args, flags, extra)


def _grid(n: int) -> tuple[int]:
    return ((n + _BLOCK - 1) // _BLOCK,)


def _forward(x: torch.Tensor, v0: torch.Tensor, launch: _Launch, p: LIFParams,
             store_h: bool, store_v: bool) -> tuple[torch.Tensor, ...]:
    """``(spikes, v_T, h or empty, v after every step or empty)``."""
    fwd = _kernels(_interpreting()).lif_fwd
    T, n = x.shape[0], x[0].numel()
    s = torch.empty_like(x)
    h = torch.empty_like(x) if store_h else x.new_empty(1)
    v_all = torch.empty_like(x) if store_v else x.new_empty(1)
    vT = torch.empty(x.shape[1:], dtype=x.dtype, device=x.device)
    fwd[_grid(n)](x, v0, s, h, v_all, vT, *launch.args, n, T, **launch.flags,
                  **launch.fwd_flags, STORE_H=store_h, STORE_V=store_v, BLOCK=_BLOCK,
                  num_warps=4, enable_fp_fusion=False)
    return s, vT, h, v_all


def _prepare(x: torch.Tensor, v0: torch.Tensor | None, p: LIFParams
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = x.contiguous()
    if v0 is None:
        v0 = rest(x[0], p)
    v0 = v0.to(x.dtype).expand(x.shape[1:]).contiguous()
    leak = p.leak if isinstance(p.leak, torch.Tensor) else torch.tensor(
        p.leak, dtype=x.dtype, device=x.device)
    return x, v0, leak


def _observe(observer: StepObserver | None, h: torch.Tensor, s: torch.Tensor) -> None:
    """Call ``observer(t, h_t, h_{t−1}, s_t)`` for every step after the kernel ran."""
    if observer is None:
        return
    for t in range(h.shape[0]):
        observer(t, h[t], h[t - 1] if t > 0 else None, s[t])


class TritonLIF(torch.autograd.Function):
    """``(x [T, B, ...], v0 [B, ...], leak) → (spikes, v_T, h [T, B, ...])``."""

    @staticmethod
    def forward(ctx, x, v0, leak, p: LIFParams, observer: StepObserver | None = None):
        launch = _launch_args(x, leak, p)
        mixed = p.reset_timing == "mixed"
        s, vT, h, v_all = _forward(x, v0, launch, p, store_h=True, store_v=mixed)
        _observe(observer, h, s)
        ctx.p, ctx.launch = p, launch
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, v0, leak, s, h, v_all)
        return s, vT, h

    @staticmethod
    def backward(ctx, g_s, g_vT, g_h):
        x, v0, leak, s, h, v_all = ctx.saved_tensors
        p: LIFParams = ctx.p
        launch: _Launch = ctx.launch
        bwd = _kernels(_interpreting()).lif_bwd
        T, n = x.shape[0], x[0].numel()
        need_leak = bool(ctx.needs_input_grad[2])
        ts = TRITON_SURROGATES[p.surrogate.name]
        sa, sb = ts.params(p.surrogate)
        g_x = torch.empty_like(x)
        g_v0 = torch.empty_like(v0)
        g_l = torch.empty_like(v0) if need_leak else x.new_empty(1)
        dummy = x.new_empty(1)
        bwd[_grid(n)](
            h, s, x, v0, v_all,
            dummy if g_s is None else g_s.contiguous(),
            dummy if g_h is None else g_h.contiguous(),
            dummy if g_vT is None else g_vT.contiguous(),
            g_x, g_v0, g_l, *launch.args, _f32(sa), _f32(sb), n, T, (T - 1) * n,
            **launch.flags, DETACH=bool(p.detach_reset), SUR=ts.sid, HAS_GS=g_s is not None,
            HAS_GHO=g_h is not None, HAS_GVT=g_vT is not None, NEED_LEAK=need_leak,
            BLOCK=_BLOCK, num_warps=4, enable_fp_fusion=False)
        g_leak = _sum_to(g_l.view(x.shape[1:]), leak) if need_leak else None
        return g_x, g_v0, g_leak, None, None


def _run(x: torch.Tensor, v0: torch.Tensor | None, p: LIFParams,
         observer: StepObserver | None, trace: bool) -> tuple[torch.Tensor, ...]:
    reason = triton_unsupported(x, p)
    if reason is not None:
        raise SpikeliteError(f"the Triton LIF kernel cannot run this: {reason}")
    x, v0, leak = _prepare(x, v0, p)
    track = torch.is_grad_enabled() and (x.requires_grad or v0.requires_grad
                                         or leak.requires_grad)
    if track:
        s, vT, h = TritonLIF.apply(x, v0, leak, p, observer)
        return (s, vT, h) if trace else (s, vT)
    launch = _launch_args(x, leak, p)
    store_h = trace or observer is not None
    s, vT, h, _ = _forward(x, v0, launch, p, store_h=store_h, store_v=False)
    if store_h:
        _observe(observer, h, s)
    return (s, vT, h) if trace else (s, vT)


def lif_multistep_triton(
    x: torch.Tensor, v0: torch.Tensor | None, p: LIFParams,
    observer: StepObserver | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The Triton twin of :func:`spikelite.core.fused.lif_multistep_fused`:
    ``(spikes [T, B, ...], v_T)``, gradients to ``x``, ``v0`` and a tensor leak.
    ``observer`` is called for every step after the kernel ran (it keeps ``h``)."""
    s, vT = _run(x, v0, p, observer, trace=False)
    return s, vT


def lif_multistep_triton_trace(
    x: torch.Tensor, v0: torch.Tensor | None, p: LIFParams,
    observer: StepObserver | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`lif_multistep_triton` that also returns the pre-reset membrane ``h``
    ``[T, B, ...]`` with its gradient."""
    s, vT, h = _run(x, v0, p, observer, trace=True)
    return s, vT, h
