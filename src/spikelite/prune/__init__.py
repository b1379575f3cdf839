"""Pruning: weight masks (unstructured) and, later, channel criteria and surgery."""

from spikelite.prune.mask import WeightMask, apply_mask_

__all__ = ["WeightMask", "apply_mask_"]
