"""Deprecated: the mask parametrization moved to :mod:`spikelite.core.synaptic`.

``from spikelite.prune.mask import WeightMask`` (and ``apply_mask_``) still works, with a
:class:`DeprecationWarning`; import them from ``spikelite.core.synaptic`` (or
``spikelite.prune``).
"""

from spikelite._deprecation import moved

__getattr__ = moved(__name__, {
    "WeightMask": ("spikelite.core.synaptic", "WeightMask"),
    "apply_mask_": ("spikelite.core.synaptic", "apply_mask_"),
})
