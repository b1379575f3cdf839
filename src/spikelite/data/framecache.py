"""On-disk cache of binned event frames: each recording binned once, then memory-mapped.

An entry is one ``.npy`` file (no pickle) ``<cache root>/frames/<hh>/<hash>.npy`` holding
the item's frames ``[T, P, S, S]`` as the smallest exact dtype (uint8 when every count is
≤ 255, else uint16, else float32); it is read back with ``np.load(mmap_mode="r")`` and
converted to float32, so a hit is bit-identical to binning afresh. ``hash`` is
:func:`~spikelite.data.cache.params_hash` of the **key**:

* the source's identity: resolved path, size, mtime (ns) and inode of the recording file
  (and, for DVS Gesture's IBM release, the labelled window ``[start, end)`` µs) — editing
  or replacing the file gives a new key;
* the reader (module and name: it fixes the time origin and the format);
* sensor size, side ``S`` after sum-pooling, number of polarity channels ``P``;
* ``T``, the binning mode (``time``/``count``), ``duration_us``, ``binarize``, and the
  item dtype (float32);
* :data:`FORMAT_VERSION`.

Only the deterministic binning is cached; anything random (augmentation) must be applied
to the frames after :meth:`FrameCache.get`. Entries are written to a temporary file in the
same folder and renamed into place (atomic on POSIX), so several DataLoader workers or
processes may build the same entry at once: each writes a complete file, one rename wins,
and no reader ever sees a half-written file. An entry that cannot be read back with the
expected shape and dtype (truncated, overwritten, not a ``.npy``) is rebuilt with a
:class:`~spikelite.data.base.DataWarning`. Bit flips inside the data of a well-formed file
are not detected (no checksum: it would cost a full read per access). If the cache folder
is not writable the dataset goes on without caching (one warning per process).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from spikelite.data.base import DataWarning
from spikelite.data.cache import params_hash

FORMAT_VERSION = 1
"""Bumped whenever the binning code changes what a key's frames are."""

#: storage dtypes tried in order: the first that holds every value exactly is used
STORAGE_DTYPES = (np.uint8, np.uint16)


def source_identity(item: Any) -> dict[str, Any]:
    """``{path, size, mtime_ns, inode[, window]}`` of a lazy item (a file, or a
    ``(file, start_us, end_us)`` window)."""
    window = None
    if isinstance(item, tuple):
        path, window = item[0], [int(v) for v in item[1:]]
    else:
        path = item
    p = Path(path).resolve()
    st = p.stat()
    ident: dict[str, Any] = {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                             "inode": st.st_ino}
    if window is not None:
        ident["window"] = window
    return ident


def compact(frames: np.ndarray) -> np.ndarray:
    """``frames`` in the smallest dtype of :data:`STORAGE_DTYPES` that is exact, else as is."""
    if frames.size and (frames.min() < 0 or not np.array_equal(frames, np.floor(frames))):
        return frames
    top = float(frames.max()) if frames.size else 0.0
    for dt in STORAGE_DTYPES:
        if top <= np.iinfo(dt).max:
            return frames.astype(dt)
    return frames


class FrameCache:
    """Frames of event items stored under ``root/frames`` (see the module docstring).

    ``binning`` holds everything besides the item that decides its frames (sensor, size,
    polarities, T, binning mode, …); it is part of every key.
    """

    def __init__(self, root: str | os.PathLike[str], binning: dict[str, Any]) -> None:
        self.root = Path(root) / "frames"
        self.binning = dict(binning)
        self.writable = True

    def key(self, item: Any, reader: Callable[..., Any]) -> dict[str, Any]:
        """The key of ``item`` read by ``reader`` (see the module docstring)."""
        return {
            "version": FORMAT_VERSION,
            "source": source_identity(item),
            "reader": f"{reader.__module__}.{reader.__qualname__}",
            **self.binning,
        }

    def path(self, key: dict[str, Any]) -> Path:
        h = params_hash(key)
        return self.root / h[:2] / f"{h}.npy"

    def get(
        self,
        item: Any,
        reader: Callable[..., Any],
        shape: tuple[int, ...],
        build: Callable[[], np.ndarray],
    ) -> np.ndarray:
        """float32 frames of ``item``: read from the cache, else ``build()`` and stored."""
        try:
            path = self.path(self.key(item, reader))
        except OSError:  # the recording is missing: build() raises the reader's error
            return build()
        if path.exists():
            frames = self._read(path, shape)
            if frames is not None:
                return frames
        frames = build()
        if self.writable:
            self._write(path, frames)
        return frames

    def _read(self, path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
        try:
            mm = np.load(path, mmap_mode="r", allow_pickle=False)
            ok = (
                isinstance(mm, np.ndarray)
                and mm.shape == tuple(shape)
                and mm.dtype in (np.dtype(np.float32), *map(np.dtype, STORAGE_DTYPES))
            )
            if ok:
                return np.asarray(mm, dtype=np.float32)
            reason = f"holds {getattr(mm, 'dtype', '?')} {getattr(mm, 'shape', '?')}, " \
                     f"expected frames of shape {tuple(shape)}"
        except (OSError, ValueError, EOFError) as exc:
            reason = str(exc).split("\n")[0]
        warnings.warn(
            f"damaged frame cache entry {path} ({reason}); binning the recording again and "
            f"replacing it",
            DataWarning,
            stacklevel=4,
        )
        return None

    def _write(self, path: Path, frames: np.ndarray) -> None:
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=".npy",
                                       dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                np.save(f, compact(frames), allow_pickle=False)
            os.replace(tmp, path)  # atomic: readers see the old file or the complete new one
            tmp = None
        except OSError as exc:
            self.writable = False
            warnings.warn(
                f"cannot write the frame cache under {self.root} ({exc}); going on without "
                f"it. Set $SPIKELITE_CACHE / cache_dir= to a writable folder, or pass "
                f"frame_cache=False",
                DataWarning,
                stacklevel=4,
            )
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
