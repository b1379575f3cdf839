"""Export targets by name: the :data:`EXPORT_TARGETS` registry and :func:`export_model`.

A target is a frozen dataclass subclassing :class:`ExportTarget`, registered under its name
in the module that writes its format (``nir`` in :mod:`spikelite.export.nir`, ``package``
in :mod:`spikelite.export.package`; importing :mod:`spikelite.export` registers them all).
It walks the model with :func:`spikelite.export.chain.walk_chain`, writes atomically and can
read its file back to compare it with the model. ``spikelite export --to NAME`` and
:func:`export_model` dispatch through the registry.
"""

from __future__ import annotations

import inspect
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from torch import nn

from spikelite._registry import Registry
from spikelite.core.checks import check_model
from spikelite.errors import SpikeliteError, os_failure
from spikelite.quant import LayerQuant


@dataclass(frozen=True)
class ExportTarget(ABC):
    """One export format. Class attributes: ``name`` (the registry key, ``--to``),
    ``description`` (one line), ``suffix`` (default file suffix; ``""``: a folder),
    ``extra`` (the optional dependency group it needs, or ``None``)."""

    name: ClassVar[str]
    description: ClassVar[str]
    suffix: ClassVar[str]
    extra: ClassVar[str | None] = None

    @abstractmethod
    def export(self, plain: nn.Module, sidecars: Mapping[str, LayerQuant], path: Path, *,
               source: Mapping[str, Any] | None = None, **options: Any) -> str:
        """Write ``plain`` (a baked model in evaluation mode) with its integer ``sidecars``
        to ``path`` atomically (temp file, then rename); ``source``: where it came from
        (``checkpoint``, ``model`` and ``data`` configs), recorded if the format can.
        Returns the one-line summary the CLI prints (``"wrote …"``)."""

    @abstractmethod
    def check(self, plain: nn.Module, path: Path) -> float:
        """Read ``path`` back, run it and ``plain`` on the same random spikes and return the
        share of output values that agree (1.0 = identical)."""

    def notes(self, plain: nn.Module, **options: Any) -> list[str]:
        """What a reader of the file should know before it is written (one line each,
        e.g. a layer that other tools will not load, and the route that does); the CLI
        prints them first. Default: none."""
        return []

    @classmethod
    def options(cls) -> tuple[str, ...]:
        """The keyword options :meth:`export` takes besides ``source``."""
        params = inspect.signature(cls.export).parameters.values()
        return tuple(p.name for p in params
                     if p.kind is p.KEYWORD_ONLY and p.name != "source")


def write_atomic(files: Mapping[Path, bytes]) -> None:
    """Write each ``{path: data}`` through a temporary file in its folder, then rename them
    all: no partial file is ever left under any name, and existing files are replaced only
    once every new one is complete. An operating-system error (a full disk: ``no space
    left on device while writing 'PATH'``) raises a :class:`SpikeliteError`; the temporary
    files are removed."""
    tmps = {path: path.with_name(f".{path.name}.tmp") for path in files}
    current = next(iter(files), Path("."))
    try:
        for path, data in files.items():
            current = path
            with open(tmps[path], "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for path, tmp in tmps.items():
            current = path
            os.replace(tmp, path)
    except OSError as exc:
        raise os_failure(exc, current) from None
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)


EXPORT_TARGETS: Registry[type[ExportTarget]] = Registry("export target")


def get_target(name: str) -> ExportTarget:
    """The registered target called ``name`` (an error lists the valid names)."""
    return EXPORT_TARGETS.get(name)()


@dataclass(frozen=True)
class Exported:
    """What :func:`export_model` did: the target, the path, the summary line, the
    read-back agreement (``None`` when not checked) and the target's notes."""

    target: str
    path: Path
    summary: str
    agreement: float | None
    notes: tuple[str, ...] = ()


def _check_output(path: Path, target: ExportTarget) -> None:
    """Refuse, before any work, an output path of the wrong kind (a folder for a file
    target, a file for a folder target) or in a folder that cannot be written."""
    from spikelite.errors import check_output_dir

    if target.suffix and path.is_dir():
        raise SpikeliteError(f"--out '{path}' is a folder; --to {target.name} writes a file: "
                             f"name one, e.g. '{path / ('model' + target.suffix)}'")
    if not target.suffix and path.exists() and not path.is_dir():
        raise SpikeliteError(f"--out '{path}' is a file; --to {target.name} writes a folder: "
                             "remove the file or choose another path")
    check_output_dir(path if path.is_dir() else path.parent)  # creates no new output


def export_model(plain: nn.Module, sidecars: Mapping[str, LayerQuant] | None,
                 path: str | Path, *, to: str = "nir", check: bool = True,
                 source: Mapping[str, Any] | None = None,
                 notify: Callable[[str], None] | None = None, **options: Any) -> Exported:
    """Export ``plain`` (baked: ``plain, sidecars = spikelite.quant.bake(model)``) with the
    target ``to`` and, with ``check``, read it back and compare. ``options`` are the
    target's own (e.g. ``dt``/``lif_gain`` for ``nir``, ``pack`` for ``package``). A
    NaN/infinite weight or a negative BatchNorm variance is refused before anything is
    written. ``notify`` gets each of the target's notes before the file is written."""
    target = get_target(to)
    check_model(plain, "the model to export")
    unknown = sorted(set(options) - set(target.options()))
    if unknown:
        raise SpikeliteError(f"export target '{target.name}' has no option "
                             f"{', '.join(unknown)}; its options: "
                             f"{', '.join(target.options()) or 'none'}")
    path = Path(path)
    _check_output(path, target)
    notes = tuple(target.notes(plain, **options))
    for line in notes if notify is not None else ():
        notify(line)
    summary = target.export(plain, dict(sidecars or {}), path, source=source, **options)
    agreement = target.check(plain, path) if check else None
    return Exported(target.name, path, summary, agreement, notes)
