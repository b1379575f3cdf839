"""Old import paths of moved names: a module-level ``__getattr__`` that warns and forwards.

``__getattr__ = moved(__name__, {"OldName": ("spikelite.new.module", "NewName")})`` makes
``from <module> import OldName`` return ``spikelite.new.module.NewName`` with a
:class:`DeprecationWarning` naming the new path. The target is imported on first use.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def moved(module: str, names: Mapping[str, tuple[str, str]]) -> Callable[[str], Any]:
    """A ``__getattr__`` for ``module`` serving each old name from ``(new module, new name)``."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target, new = names[name]
        warnings.warn(
            f"{module}.{name} moved to {target}.{new}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(target), new)

    return __getattr__
