"""The pruning method names a compression spec accepts."""

from __future__ import annotations

#: channel (structured) pruning methods → the criterion name in :mod:`spikelite.prune`
CHANNEL_METHODS = {"svs": "svs", "sca": "sca", "l1": "l1", "random-channel": "random"}
#: unstructured (mask) pruning methods
UNSTRUCTURED_METHODS = ("magnitude", "random")
PRUNE_METHODS = UNSTRUCTURED_METHODS + tuple(CHANNEL_METHODS)
