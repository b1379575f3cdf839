"""N-MNIST ``.bin`` files and the ``Train/<digit>/<NNNNN>.bin`` folder tree (numpy only).

Format (Orchard et al. 2015, "Converting static image datasets to spiking neuromorphic
datasets using saccades"; reference reader ``Read_Ndataset.m``, mirrored by tonic): no
header, a flat sequence of 5-byte records, one per event::

    byte 0      x (0..255)
    byte 1      y (0..255); y == 240 marks a timestamp-overflow record, not an event
    byte 2      bit 7 = polarity (1 = ON, 0 = OFF); bits 6..0 = timestamp bits 22..16
    bytes 3, 4  timestamp bits 15..8 and 7..0 (big-endian), in microseconds

So the timestamp is 23 bits (< 2**23 µs ≈ 8.39 s). As in the reference reader (and tonic),
each overflow record adds ``2**13`` µs to the timestamps of all following records and is
then dropped; real N-MNIST files contain none.

Tree layout of the real data set (``train.zip`` / ``test.zip``)::

    <root>/Train/0/00002.bin ... <root>/Train/9/...
    <root>/Test/0/...            <root>/Test/9/...

The label is the digit folder name; the file number is the MNIST index of the sample.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from spikelite.data.events import EVENT_DTYPE
from spikelite.errors import SpikeliteError

RECORD_BYTES = 5
MAX_TIMESTAMP_US = 2**23 - 1
OVERFLOW_Y = 240
OVERFLOW_INCREMENT_US = 2**13
SPLIT_FOLDERS = {"train": "Train", "test": "Test"}

NMNIST_HELP = (
    "Expected the real N-MNIST layout: <root>/Train/<digit>/<NNNNN>.bin and "
    "<root>/Test/<digit>/<NNNNN>.bin (digit folders 0..9, five-digit file names, "
    "60,000 train and 10,000 test files). Get it from "
    "https://www.garrickorchard.com/datasets/n-mnist (Mendeley Data doi:10.17632/468j46mzdv.1: "
    "train.zip md5 20959b8e626244a1b502305a9e6e2031, test.zip md5 "
    "69ca8762b2fe404d9b9bad1103e97832; licence CC BY-SA 4.0) and extract both archives "
    "into <root>. spikelite never downloads data. A tonic-style <root>/NMNIST/Train is "
    "accepted too."
)


def decode_nmnist(raw: bytes | np.ndarray, *, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of one N-MNIST file into an :data:`EVENT_DTYPE` array."""
    data = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, bytes) else raw
    if data.size % RECORD_BYTES:
        raise SpikeliteError(
            f"{source}: {data.size} bytes is not a multiple of {RECORD_BYTES}; the file is "
            f"truncated or not an N-MNIST .bin file"
        )
    rec = data.reshape(-1, RECORD_BYTES).astype(np.int64)
    y = rec[:, 1]
    t = ((rec[:, 2] & 0x7F) << 16) | (rec[:, 3] << 8) | rec[:, 4]
    overflow = y == OVERFLOW_Y
    if overflow.any():
        t = t + np.cumsum(overflow) * OVERFLOW_INCREMENT_US
    keep = ~overflow
    ev = np.empty(int(keep.sum()), dtype=EVENT_DTYPE)
    ev["x"] = rec[keep, 0]
    ev["y"] = y[keep]
    ev["t"] = t[keep]
    ev["p"] = rec[keep, 2] >> 7
    return ev


def read_nmnist_bin(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one N-MNIST ``.bin`` file → events (:data:`EVENT_DTYPE`, overflow records dropped)."""
    path = Path(path)
    if not path.is_file():
        raise SpikeliteError(f"N-MNIST file not found: {path}")
    return decode_nmnist(np.fromfile(path, dtype=np.uint8), source=str(path))


def encode_nmnist(events: np.ndarray) -> bytes:
    """Encode events as N-MNIST records; refuses values the format cannot hold."""
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise SpikeliteError("events must be a structured array with fields x, y, t, p")
    n = len(events)
    x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
    t, p = events["t"].astype(np.int64), events["p"].astype(np.int64)
    if n:
        if x.min() < 0 or x.max() > 255:
            raise SpikeliteError(f"N-MNIST stores x in 0..255, got [{x.min()}, {x.max()}]")
        if y.min() < 0 or y.max() > 255:
            raise SpikeliteError(f"N-MNIST stores y in 0..255, got [{y.min()}, {y.max()}]")
        if (y == OVERFLOW_Y).any():
            raise SpikeliteError(
                "y == 240 is reserved for timestamp-overflow records in N-MNIST files; "
                "events at row 240 cannot be stored (crop or remap them)"
            )
        if t.min() < 0 or t.max() > MAX_TIMESTAMP_US:
            raise SpikeliteError(
                f"N-MNIST timestamps are 23-bit microseconds in 0..{MAX_TIMESTAMP_US} "
                f"(≈8.39 s), got [{t.min()}, {t.max()}]; shift or cut the recording"
            )
        if not np.isin(p, (0, 1)).all():
            raise SpikeliteError(
                f"N-MNIST polarity must be 0 (OFF) or 1 (ON), got values {np.unique(p)[:5]}"
            )
    rec = np.empty((n, RECORD_BYTES), dtype=np.uint8)
    rec[:, 0] = x
    rec[:, 1] = y
    rec[:, 2] = (p << 7) | (t >> 16)
    rec[:, 3] = (t >> 8) & 0xFF
    rec[:, 4] = t & 0xFF
    return rec.tobytes()


def write_nmnist_bin(path: str | os.PathLike[str], events: np.ndarray) -> None:
    """Write events to one N-MNIST ``.bin`` file (parent folders are created)."""
    data = encode_nmnist(events)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _split_folder(root: Path, split: str) -> Path:
    if split not in SPLIT_FOLDERS:
        raise SpikeliteError(f"split must be 'train' or 'test', got {split!r}")
    name = SPLIT_FOLDERS[split]
    for base in (root, root / "NMNIST"):
        if (base / name).is_dir():
            return base / name
    raise SpikeliteError(f"N-MNIST folder '{name}' not found under {root}. {NMNIST_HELP}")


def list_nmnist_tree(root: str | os.PathLike[str], split: str) -> list[tuple[Path, int]]:
    """List ``(file, label)`` of one split, ordered by file number (then digit).

    ``split`` is ``"train"`` or ``"test"``; labels come from the digit folder names.
    Raises :class:`SpikeliteError` naming the expected layout when files are missing.
    """
    folder = _split_folder(Path(root), split)
    items: list[tuple[int, int, Path]] = []
    for sub in sorted(folder.iterdir()):
        if not (sub.is_dir() and sub.name.isdigit()):
            continue
        label = int(sub.name)
        if label > 9:
            raise SpikeliteError(
                f"unexpected N-MNIST digit folder {sub}: labels are the folders 0..9. "
                f"{NMNIST_HELP}"
            )
        for f in sub.glob("*.bin"):
            if not f.stem.isdigit():
                raise SpikeliteError(f"unexpected N-MNIST file name {f}; expected NNNNN.bin")
            items.append((int(f.stem), label, f))
    if not items:
        raise SpikeliteError(f"no .bin files in {folder}/<digit>/. {NMNIST_HELP}")
    items.sort(key=lambda it: (it[0], it[1]))
    return [(f, label) for _, label, f in items]


def read_nmnist_tree(
    root: str | os.PathLike[str], split: str, *, limit: int | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Read a whole split eagerly → ``(list of event arrays, int64 labels)``.

    Order as :func:`list_nmnist_tree`; ``limit`` keeps the first ``limit`` files.
    """
    files = list_nmnist_tree(root, split)
    if limit is not None:
        files = files[:limit]
    events = [read_nmnist_bin(f) for f, _ in files]
    return events, np.array([label for _, label in files], dtype=np.int64)


def write_nmnist_tree(
    root: str | os.PathLike[str],
    split: str,
    samples: Sequence[np.ndarray] | Iterable[np.ndarray],
    labels: Sequence[int] | np.ndarray,
    *,
    first_index: int = 1,
) -> list[Path]:
    """Write samples as ``<root>/<Train|Test>/<label>/<NNNNN>.bin``; returns the paths.

    Sample ``i`` gets file number ``first_index + i`` (five digits, unique across digit
    folders, so :func:`list_nmnist_tree` reads them back in the same order).
    """
    if split not in SPLIT_FOLDERS:
        raise SpikeliteError(f"split must be 'train' or 'test', got {split!r}")
    labels = np.asarray(labels)
    samples = list(samples)
    if len(samples) != len(labels):
        raise SpikeliteError(f"{len(samples)} samples but {len(labels)} labels")
    if first_index < 0 or first_index + len(samples) - 1 > 99_999:
        raise SpikeliteError("N-MNIST file numbers have five digits: at most 100,000 per split")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise SpikeliteError(
            f"N-MNIST labels are digits 0..9, got [{labels.min()}, {labels.max()}]"
        )
    folder = Path(root) / SPLIT_FOLDERS[split]
    paths = []
    for i, (ev, label) in enumerate(zip(samples, labels, strict=True)):
        path = folder / str(int(label)) / f"{first_index + i:05d}.bin"
        write_nmnist_bin(path, ev)
        paths.append(path)
    return paths
