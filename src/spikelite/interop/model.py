"""The converted network: a time-major sequential SNN like the zoo's."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from spikelite.core import reset_states
from spikelite.core.checks import naming_layers
from spikelite.errors import SpikeliteError


class ConvertedSequential(nn.Sequential):
    """A foreign network as spikelite layers: ``[T, B, *input_shape]`` → ``[T, B, ...]``.

    The same interface as the zoo's ``SpikingSequential`` (``num_classes``, ``input_shape``,
    ``streaming``): every forward pass starts from a zero membrane unless ``streaming``.
    """

    def __init__(self, layers: OrderedDict[str, nn.Module], *, num_classes: int,
                 input_shape: Sequence[int]) -> None:
        super().__init__(layers)
        self.num_classes = int(num_classes)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.time_steps: int | None = None
        self.streaming = False

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a :class:`SpikeliteError` naming the expected shape if ``x`` does not fit."""
        if not isinstance(x, torch.Tensor) or tuple(x.shape[2:]) != self.input_shape:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise SpikeliteError(
                f"this converted network expects a time-major input "
                f"[T, B, {', '.join(map(str, self.input_shape))}], got {got}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if not self.streaming:
            reset_states(self)
        with naming_layers(self):
            return super().forward(x)
