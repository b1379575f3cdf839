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


#: what an operating-system error means for the user, and the fix (by errno name)
_OS_PROBLEMS = {
    "ENOSPC": ("no space left on device while writing", "free some space (or choose another "
               "output folder) and run again"),
    "EDQUOT": ("disk quota exceeded while writing", "free some space (or choose another "
               "output folder) and run again"),
    "EACCES": ("permission denied for", "choose a path you can write to (or read, for an "
               "input)"),
    "EPERM": ("permission denied for", "choose a path you can write to (or read, for an "
              "input)"),
    "EROFS": ("read-only file system at", "choose an output folder on a writable disk"),
    "EEXIST": ("something is already at", "remove it or choose another path"),
    "ENOTDIR": ("a file stands where a folder is needed in", "remove it or choose another "
                "path"),
    "EISDIR": ("a folder stands where a file is needed at", "remove it or choose another "
               "path"),
    "ENOENT": ("no such file or folder:", "check the path"),
    "ENAMETOOLONG": ("the path is too long:", "choose a shorter path"),
}


def os_failure(exc: OSError, path: object | None = None) -> SpikeliteError:
    """An :class:`OSError` as a one-line :class:`SpikeliteError` naming the path and the fix,
    e.g. ``no space left on device while writing 'out/model.nir'; free some space …``.
    ``path`` defaults to the error's own file name."""
    import errno

    where = path if path is not None else (exc.filename or "a file")
    name = errno.errorcode.get(exc.errno or -1, "")
    if name in _OS_PROBLEMS:
        problem, fix = _OS_PROBLEMS[name]
        return SpikeliteError(f"{problem} '{where}'; {fix}")
    reason = exc.strerror or str(exc) or type(exc).__name__
    return SpikeliteError(f"cannot use '{where}': {reason}; check the path and the disk")


def check_output_dir(path: object) -> object:
    """Make sure spikelite can write into the folder ``path`` before any work starts: it
    is created when missing; a file in its place, or a folder that cannot be written
    (read-only, no permission, no space), raises a :class:`SpikeliteError` naming it."""
    import tempfile
    from pathlib import Path

    folder = Path(str(path))
    if folder.exists() and not folder.is_dir():
        raise SpikeliteError(f"output folder '{folder}' is a file; remove it or choose "
                             "another output folder")
    created = []  # the folders this check makes, deepest first: removed again on failure
    probe = folder
    while not (probe.exists() or probe.is_symlink()) and probe != probe.parent:
        created.append(probe)
        probe = probe.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        for made in created:
            try:
                made.rmdir()
            except OSError:
                break
        raise os_failure(exc, folder) from None
    return folder
