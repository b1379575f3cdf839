"""Stateless layers applied across time by folding T into the batch."""

from __future__ import annotations

import torch
from torch import nn

from spikelite.core.layout import is_steps_channels_last, steps_first, steps_last
from spikelite.core.neurons import check_time_major
from spikelite.errors import SpikeliteError


class TimeDistributed(nn.Module):
    """Apply a stateless ``module`` to ``[T, B, ...]`` as one ``[T·B, ...]`` batch.

    BatchNorm inside is therefore computed over time and batch together (as SpikingJelly's
    ``SeqToANNContainer`` and the QP-SNN code do).
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_time_major(x, f"TimeDistributed({type(self.module).__name__})")
        T, B = x.shape[:2]
        y = self.module(x.reshape(T * B, *x.shape[2:]))
        return y.reshape(T, B, *y.shape[1:])


class _FlattenSteps(torch.autograd.Function):
    """``x.flatten(2)`` of channels-last steps whose gradient comes back channels-last.

    The flattened order is always ``C, H, W`` (what the next layer's weights expect), so
    the forward copies; autograd's own backward would hand the pooling before it an NCHW
    gradient for its NHWC indices, which its kernel converts slowly (13.9 ms against
    0.5 ms on a ``[320, 32, 17, 17]`` input, 1 thread). The gradient is the same numbers.
    """

    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        ctx.shape = x.shape
        return x.flatten(2)

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        return steps_first(steps_last(g.reshape(ctx.shape)).contiguous())


class Flatten(nn.Module):
    """``[T, B, C, H, W] → [T, B, C·H·W]`` (keeps the time and batch axes)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_time_major(x, "Flatten")
        if x.requires_grad and torch.is_grad_enabled() and is_steps_channels_last(x):
            return _FlattenSteps.apply(x)
        return x.flatten(2)


class MeanOverTime(nn.Module):
    """``[T, B, ...] → [B, ...]``: the rate/mean-membrane read-out."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_time_major(x, "MeanOverTime")
        return x.mean(0)


class FoldedTime(nn.Module):
    """Run a time-major ``module`` (e.g. a neuron) inside a graph that carries folded
    ``[T·B, ...]`` tensors: ``[T·B, ...] → module([T, B, ...]) → [T·B, ...]``.

    The inverse of :class:`TimeDistributed`, for converted networks whose stateless layers
    (and functional operations such as residual additions) all run on ``[T·B, ...]``.
    ``time_steps`` (T) is set by the owner before each forward pass.
    """

    def __init__(self, module: nn.Module, time_steps: int = 1) -> None:
        super().__init__()
        self.module = module
        self.time_steps = int(time_steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = self.time_steps
        if x.shape[0] % T:
            raise SpikeliteError(f"FoldedTime: a leading dimension of {x.shape[0]} is not a "
                                 f"multiple of T = {T}")
        y = self.module(x.reshape(T, x.shape[0] // T, *x.shape[1:]))
        return y.reshape(x.shape[0], *y.shape[2:])
