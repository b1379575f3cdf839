"""Exports: registered targets (:data:`EXPORT_TARGETS`: ``nir``, ``package``) over one chain
walker (:mod:`spikelite.export.chain`). Importing this package registers every target."""

from spikelite.export import package as _package  # noqa: F401  (registers "package")
from spikelite.export.nir import DEFAULT_DT, from_nir, to_nir  # (registers "nir")
from spikelite.export.targets import (
    EXPORT_TARGETS,
    Exported,
    ExportTarget,
    export_model,
    get_target,
)

__all__ = [
    "DEFAULT_DT", "EXPORT_TARGETS", "ExportTarget", "Exported", "export_model", "from_nir",
    "get_target", "to_nir",
]
