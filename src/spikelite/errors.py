"""Exceptions raised by spikelite.

Every user-facing failure is a :class:`SpikeliteError` (a ``ValueError``) or a
:class:`MissingExtraError` (an ``ImportError``) whose message names the problem and the fix.
"""

from __future__ import annotations


class SpikeliteError(ValueError):
    """Bad input or configuration: the message names the problem and how to fix it."""


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the optional package '{package}', which is not installed. "
            f"Install it with: pip install 'spikelite[{extra}]'"
        )
        self.package = package
        self.extra = extra


def require(module: str, extra: str, purpose: str):
    """Import an optional module or raise :class:`MissingExtraError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module.split(".")[0], extra, purpose) from exc
