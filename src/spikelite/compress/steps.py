"""The public compression steps every schedule is built from: quantize (keeping masks
after the quantizer), prune (global/layer magnitude masks from the weights the model holds
now), and the masked fraction of a model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from spikelite.core.synaptic import (
    latent_weight,
    mask_of,
    strip_weight_parametrizations,
    synaptic_layers,
)
from spikelite.prune.unstructured import apply_masks_, compute_masks
from spikelite.quant import quantize_


def quantize_step(
    model: nn.Module,
    scheme: str | None,
    bits: int,
    *,
    skip_first: bool = False,
    skip_last: bool = False,
    overrides: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Quantize ``model`` in place, keeping existing masks *after* the quantizer
    (``mask ⊙ Q(W)``, Schaefer et al.); ``scheme=None`` does nothing."""
    if scheme is None:
        return
    masks = {}
    for name, module in synaptic_layers(model):
        wm = mask_of(module)
        if wm is not None:
            masks[name] = wm.mask.clone()
            strip_weight_parametrizations(module, latent_weight(module))
    quantize_(model, scheme, bits, skip_first=skip_first, skip_last=skip_last,
              overrides=dict(overrides or {}), **dict(options or {}))
    apply_masks_(model, masks, order="after_quant")


def prune_step(
    model: nn.Module,
    sparsity: float = 0.0,
    *,
    scope: str = "global",
    method: str = "magnitude",
    layer_sparsity: Mapping[str, float] | None = None,
) -> None:
    """Global/layer magnitude (or random) masks from the weights the model holds now;
    per-layer fractions (``layer_sparsity``) prune each named layer on its own."""
    if layer_sparsity:
        masks: dict[str, Any] = {}
        for name, p in layer_sparsity.items():
            if p > 0:
                masks.update(compute_masks(model, p, scope="layer", method=method,
                                           layers=[name]))
        if masks:
            apply_masks_(model, masks)
    elif sparsity > 0:
        apply_masks_(model, compute_masks(model, sparsity, scope=scope, method=method))


def pruned_fraction(model: nn.Module) -> float:
    """Fraction of synaptic weights removed by masks (quantizer zeros not counted)."""
    removed = total = 0
    for _, module in synaptic_layers(model):
        wm = mask_of(module)
        n = latent_weight(module).numel()
        total += n
        removed += int((~wm.mask).sum()) if wm is not None else 0
    return removed / max(total, 1)
