"""Deprecated: moved to :mod:`spikelite.quant.structure` (``describe``, ``rebuild_``)."""

from spikelite._deprecation import moved

__getattr__ = moved(__name__, {
    "describe": ("spikelite.quant.structure", "describe"),
    "rebuild_": ("spikelite.quant.structure", "rebuild_"),
})
