"""Pruning: weight masks, unstructured magnitude/random pruning (one-shot or gradual)."""

from spikelite.prune.mask import WeightMask, apply_mask_
from spikelite.prune.unstructured import (
    GradualPruner,
    apply_masks_,
    compute_masks,
    cubic_sparsity,
    mask_of,
    prune_unstructured_,
    sparsity_of,
)

__all__ = [
    "GradualPruner", "WeightMask", "apply_mask_", "apply_masks_", "compute_masks",
    "cubic_sparsity", "mask_of", "prune_unstructured_", "sparsity_of",
]
