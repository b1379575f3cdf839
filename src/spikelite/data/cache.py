"""On-disk cache for generated data: content-addressed folders created atomically.

A cache entry is ``<cache root>/<name>-<hash>/`` where ``hash`` is the first 12 hex digits
of the SHA-256 of the JSON-serialised generation parameters. It is built in a temporary
sibling folder (``.tmp-…``) which is renamed into place only after the builder finished
and the manifest was written, so a half-written entry is never used; an entry without its
manifest is treated as missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spikelite.errors import SpikeliteError

CACHE_ENV = "SPIKELITE_CACHE"
MANIFEST = "spikelite-manifest.json"


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir`` if given, else ``$SPIKELITE_CACHE``, else ``~/.cache/spikelite``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "spikelite"


def params_hash(params: dict[str, Any]) -> str:
    """First 12 hex digits of SHA-256 over ``json.dumps(params, sort_keys=True)``."""
    blob = json.dumps(params, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def read_manifest(entry: Path) -> dict[str, Any] | None:
    """The manifest of a complete entry, or None when the entry is missing or incomplete."""
    path = entry / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def ensure_entry(
    root: Path,
    name: str,
    params: dict[str, Any],
    build: Callable[[Path], dict[str, Any]],
) -> tuple[Path, dict[str, Any]]:
    """Return ``(entry folder, manifest)``, building the entry with ``build(tmp)`` if missing.

    ``build`` writes the files into the folder it is given and returns extra manifest
    fields; the manifest (``params`` + those fields) is written last, then the folder is
    renamed into place. If another process finished the same entry first, its copy wins.
    """
    entry = root / f"{name}-{params_hash(params)}"
    manifest = read_manifest(entry)
    if manifest is not None:
        return entry, manifest
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-", dir=root))
    except OSError as exc:
        raise SpikeliteError(
            f"cannot create the data cache under {root} ({exc}); pass cache_dir= or set "
            f"${CACHE_ENV} to a writable folder"
        ) from exc
    try:
        manifest = {"name": name, "params": params, **build(tmp)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        if entry.exists():  # an incomplete leftover (no manifest) or a concurrent winner
            if read_manifest(entry) is not None:
                shutil.rmtree(tmp, ignore_errors=True)
                return entry, read_manifest(entry) or manifest
            shutil.rmtree(entry)
        try:
            os.rename(tmp, entry)
        except OSError:
            if read_manifest(entry) is None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return entry, read_manifest(entry) or manifest
