"""CIFAR-100 *binary version* (``cifar-100-binary/train.bin``, ``test.bin``), numpy only.

Format (Krizhevsky, https://www.cs.toronto.edu/~kriz/cifar.html, "Binary version"): no
header; records of 3,074 bytes — 1 coarse label byte (0…19, the superclass), 1 fine label
byte (0…99, the class), then 3,072 pixel bytes: the 1,024 red, 1,024 green and 1,024 blue
values of the 32×32 image, each plane row-major. Files: ``train.bin`` (50,000 records),
``test.bin`` (10,000), ``coarse_label_names.txt`` and ``fine_label_names.txt`` (one name a
line). The python version (pickles) is deliberately not read: unpickling a downloaded file
can execute code.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikelite.errors import SpikeliteError

RECORD_BYTES = 2 + 3 * 32 * 32
SPLIT_FILES = {"train": "train.bin", "test": "test.bin"}
NAME_FILES = {"coarse": "coarse_label_names.txt", "fine": "fine_label_names.txt"}
LABEL_KINDS = {"coarse": 20, "fine": 100}
BIN_FOLDER = "cifar-100-binary"
PY_FOLDER = "cifar-100-python"

CIFAR100_HELP = (
    "Expected the CIFAR-100 *binary version* (https://www.cs.toronto.edu/~kriz/cifar.html, "
    "cifar-100-binary.tar.gz, 161 MB, md5 03b5dce01913d631647c71ecec9e9cb8) extracted so "
    "that <root>/cifar-100-binary/train.bin and test.bin exist (root may also be the "
    "cifar-100-binary folder itself). spikelite never downloads data."
)
PICKLE_REFUSAL = (
    "found the CIFAR-100 *python version* (pickled train/test/meta, cifar-100-python), "
    "which spikelite does not read: unpickling a file can run arbitrary code. Download the "
    "binary version instead (same images and labels, plain bytes). "
)


def decode_cifar100_bin(
    raw: bytes | np.ndarray, *, source: str = "<bytes>"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bytes of ``train.bin``/``test.bin`` →
    ``(images uint8 [N, 3, 32, 32], coarse int64 [N], fine int64 [N])``."""
    data = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, bytes) else raw
    if data.size % RECORD_BYTES:
        hint = (
            " (it is a multiple of 3,073: a CIFAR-10 batch, which has 1 label byte?)"
            if data.size % (RECORD_BYTES - 1) == 0
            else ""
        )
        raise SpikeliteError(
            f"{source}: {data.size} bytes is not a multiple of {RECORD_BYTES} (1 coarse + 1 "
            f"fine label byte + 3,072 pixel bytes per image); truncated or not a CIFAR-100 "
            f"binary file{hint}"
        )
    rec = data.reshape(-1, RECORD_BYTES)
    coarse, fine = rec[:, 0].astype(np.int64), rec[:, 1].astype(np.int64)
    for kind, labels in (("coarse", coarse), ("fine", fine)):
        top = LABEL_KINDS[kind] - 1
        if len(labels) and labels.max() > top:
            raise SpikeliteError(
                f"{source}: {kind} label byte {labels.max()} > {top}; not a CIFAR-100 binary "
                f"file (records are coarse label, fine label, 3,072 pixels)"
            )
    return rec[:, 2:].reshape(-1, 3, 32, 32), coarse, fine


def read_cifar100_bin(
    path: str | os.PathLike[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read ``train.bin`` or ``test.bin`` → ``(images, coarse labels, fine labels)``."""
    path = Path(path)
    if not path.is_file():
        raise SpikeliteError(f"CIFAR-100 file not found: {path}. {CIFAR100_HELP}")
    return decode_cifar100_bin(np.fromfile(path, dtype=np.uint8), source=str(path))


def encode_cifar100_bin(images: np.ndarray, coarse: np.ndarray, fine: np.ndarray) -> bytes:
    """Inverse of :func:`decode_cifar100_bin` (fixtures): uint8 ``[N, 3, 32, 32]`` + labels."""
    images, coarse, fine = np.asarray(images), np.asarray(coarse), np.asarray(fine)
    n = len(images)
    if images.ndim != 4 or images.shape[1:] != (3, 32, 32) or not len(coarse) == len(fine) == n:
        raise SpikeliteError(
            f"images must be [N, 3, 32, 32] with N coarse and N fine labels, got "
            f"{images.shape}, {len(coarse)}, {len(fine)}"
        )
    rec = np.empty((n, RECORD_BYTES), np.uint8)
    rec[:, 0], rec[:, 1] = coarse, fine
    rec[:, 2:] = images.reshape(n, -1)
    return rec.tobytes()


def find_cifar100_bin(root: str | os.PathLike[str]) -> Path:
    """The ``cifar-100-binary`` folder under (or at) ``root``; refuses the python version."""
    root = Path(root)
    for cand in (root, root / BIN_FOLDER):
        if all((cand / f).is_file() for f in SPLIT_FILES.values()):
            return cand
    if (
        root.name == PY_FOLDER
        or (root / PY_FOLDER).is_dir()
        or ((root / "train").is_file() and (root / "meta").is_file())
    ):
        raise SpikeliteError(f"{root}: {PICKLE_REFUSAL}{CIFAR100_HELP}")
    raise SpikeliteError(f"no complete CIFAR-100 binary files under {root}. {CIFAR100_HELP}")


def read_cifar100_split(
    root: str | os.PathLike[str], split: str, labels: str = "fine"
) -> tuple[np.ndarray, np.ndarray]:
    """``split`` (``"train"``: 50,000, ``"test"``: 10,000) → ``(images, labels)`` with the
    ``labels`` kind: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses)."""
    if split not in SPLIT_FILES:
        raise SpikeliteError(f"split must be 'train' or 'test', got {split!r}")
    if labels not in LABEL_KINDS:
        raise SpikeliteError(f"CIFAR-100 labels must be 'fine' or 'coarse', got {labels!r}")
    images, coarse, fine = read_cifar100_bin(find_cifar100_bin(root) / SPLIT_FILES[split])
    return images, fine if labels == "fine" else coarse


def read_cifar100_names(root: str | os.PathLike[str], labels: str = "fine") -> list[str]:
    """Class names from ``fine_label_names.txt`` / ``coarse_label_names.txt`` (blank lines
    dropped); ``[]`` when the file is absent (the labels do not need it)."""
    if labels not in NAME_FILES:
        raise SpikeliteError(f"CIFAR-100 labels must be 'fine' or 'coarse', got {labels!r}")
    path = find_cifar100_bin(root) / NAME_FILES[labels]
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]
