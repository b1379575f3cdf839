"""Old import paths kept as deprecated aliases (a module-level ``__getattr__``)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def alias_module(old: str, moved: dict[str, str]) -> Callable[[str], Any]:
    """A ``__getattr__`` for the module ``old`` whose names moved: ``moved`` maps a name
    to its new module path (``"pkg.mod"``, same name) or ``"pkg.mod:new_name"``. Each
    access warns (``DeprecationWarning``) and returns the object from its new home."""

    def __getattr__(name: str) -> Any:
        target = moved.get(name)
        if target is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        module, _, new = target.partition(":")
        new = new or name
        warnings.warn(f"{old}.{name} moved to {module}.{new}; the old path will be removed",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), new)

    return __getattr__
