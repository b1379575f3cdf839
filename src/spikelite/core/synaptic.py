"""Synaptic layers and the parametrizations on their weights, shared by quant and prune.

A **synaptic layer** is an ``nn.Conv1d``/``nn.Conv2d``/``nn.Conv3d`` or ``nn.Linear``
(:data:`SYNAPTIC_TYPES`, the one definition every package uses). Compression state lives
on its ``weight`` as ``torch.nn.utils.parametrize`` parametrizations applied in order
(``W ↦ p_n(… p_1(W))``); :func:`latent_weight` is the full-precision ``W`` before them.

``WeightMask(mask)`` computes ``W ⊙ mask``; the mask is a fixed boolean buffer, so pruned
weights receive zero gradient and stay pruned. Registered on a weight together with a
fake-quantizer, the order of registration gives the composition: quantizer first, then
mask → ``mask ⊙ Q(W)`` (Schaefer et al.); mask first, then quantizer → ``Q(mask ⊙ W)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikelite.errors import SpikeliteError

CONV_TYPES: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
"""The convolutions among the synaptic layers (channels on weight dims 0 and 1)."""

SYNAPTIC_TYPES: tuple[type[nn.Module], ...] = (*CONV_TYPES, nn.Linear)
"""The synaptic-layer types: every weight that quantization, pruning and the cost model see."""


def is_synaptic(module: nn.Module) -> bool:
    """Whether ``module`` is a synaptic layer (an instance of :data:`SYNAPTIC_TYPES`)."""
    return isinstance(module, SYNAPTIC_TYPES)


def synaptic_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every conv/linear layer, in ``named_modules()`` order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, SYNAPTIC_TYPES)]


def weight_parametrizations(module: nn.Module) -> list[nn.Module]:
    """The parametrizations on ``module.weight`` in application order (empty if none)."""
    if not parametrize.is_parametrized(module, "weight"):
        return []
    return list(module.parametrizations.weight)  # type: ignore[union-attr]


def latent_weight(module: nn.Module) -> torch.Tensor:
    """The full-precision weight before any mask or quantizer."""
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original  # type: ignore[union-attr]
    return module.weight


def strip_weight_parametrizations(module: nn.Module, weight: torch.Tensor) -> None:
    """Remove all parametrizations of ``module.weight`` and make ``weight`` its plain value.

    ``torch.nn.utils.parametrize.remove_parametrizations`` deletes the property from the
    module's generated class, which a ``copy.deepcopy`` of the model shares — removing on
    one copy would break the other. This restores the original class instead.
    """
    if not parametrize.is_parametrized(module):
        module.weight = nn.Parameter(weight.detach().clone())
        return
    extra = sorted(set(module.parametrizations) - {"weight"})  # type: ignore[arg-type]
    if extra:
        raise SpikeliteError(f"{type(module).__name__}: parametrized tensors {extra} besides "
                             "the weight are not supported")
    requires_grad = module.parametrizations.weight.original.requires_grad  # type: ignore[union-attr]
    del module._modules["parametrizations"]
    module.__class__ = type(module).__bases__[0]
    module.register_parameter(
        "weight", nn.Parameter(weight.detach().clone(), requires_grad=requires_grad)
    )


class WeightMask(nn.Module):
    """Parametrization ``W ↦ W ⊙ mask`` with a fixed boolean ``mask`` (True = kept)."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask.detach().to(torch.bool).clone())

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if w.shape != self.mask.shape:
            raise SpikeliteError(
                f"mask of shape {tuple(self.mask.shape)} does not fit a weight of shape "
                f"{tuple(w.shape)}"
            )
        return w * self.mask.to(w.dtype)

    @property
    def sparsity(self) -> float:
        return 1.0 - float(self.mask.float().mean())


def apply_mask_(module: nn.Module, mask: torch.Tensor, name: str = "weight") -> WeightMask:
    """Register a :class:`WeightMask` on ``module.<name>`` (after any existing ones)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, torch.Tensor):
        raise SpikeliteError(f"{type(module).__name__} has no tensor '{name}' to mask")
    if tuple(mask.shape) != tuple(weight.shape):
        raise SpikeliteError(
            f"mask shape {tuple(mask.shape)} differs from {name} shape {tuple(weight.shape)}"
        )
    wm = WeightMask(mask.to(weight.device))
    parametrize.register_parametrization(module, name, wm)
    return wm


def mask_of(module: nn.Module) -> WeightMask | None:
    """The first :class:`WeightMask` on ``module.weight``, or ``None``."""
    for p in weight_parametrizations(module):
        if isinstance(p, WeightMask):
            return p
    return None
