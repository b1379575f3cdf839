"""Name → factory registries (timm-style ``register`` / ``get``).

A registry maps a lower-case name to a callable. Registries hold factories, never
instances, so there is no shared mutable model state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from spikelite.errors import SpikeliteError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of factories of kind ``kind`` (e.g. ``"model"``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a duplicate name is an error."""
        key = name.lower()

        def deco(obj: T) -> T:
            if key in self._entries:
                raise SpikeliteError(f"{self.kind} '{key}' is registered twice")
            self._entries[key] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        """Return the entry called ``name`` or raise an error listing the valid names."""
        key = str(name).lower()
        if key not in self._entries:
            raise SpikeliteError(
                f"unknown {self.kind} '{name}'. Valid {self.kind} names: {', '.join(self.names())}"
            )
        return self._entries[key]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
