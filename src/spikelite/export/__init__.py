"""Exports: NIR graphs (:mod:`spikelite.export.nir`)."""

from spikelite.export.nir import DEFAULT_DT, from_nir, to_nir

__all__ = ["DEFAULT_DT", "from_nir", "to_nir"]
