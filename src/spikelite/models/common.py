"""Building blocks shared by the model zoo.

* :class:`SpikingSequential`: an ``nn.Sequential`` over time-major ``[T, B, ...]`` tensors
  that carries ``num_classes``/``input_shape``, checks its input and (unless
  ``streaming``) clears every neuron's membrane before each forward pass.
* :func:`neuron_maker`: paper defaults + user overrides → a ``channels → neuron`` builder.
* :class:`TimeDropout`: dropout with a per-time-step (or shared) keep-mask, optionally
  without the ``1/(1−p)`` rescaling (Schaefer et al.'s TCJA training).
"""

from __future__ import annotations

import numbers
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from spikelite.core import MaxPool2d, TimeDistributed, create_neuron, reset_states
from spikelite.core.checks import naming_layers
from spikelite.core.traits import DropoutLayer
from spikelite.errors import SpikeliteError

NeuronMaker = Callable[[int], nn.Module]

QPSNN_NEURON: dict[str, Any] = {
    "beta": 0.5,
    "threshold": 1.0,
    "v_reset": 0.0,
    "reset": "zero",
    "surrogate": "triangle",
    "surrogate_params": {"width": 1.0},
}
"""QP-SNN (Wei et al. 2025) Eqs. 1–3 with the constants of the code-3rd: ``U = 0.5·U + X``,
θ = 1, hard reset to 0, triangle surrogate of width 1 (papers.md §1.2)."""

_LEAK_KEYS = ("beta", "tau")


class SpikingSequential(nn.Sequential):
    """Time-major sequential SNN: input ``[T, B, *input_shape]`` → output ``[T, B, num_classes]``.

    Every forward pass starts from a zero membrane (each call is an independent batch of
    sequences); set ``streaming = True`` to keep the membranes across calls (a stream fed in
    chunks; call :func:`spikelite.core.reset_states` yourself between streams).
    """

    def __init__(
        self,
        layers: OrderedDict[str, nn.Module],
        *,
        num_classes: int,
        input_shape: Sequence[int],
        time_steps: int | None = None,
    ) -> None:
        super().__init__(layers)
        self.num_classes = int(num_classes)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.time_steps = time_steps
        self.streaming = False

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a :class:`SpikeliteError` naming the expected shape if ``x`` does not fit."""
        expected = f"[T, B, {', '.join(map(str, self.input_shape))}]"
        if not isinstance(x, torch.Tensor) or tuple(x.shape[2:]) != self.input_shape:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise SpikeliteError(
                f"{type(self).__name__} expects a time-major input {expected}, got {got}. "
                "Rebuild the model with matching in_channels/input_size (or input_shape)"
            )
        if self.time_steps is not None and x.shape[0] != self.time_steps:
            raise SpikeliteError(
                f"this model was built for time_steps={self.time_steps} (its attention mixes "
                f"time steps), got T={x.shape[0]}; rebuild it with time_steps={x.shape[0]}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if not self.streaming:
            reset_states(self)
        with naming_layers(self):  # a neuron's NaN-input error gets the layer's name
            return super().forward(x)


def neuron_maker(
    neuron: str, defaults: Mapping[str, Any], neuron_kw: Mapping[str, Any] | None
) -> NeuronMaker:
    """Return ``make(channels) -> neuron module`` from paper ``defaults`` plus overrides.

    ``neuron_kw`` entries replace the defaults; giving ``tau`` drops a default ``beta`` (and
    vice versa), and a non-``lif`` neuron (``if``) drops the leak defaults. With
    ``learn_leak=True`` the leak is learned per channel (``channels`` is filled in) unless
    ``neuron_kw`` sets ``channels`` itself. The combination is validated once, here.
    """
    user = dict(neuron_kw or {})
    kw = dict(defaults)
    if str(neuron).lower() != "lif":
        for k in _LEAK_KEYS:
            kw.pop(k, None)
    for a, b in (("beta", "tau"), ("tau", "beta")):
        if a in user:
            kw.pop(b, None)
    kw.update(user)
    per_channel = bool(kw.get("learn_leak")) and "channels" not in user

    def make(channels: int) -> nn.Module:
        extra = {"channels": int(channels)} if per_channel else {}
        return create_neuron(neuron, **kw, **extra)

    make(1)  # fail early, with the neuron registry's message
    return make


def conv_bn_lif(
    c_in: int, c_out: int, make: NeuronMaker, *, bias: bool = False, stride: int = 1
) -> list[tuple[str, nn.Module]]:
    """``[("conv", 3×3 conv), ("bn", BatchNorm2d), ("lif", neuron)]`` (time-distributed)."""
    return [
        ("conv", TimeDistributed(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=bias))),
        ("bn", TimeDistributed(nn.BatchNorm2d(c_out))),
        ("lif", make(c_out)),
    ]


def check_widths(name: str, widths: Sequence[int] | None, default: Sequence[int]) -> list[int]:
    """Validate a per-conv ``widths`` list (``None`` → ``default``)."""
    if widths is None:
        return list(default)
    ws = list(widths)
    if len(ws) != len(default):
        raise SpikeliteError(
            f"{name} needs {len(default)} widths (one per conv, default {list(default)}), "
            f"got {len(ws)}"
        )
    for w in ws:
        if isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 1:
            raise SpikeliteError(f"{name}: every width must be a positive int, got {w!r}")
    return [int(w) for w in ws]


def check_positive(name: str, **values: Any) -> None:
    for key, v in values.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise SpikeliteError(f"{name}: {key} must be a positive int, got {v!r}")


def pair(name: str, size: int | Sequence[int]) -> tuple[int, int]:
    """``32 → (32, 32)``; ``(h, w)`` unchanged; validated positive."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2:
        raise SpikeliteError(f"{name}: input_size must be an int or (height, width), got {size!r}")
    check_positive(name, input_height=hw[0], input_width=hw[1])
    return int(hw[0]), int(hw[1])


POOLS = ("max", "avg")


def pool2(name: str, pool: str) -> nn.Module:
    """The 2×2 down-sampling of the zoo's conv models (time-distributed): ``"max"`` (the
    papers' choice) or ``"avg"`` (the mean of the window's spikes: a graded value, exported
    to NIR as ``AvgPool2d``, which snnTorch and SpikingJelly load as it is)."""
    if pool not in POOLS:
        raise SpikeliteError(f"{name}: pool must be one of {', '.join(POOLS)}, got {pool!r}")
    return TimeDistributed(MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2))


def halve(name: str, hw: tuple[int, int], times: int = 1) -> tuple[int, int]:
    """Spatial size after ``times`` 2×2 poolings (floor), which must stay ≥ 1."""
    h, w = hw
    for _ in range(times):
        h, w = h // 2, w // 2
    if h < 1 or w < 1:
        raise SpikeliteError(f"{name}: the input is too small for its poolings ({hw} → {h}×{w})")
    return h, w


def qpsnn_init(model: nn.Module, linear_std: float | None = 0.01) -> None:
    """QP-SNN code-3rd init: conv ``N(0, 2/(k²·out))`` (Kaiming fan-out), zero bias; BN 1/0;
    linear ``N(0, linear_std)`` with zero bias (``None`` keeps PyTorch's default)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class TimeDropout(nn.Module, DropoutLayer):
    """Dropout over ``[T, B, ...]`` with drop probability ``p`` (identity in eval mode).

    ``per_step=True`` draws a new keep-mask every time step (Schaefer et al.'s Flax TCJA
    code); ``False`` shares one mask over all steps (SpikingJelly's ``layer.Dropout``).
    ``rescale=False`` keeps the kept values as they are (Schaefer et al.: no ``1/(1−p)``
    factor, so evaluation sees inputs ``1/(1−p)`` times larger on average than training);
    ``True`` is standard inverted dropout.
    """

    def __init__(self, p: float = 0.5, *, per_step: bool = True, rescale: bool = False) -> None:
        super().__init__()
        if not 0.0 <= float(p) < 1.0:
            raise SpikeliteError(f"dropout probability must lie in [0, 1), got {p}")
        self.p = float(p)
        self.per_step = bool(per_step)
        self.rescale = bool(rescale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        shape = x.shape if self.per_step else (1, *x.shape[1:])
        keep = torch.rand(shape, device=x.device) >= self.p
        out = x * keep.to(x.dtype)
        return out / (1.0 - self.p) if self.rescale else out

    def extra_repr(self) -> str:
        return f"p={self.p}, per_step={self.per_step}, rescale={self.rescale}"
