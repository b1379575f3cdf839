"""CIFAR-10 *binary version* batches (``cifar-10-batches-bin/*.bin``), numpy only.

Format (Krizhevsky, https://www.cs.toronto.edu/~kriz/cifar.html, "Binary version"): no
header; 10,000 records of 3,073 bytes per file — 1 label byte (0…9), then 3,072 pixel
bytes: the 1,024 red, 1,024 green and 1,024 blue values of the 32×32 image, each plane
row-major. Files: ``data_batch_1.bin`` … ``data_batch_5.bin`` (train),
``test_batch.bin`` (test), ``batches.meta.txt`` (class names). The python version
(pickles) is deliberately not read: unpickling a downloaded file can execute code.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikelite.errors import SpikeliteError

RECORD_BYTES = 1 + 3 * 32 * 32
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
BIN_FOLDER = "cifar-10-batches-bin"
PY_FOLDER = "cifar-10-batches-py"

CIFAR10_HELP = (
    "Expected the CIFAR-10 *binary version* (https://www.cs.toronto.edu/~kriz/cifar.html, "
    "cifar-10-binary.tar.gz, 162 MB, md5 c32a1d4ab5d03f1284b67883e8d87530) extracted so that "
    "<root>/cifar-10-batches-bin/data_batch_1.bin ... data_batch_5.bin and test_batch.bin "
    "exist (root may also be the cifar-10-batches-bin folder itself). spikelite never "
    "downloads data."
)
PICKLE_REFUSAL = (
    "found the CIFAR-10 *python version* (pickled batches, cifar-10-batches-py), which "
    "spikelite does not read: unpickling a file can run arbitrary code. Download the binary "
    "version instead (same images and labels, plain bytes). "
)


def decode_cifar10_bin(
    raw: bytes | np.ndarray, *, source: str = "<bytes>"
) -> tuple[np.ndarray, np.ndarray]:
    """Bytes of one batch → ``(images uint8 [N, 3, 32, 32], labels int64 [N])``."""
    data = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, bytes) else raw
    if data.size == 0:
        raise SpikeliteError(
            f"{source}: empty file (0 bytes) holds no images; a CIFAR-10 binary batch has "
            f"10,000 records of {RECORD_BYTES} bytes: extract the archive again"
        )
    if data.size % RECORD_BYTES:
        raise SpikeliteError(
            f"{source}: {data.size} bytes is not a multiple of {RECORD_BYTES} (1 label + "
            f"3,072 pixel bytes per image); truncated or not a CIFAR-10 binary batch"
        )
    rec = data.reshape(-1, RECORD_BYTES)
    labels = rec[:, 0].astype(np.int64)
    if len(labels) and labels.max() > 9:
        raise SpikeliteError(
            f"{source}: label byte {labels.max()} > 9; not a CIFAR-10 batch (CIFAR-100's "
            f"binary version has 2 label bytes per record)"
        )
    return rec[:, 1:].reshape(-1, 3, 32, 32), labels


def read_cifar10_bin(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one ``*.bin`` batch → ``(images uint8 [N, 3, 32, 32], labels int64)``."""
    path = Path(path)
    if not path.is_file():
        raise SpikeliteError(f"CIFAR-10 batch not found: {path}. {CIFAR10_HELP}")
    return decode_cifar10_bin(np.fromfile(path, dtype=np.uint8), source=str(path))


def encode_cifar10_bin(images: np.ndarray, labels: np.ndarray) -> bytes:
    """Inverse of :func:`decode_cifar10_bin` (fixtures): uint8 ``[N, 3, 32, 32]`` + labels."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 4 or images.shape[1:] != (3, 32, 32) or len(images) != len(labels):
        raise SpikeliteError(f"images must be [N, 3, 32, 32] with N labels, got {images.shape}")
    rec = np.empty((len(labels), RECORD_BYTES), np.uint8)
    rec[:, 0] = labels
    rec[:, 1:] = images.reshape(len(labels), -1)
    return rec.tobytes()


def find_cifar10_bin(root: str | os.PathLike[str]) -> Path:
    """The ``cifar-10-batches-bin`` folder under (or at) ``root``; refuses the python version."""
    root = Path(root)
    for cand in (root, root / BIN_FOLDER):
        if all((cand / f).is_file() for f in TRAIN_FILES + TEST_FILES):
            return cand
    if root.name == PY_FOLDER or (root / PY_FOLDER).is_dir() or (root / "data_batch_1").is_file():
        raise SpikeliteError(f"{root}: {PICKLE_REFUSAL}{CIFAR10_HELP}")
    raise SpikeliteError(f"no complete CIFAR-10 binary batches under {root}. {CIFAR10_HELP}")


def read_cifar10_split(root: str | os.PathLike[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """All batches of ``split`` (``"train"``: 50,000, ``"test"``: 10,000), in file order."""
    if split not in ("train", "test"):
        raise SpikeliteError(f"split must be 'train' or 'test', got {split!r}")
    folder = find_cifar10_bin(root)
    parts = [
        read_cifar10_bin(folder / f) for f in (TRAIN_FILES if split == "train" else TEST_FILES)
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
