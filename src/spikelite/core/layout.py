"""Channels-last memory layout for time-major feature maps ``[T, B, C, H, W]``.

A convolution whose weight (or input) is stored channels-last (``NHWC``; PyTorch's
``torch.channels_last``) returns a channels-last output, and oneDNN's NHWC kernels, with
BatchNorm's, are faster on CPU than the NCHW ones. ``TimeDistributed`` folds time into the
batch with a view, so a time-major tensor whose per-step slices are channels-last has
``x.permute(0, 1, 3, 4, 2)`` contiguous: :func:`steps_last` is that view.

The neurons run their elementwise recursion on it (:class:`spikelite.core.neurons.LIF`):
the same operations on the same numbers in another order of memory, so the spikes and
membranes are bit-identical to the contiguous layout, and the next layer receives
channels-last spikes instead of a copy.
"""

from __future__ import annotations

import dataclasses

import torch

from spikelite.core.params import LIFParams

#: the parameter fields of :class:`LIFParams` that may be tensors viewed for the input
_TENSOR_FIELDS = ("leak", "threshold", "v_reset", "v_leak", "v_start")


def is_steps_channels_last(x: torch.Tensor) -> bool:
    """Whether ``x [T, B, C, H, W]`` stores every step channels-last (and is not also
    contiguous, as size-1 dimensions can make it)."""
    return (x.dim() == 5 and not x.is_contiguous()
            and x.permute(0, 1, 3, 4, 2).is_contiguous())


def steps_last(x: torch.Tensor) -> torch.Tensor:
    """``[T, B, C, H, W] → [T, B, H, W, C]`` (a view; contiguous for channels-last steps)."""
    return x.permute(0, 1, 3, 4, 2)


def steps_first(x: torch.Tensor) -> torch.Tensor:
    """The inverse view of :func:`steps_last`."""
    return x.permute(0, 1, 4, 2, 3)


def state_last(v: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W] → [B, H, W, C]`` (a view)."""
    return v.permute(0, 2, 3, 1)


def state_first(v: torch.Tensor) -> torch.Tensor:
    """The inverse view of :func:`state_last`."""
    return v.permute(0, 3, 1, 2)


def memory_order(t: torch.Tensor) -> torch.Tensor:
    """A view of ``t`` with its dimensions in the order of its memory (largest stride
    first): contiguous for any dense layout, so ``reshape`` of it is a view, not a copy.
    The batch dimension of a ``[B, C, H, W]`` step stays first in either layout."""
    if t.is_contiguous():
        return t
    order = sorted(range(t.dim()), key=lambda d: -t.stride(d))
    view = t.permute(order)
    return view if view.is_contiguous() else t


def params_last(p: LIFParams) -> LIFParams:
    """``p`` (tensors viewed for ``[T, B, C, H, W]``: 0-dim, ``[C, 1, 1]`` or ``[C, H, W]``)
    with its tensors viewed for ``[T, B, H, W, C]`` instead (differentiable views)."""
    changes = {}
    for name in _TENSOR_FIELDS:
        t = getattr(p, name, None)
        if isinstance(t, torch.Tensor) and t.dim() > 0:
            changes[name] = t.permute(1, 2, 0) if t.dim() == 3 else t
    return dataclasses.replace(p, **changes) if changes else p


def channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """Store ``model``'s 4-D weights channels-last (in place; returns ``model``).

    Its 2-D convolutions then return channels-last feature maps, BatchNorm and the
    neurons keep that layout, and the next convolution reads it without a copy. Inference
    gives the same spikes as the contiguous layout on the zoo's models
    (``tests/core/test_layout.py``); training computes BatchNorm's batch statistics with
    PyTorch's NHWC kernel (float32 partial sums instead of NCHW's float64 sums), so its
    weights differ from a contiguous run's after the first step by rounding.
    """
    return model.to(memory_format=torch.channels_last)


def contiguous(model: torch.nn.Module) -> torch.nn.Module:
    """Undo :func:`channels_last` (in place; returns ``model``)."""
    return model.to(memory_format=torch.contiguous_format)
