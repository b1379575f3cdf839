"""CIFAR10-DVS (Li et al., Front. Neurosci. 2017): the original AEDAT 2.0 release.

Layout (data.md §2.3; the figshare record's ten zips ``airplane.zip`` … ``truck.zip``
extracted into one folder)::

    <root>/airplane/cifar10_airplane_0.aedat … cifar10_airplane_999.aedat
    …
    <root>/truck/cifar10_truck_999.aedat

1,000 DVS128 recordings per class, read by
:func:`~spikelite.data.formats.aedat.read_aedat2` (spikingjelly's axis convention). There
is no official split; spikelite uses the fixed TEBN-style one: files numbered
``i < test_per_class`` (default 100, i.e. 0–99) of every class are the test set, the rest
(100–999) the training set → 9,000 / 1,000. spikingjelly's own helper instead takes the
last 10 % of each class for testing; numbers are not comparable across the two.

The AEDAT 2.0 timestamps of these recordings come from jAER's free-running µs clock, so a
recording does not start at t = 0; :func:`read_cifar10dvs` shifts each one to start at its
first event (spikingjelly's ``split_by="time"`` also counts from ``t[0]``), so that
``duration_us`` windows cover the recording rather than an arbitrary clock origin.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikelite.data.formats.aedat import read_aedat2
from spikelite.errors import SpikeliteError

CIFAR10DVS_SENSOR_SIZE: tuple[int, int, int] = (128, 128, 2)
"""DVS128 sensor as ``(width, height, polarities)``."""

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""Label ``k`` is ``CIFAR10_CLASSES[k]`` (CIFAR-10's order; also tonic's and spikingjelly's)."""

CIFAR10DVS_HELP = (
    "Expected CIFAR10-DVS as released on figshare "
    "(https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671, Li et al. 2017): "
    "the ten class archives airplane.zip ... truck.zip extracted into <root>, giving "
    "<root>/<class>/cifar10_<class>_<i>.aedat (AEDAT 2.0, i = 0..999) for the classes "
    + ", ".join(CIFAR10_CLASSES)
    + ". A CIFAR10DVS/ parent folder under <root> is accepted. tonic's AEDAT 4.0 copy "
    "(.aedat4) is not read: use the original .aedat files. Check the figshare record's "
    "licence before redistributing derived data. spikelite never downloads data."
)


def _base(root: Path) -> Path:
    if not root.is_dir():
        raise SpikeliteError(f"CIFAR10-DVS root {root} is not a folder. {CIFAR10DVS_HELP}")
    for base in (root, root / "CIFAR10DVS", root / "CIFAR10-DVS"):
        if any((base / c).is_dir() for c in CIFAR10_CLASSES):
            return base
    raise SpikeliteError(f"no CIFAR10-DVS class folders under {root}. {CIFAR10DVS_HELP}")


def list_cifar10dvs(root: str | os.PathLike[str]) -> list[tuple[Path, int, int]]:
    """``(file, label, file number)`` of every recording, ordered by class then number."""
    base = _base(Path(root))
    items: list[tuple[Path, int, int]] = []
    for label, cls in enumerate(CIFAR10_CLASSES):
        folder = base / cls
        files = sorted(folder.glob("*.aedat")) if folder.is_dir() else []
        if not files:
            extra = ""
            if folder.is_dir() and any(folder.glob("*.aedat4")):
                extra = " (found tonic's .aedat4 files, which spikelite does not read)"
            raise SpikeliteError(f"no .aedat files in {folder}{extra}. {CIFAR10DVS_HELP}")
        numbered = []
        prefix = f"cifar10_{cls}_"
        for f in files:
            num = f.stem[len(prefix) :]
            if not (f.stem.startswith(prefix) and num.isdigit()):
                raise SpikeliteError(
                    f"unexpected CIFAR10-DVS file name {f}; expected {prefix}<i>.aedat"
                )
            numbered.append((int(num), f))
        items += [(f, label, num) for num, f in sorted(numbered)]
    return items


def split_cifar10dvs(
    items: list[tuple[Path, int, int]], test_per_class: int = 100
) -> dict[str, list[tuple[Path, int]]]:
    """Fixed split: file number ``< test_per_class`` → test, the others → train."""
    n = test_per_class
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise SpikeliteError(
            f"test_per_class must be a non-negative integer (files numbered below it are "
            f"the test set), got {test_per_class!r}"
        )
    out: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
    for f, label, num in items:
        out["test" if num < test_per_class else "train"].append((f, label))
    for split, part in out.items():
        if not part:
            raise SpikeliteError(
                f"the CIFAR10-DVS {split} split is empty with test_per_class={test_per_class} "
                f"(test = files numbered below it in every class)"
            )
    return out


def read_cifar10dvs(path: str | os.PathLike[str]) -> np.ndarray:
    """One CIFAR10-DVS recording (:func:`read_aedat2`), times shifted to start at 0.

    The file's timestamps are a free-running device clock, so ``t − min(t)`` is the time
    since the first event (a copy; an empty recording is returned as is).
    """
    ev = read_aedat2(path)
    if len(ev):
        ev["t"] -= ev["t"].min()
    return ev
