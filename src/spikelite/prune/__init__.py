"""Pruning: weight masks, unstructured magnitude/random pruning (one-shot or gradual),
structured channel pruning with SVS/SCA/L1/random criteria and physical surgery."""

from spikelite.core.synaptic import WeightMask, apply_mask_, mask_of
from spikelite.prune.channels import (
    ChannelPlan,
    ChannelPruneReport,
    LayerPlan,
    apply_channel_plan_,
    kept_count,
    plan_channel_pruning,
    prune_channels_,
    select_channels,
)
from spikelite.prune.criteria import (
    CRITERIA,
    Criterion,
    batch_stability,
    channel_scores,
    get_criterion,
    pairwise_cosine,
    svs_ranks,
)
from spikelite.prune.surgery import IndexShortcut
from spikelite.prune.unstructured import (
    GradualPruner,
    apply_masks_,
    compute_masks,
    cubic_sparsity,
    prune_unstructured_,
    sparsity_of,
)

__all__ = [
    "CRITERIA", "ChannelPlan", "ChannelPruneReport", "Criterion", "GradualPruner",
    "IndexShortcut", "LayerPlan", "WeightMask", "apply_channel_plan_", "apply_mask_",
    "apply_masks_", "batch_stability", "channel_scores", "compute_masks", "cubic_sparsity",
    "get_criterion", "kept_count", "mask_of", "pairwise_cosine", "plan_channel_pruning",
    "prune_channels_", "prune_unstructured_", "select_channels", "sparsity_of", "svs_ranks",
]
