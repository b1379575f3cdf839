"""Unstructured weight pruning: global or per-layer magnitude, random; one-shot or gradual.

Schaefer et al. (papers.md §2.6) prune **globally**: concatenate every synaptic kernel,
zero the ``k = ⌊p·N⌋`` smallest ``|w|`` of the pretrained full-precision weights, and keep
that mask fixed for the rest of training (pruned weights get zero gradient). ``scope =
"layer"`` prunes ``⌊p·N_l⌋`` per layer. Ties in ``|w|`` are broken stably (lower flat index
first, layers in ``named_modules()`` order), so the number pruned is exactly k.

The gradual option follows Zhu & Gupta (2017): sparsity ramps as
``s_t = s_f + (s_i − s_f)·(1 − (t − t_0)/(t_1 − t_0))³`` between steps ``t_0`` and ``t_1``,
re-selecting the mask by magnitude at each update (pruned weights stay pruned).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikelite._deprecation import moved
from spikelite.core import synaptic as syn
from spikelite.errors import SpikeliteError

SCOPES = ("global", "layer")
METHODS = ("magnitude", "random")

__getattr__ = moved(__name__, {
    "latent_weight": ("spikelite.core.synaptic", "latent_weight"),
    "mask_of": ("spikelite.core.synaptic", "mask_of"),
})


def check_sparsity(sparsity: float) -> float:
    """Sparsity must be a number in [0, 1)."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not (
        0.0 <= float(sparsity) < 1.0
    ):
        raise SpikeliteError(
            f"sparsity must be a number in [0, 1) (the fraction of weights removed), "
            f"got {sparsity!r}"
        )
    return float(sparsity)


def _select_layers(
    model: nn.Module, layers: Sequence[str] | None
) -> list[tuple[str, nn.Module]]:
    all_layers = syn.synaptic_layers(model)
    if not all_layers:
        raise SpikeliteError("the model has no nn.Conv*/nn.Linear layer to prune")
    if layers is None:
        return all_layers
    names = [n for n, _ in all_layers]
    unknown = sorted(set(layers) - set(names))
    if unknown:
        raise SpikeliteError(f"unknown layers {unknown}. Synaptic layers: {', '.join(names)}")
    return [(n, m) for n, m in all_layers if n in set(layers)]


def pruned_count(sparsity: float, n: int) -> int:
    """``k = ⌊p·n⌋`` in exact arithmetic on the decimal ``p`` as written (``repr``), so
    ``p = 0.29`` of 100 weights prunes 29 — a float product gives 28.999… and floors to 28."""
    return math.floor(Fraction(repr(float(sparsity))) * int(n))


def _prune_lowest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean keep-mask over a flat ``scores`` vector with the ``k`` lowest removed."""
    keep = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    if k > 0:
        order = torch.sort(scores, stable=True).indices
        keep[order[:k]] = False
    return keep


def _masks_from_scores(
    scores: list[torch.Tensor], shapes: list[torch.Size], sparsity: float, scope: str
) -> list[torch.Tensor]:
    """Keep-masks from flat per-layer scores: the ``⌊p·N⌋`` lowest over all layers together
    (``global``) or ``⌊p·N_l⌋`` per layer (``layer``)."""
    if scope == "global":
        flat = torch.cat(scores)
        keep = _prune_lowest(flat, pruned_count(sparsity, flat.numel()))
        return [m.view(shape) for m, shape in
                zip(keep.split([s.numel() for s in scores]), shapes, strict=True)]
    return [_prune_lowest(s, pruned_count(sparsity, s.numel())).view(shape)
            for s, shape in zip(scores, shapes, strict=True)]


@torch.no_grad()
def compute_masks(
    model: nn.Module,
    sparsity: float,
    *,
    scope: str = "global",
    method: str = "magnitude",
    layers: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Keep-masks (``True`` = kept) for the synaptic layers, without changing the model."""
    p = check_sparsity(sparsity)
    if scope not in SCOPES:
        raise SpikeliteError(f"unknown scope '{scope}'. Valid: {', '.join(SCOPES)}")
    if method not in METHODS:
        raise SpikeliteError(f"unknown pruning method '{method}'. Valid: {', '.join(METHODS)}")
    chosen = _select_layers(model, layers)
    gen = torch.Generator().manual_seed(seed)
    scores = []
    for _, module in chosen:
        w = syn.latent_weight(module).detach().float().cpu().flatten()
        scores.append(w.abs() if method == "magnitude" else torch.rand(w.numel(), generator=gen))
    shapes = [syn.latent_weight(m).shape for _, m in chosen]
    masks = _masks_from_scores(scores, shapes, p, scope)
    return {name: mask.to(syn.latent_weight(module).device)
            for (name, module), mask in zip(chosen, masks, strict=True)}


def apply_masks_(
    model: nn.Module, masks: dict[str, torch.Tensor], *, order: str = "after_quant"
) -> nn.Module:
    """Register a :class:`WeightMask` per named layer.

    ``order="after_quant"`` (default, Schaefer et al.): the mask goes after an existing
    quantizer, ``mask ⊙ Q(W)``; quantize *after* this call for ``Q(mask ⊙ W)``. A layer that
    already has a mask is an error (call :func:`remove_masks_` first).
    """
    if order not in ("after_quant", "before_quant"):
        raise SpikeliteError(f"order must be 'after_quant' or 'before_quant', got '{order}'")
    modules = dict(syn.synaptic_layers(model))
    for name, mask in masks.items():
        module = modules.get(name)
        if module is None:
            raise SpikeliteError(f"no synaptic layer named '{name}'")
        if syn.mask_of(module) is not None:
            raise SpikeliteError(f"layer '{name}' is already pruned; remove its mask first")
        plist = syn.weight_parametrizations(module)
        if order == "before_quant" and plist:
            raise SpikeliteError(
                f"layer '{name}' already has a quantizer: for Q(mask ⊙ W) prune before "
                "quantizing (or use order='after_quant')"
            )
        parametrize.register_parametrization(module, "weight", syn.WeightMask(mask))
    return model


def prune_unstructured_(
    model: nn.Module,
    sparsity: float,
    *,
    scope: str = "global",
    method: str = "magnitude",
    layers: Sequence[str] | None = None,
    seed: int = 0,
    order: str = "after_quant",
) -> nn.Module:
    """One-shot pruning (in place): masks from the current latent weights, fixed afterwards.

    ``scope="global"`` (Schaefer et al.) or ``"layer"``; ``method="magnitude"`` or
    ``"random"``; ``layers`` restricts pruning to named synaptic layers (default: all).
    """
    masks = compute_masks(model, sparsity, scope=scope, method=method, layers=layers, seed=seed)
    return apply_masks_(model, masks, order=order)


def sparsity_of(model: nn.Module) -> dict[str, float]:
    """Fraction of zero deployed weights per synaptic layer, and ``"total"``."""
    out: dict[str, float] = {}
    zeros = total = 0
    with torch.no_grad():
        for name, module in syn.synaptic_layers(model):
            w = module.weight
            z = int((w == 0).sum())
            out[name] = z / w.numel()
            zeros, total = zeros + z, total + w.numel()
    out["total"] = zeros / max(total, 1)
    return out


def cubic_sparsity(step: int, start: int, end: int, final: float, initial: float = 0.0) -> float:
    """Zhu & Gupta's ramp ``s_f + (s_i − s_f)·(1 − (t − t_0)/(t_1 − t_0))³``, clamped."""
    if end <= start:
        return final if step >= start else initial
    frac = min(max((step - start) / (end - start), 0.0), 1.0)
    return final + (initial - final) * (1.0 - frac) ** 3


@dataclass
class GradualPruner:
    """Gradual magnitude pruning: call :meth:`update` with the step (or epoch) counter.

    At each update the target sparsity follows :func:`cubic_sparsity` and the masks are
    recomputed from ``|mask ⊙ W|`` (already-pruned weights score 0 and stay pruned).
    """

    model: nn.Module
    final_sparsity: float
    start: int
    end: int
    scope: str = "global"
    initial_sparsity: float = 0.0

    def __post_init__(self) -> None:
        check_sparsity(self.final_sparsity)
        check_sparsity(self.initial_sparsity)
        masks = compute_masks(self.model, 0.0, scope=self.scope)
        apply_masks_(self.model, masks)
        self.current = 0.0

    @torch.no_grad()
    def update(self, step: int) -> float:
        target = cubic_sparsity(step, self.start, self.end, self.final_sparsity,
                                self.initial_sparsity)
        if target <= self.current:
            return self.current
        layers = syn.synaptic_layers(self.model)
        wms = []
        for name, module in layers:
            wm = syn.mask_of(module)
            if wm is None:
                raise SpikeliteError(f"layer '{name}' lost its mask during gradual pruning")
            wms.append(wm)
        scores = [(syn.latent_weight(m) * wm.mask).abs().flatten().float().cpu()
                  for (_, m), wm in zip(layers, wms, strict=True)]
        keeps = _masks_from_scores(scores, [wm.mask.shape for wm in wms], target, self.scope)
        for wm, keep in zip(wms, keeps, strict=True):
            wm.mask.copy_(keep)
        self.current = target
        return target
