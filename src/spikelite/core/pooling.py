"""Exact fast 2×2 max pooling (stride 2), the pooling of spiking conv nets.

``torch.nn.functional.max_pool2d`` on CPU walks every window with a general kernel and
records an index per output; for the 2×2/stride-2 case the same values are three
``torch.maximum`` calls on strided views (on binary spikes: the logical OR of the
window), with no index tensor. The maximum is exact, so the values are identical to
``max_pool2d`` for every input, binary or not (NaN propagates in both; for 0/1 spikes bit
for bit, while a window tying −0.0 with +0.0 may keep the other zero). It is used where no
gradient is needed (inference, profiling); training keeps ``max_pool2d``, whose backward
scatters through the recorded indices (routing the gradient to the first maximum of each
window with tensor ops measured 2× slower than that forward + backward together).

Any other configuration (kernel ≠ 2, stride ≠ 2, padding, dilation, ``ceil_mode``,
``return_indices``) is ``nn.MaxPool2d`` itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """``max_pool2d(x, 2)`` (kernel 2, stride 2, floor mode), the same values; ``x``:
    ``[..., H, W]`` with at least 3 dims. Without autograd (inference) it is the maximum of
    the window's rows, then of its columns (strided views); when a gradient is needed it
    is ``max_pool2d`` (whose index-based backward is faster than any routing built from
    tensor ops)."""
    if (x.dim() < 3 or x.shape[-2] < 2 or x.shape[-1] < 2
            or (torch.is_grad_enabled() and x.requires_grad)):
        return F.max_pool2d(x, 2)
    ho, wo = x.shape[-2] // 2, x.shape[-1] // 2
    # rows first: both operands keep a contiguous last dim (vectorised), and the strided
    # column pairs are then taken on half the data (1.2–1.9× the four-quarter form)
    rows = torch.maximum(x[..., 0:2 * ho:2, :2 * wo], x[..., 1:2 * ho:2, :2 * wo])
    return torch.maximum(rows[..., 0::2], rows[..., 1::2])


def _pair(v: int | tuple[int, ...]) -> tuple[int, ...]:
    return (v, v) if isinstance(v, int) else tuple(v)


class MaxPool2d(nn.MaxPool2d):
    """:class:`torch.nn.MaxPool2d` whose 2×2/stride-2 case runs :func:`max_pool2x2`
    (identical values and gradients; every other configuration is ``nn.MaxPool2d``
    itself). A subclass, so everything that handles ``nn.MaxPool2d`` (export, hardware
    counting, conversion) handles it unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (_pair(self.kernel_size) == (2, 2) and _pair(self.stride or self.kernel_size)
                == (2, 2) and _pair(self.padding) == (0, 0) and _pair(self.dilation) == (1, 1)
                and not self.ceil_mode and not self.return_indices):
            return max_pool2x2(x)
        return super().forward(x)
