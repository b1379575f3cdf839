"""Mixed-precision training: ``fp32`` (default, exact), ``bf16`` or ``fp16``.

``bf16``/``fp16`` run the forward under :func:`torch.autocast` (PyTorch's automatic mixed
precision, https://pytorch.org/docs/stable/amp.html): convolutions and linear layers
compute in the low-precision type, while autocast keeps BatchNorm and reductions in
float32. The weights, the optimizer state and the loss stay float32, and spikelite's
neurons integrate their membrane in float32 (:class:`spikelite.core.LIF` casts a
low-precision input current to float32), so thresholds compare float32 membranes. ``fp16``
scales the loss with :class:`torch.amp.GradScaler` against gradient underflow and needs
CUDA; on CPU use ``bf16`` (AVX-512 BF16 / AMX hardware runs it natively). ``bf16``/``fp16``
results are not bit-identical to ``fp32``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from spikelite.errors import SpikeliteError

#: precision name → the autocast dtype (``None``: plain float32, no autocast)
PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16,
}


def check_precision(precision: str, device: torch.device | None = None) -> None:
    """Refuse an unknown precision, or one ``device`` cannot autocast to."""
    if precision not in PRECISIONS:
        raise SpikeliteError(f"unknown precision '{precision}'; use "
                             f"{', '.join(PRECISIONS)}")
    if device is None or precision == "fp32":
        return
    if device.type == "cpu" and precision == "fp16":
        raise SpikeliteError("precision fp16 needs CUDA (loss scaling on the GPU); on the "
                             "CPU use --precision bf16 (or fp32)")
    if device.type == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise SpikeliteError("this GPU does not support bf16; use --precision fp16 or fp32")
    if device.type not in ("cpu", "cuda"):
        raise SpikeliteError(f"precision {precision} is supported on cpu and cuda, not on "
                             f"'{device.type}'; use --precision fp32 there")


@contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """The forward pass of a training step: autocast to ``precision`` (nothing for fp32)."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A loss scaler for fp16 (dynamic scale, PyTorch's defaults); ``None`` otherwise."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def check_model_dtype(precision: str, dtype: torch.dtype) -> None:
    """Mixed precision starts from float32 weights (autocast leaves float64 alone)."""
    if precision != "fp32" and dtype != torch.float32:
        raise SpikeliteError(f"precision {precision} trains a float32 model, and this one is "
                             f"{dtype}; convert it with model.float() or use precision fp32")

