"""Name → factory registries (timm-style ``register`` / ``get`` / ``build``).

A registry maps a lower-case name to a callable. Registries hold factories, never
instances, so there is no shared mutable model state. :meth:`Registry.build` is the one
"name or instance + options → instance" builder behind ``get_surrogate``,
``create_neuron``, ``get_quantizer``, ``get_criterion``, ``get_format`` and ``get_preset``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from spikelite.errors import SpikeliteError

T = TypeVar("T")

_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def keyword_options(factory: Callable[..., Any]) -> list[str] | None:
    """The keyword parameters ``factory`` accepts, in signature order; ``None`` when it
    takes ``**kwargs`` (or has no inspectable signature), so any keyword may be valid."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in _KEYWORD]


class Registry(Generic[T]):
    """A named collection of factories of kind ``kind`` (e.g. ``"model"``).

    ``instance_of``: the type of what the factories build; :meth:`build` returns such an
    instance as is (``None``: only names are accepted). ``options``: what the factories'
    keywords are called in error messages (``"options"`` or ``"parameters"``).
    """

    def __init__(self, kind: str, *, instance_of: type | tuple[type, ...] | None = None,
                 options: str = "options") -> None:
        self.kind = kind
        self.instance_of = instance_of
        self.options = options
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

    def build(self, spec: Any, /, **options: Any) -> Any:
        """An instance from ``spec``: an instance of ``instance_of`` is returned as is
        (``options`` are then an error); a name is looked up (unknown names list the valid
        ones) and its factory called with ``options``. Keywords the factory does not take
        are an error listing the valid ones; a ``TypeError`` raised while building is
        reported as bad options."""
        word = self.options
        if self.instance_of is not None and isinstance(spec, self.instance_of):
            if options:
                raise SpikeliteError(
                    f"pass {self.kind} {word} either in the instance or by name")
            return spec
        factory: Any = self.get(spec)
        valid = keyword_options(factory)
        if valid is not None:
            unknown = sorted(set(options) - set(valid))
            if unknown:
                raise SpikeliteError(
                    f"bad {word} for {self.kind} '{spec}': no {word.removesuffix('s')}(s) "
                    f"{', '.join(unknown)}. Valid {word}: {', '.join(valid) or '(none)'}"
                )
        try:
            return factory(**options)
        except TypeError as exc:
            raise SpikeliteError(f"bad {word} for {self.kind} '{spec}': {exc}") from exc

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
