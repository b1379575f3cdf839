"""DVS128 Gesture (Amir et al., CVPR 2017): tonic's processed ``.npy`` tree or IBM's release.

Two layouts are read (data.md §2.2), never downloaded:

* **tonic's processed copy** (what ``tonic.datasets.DVSGesture`` extracts):
  ``<root>/ibmGestureTrain/userNN_<lighting>/<label>.npy`` and ``<root>/ibmGestureTest/…``
  (a ``<root>/DVSGesture/`` parent is accepted). ``<label>`` (0…10) is the file stem; each
  file is a numeric ``(N, 4)`` array with columns ``x, y, p, t`` and **t in ms** (tonic
  multiplies it by 1000). A structured array with fields ``x, y, p, t`` is read as
  tonic's in-memory events (t in µs).
* **IBM's original release** ``DvsGesture.tar.gz``: ``<root>/userNN_<lighting>.aedat``
  (AEDAT 3.1, :func:`~spikelite.data.formats.aedat.read_aedat31`) with
  ``userNN_<lighting>_labels.csv`` (``class,startTime_usec,endTime_usec``, class 1…11) and
  ``trials_to_train.txt`` / ``trials_to_test.txt`` (a ``<root>/DvsGesture/`` parent is
  accepted). Every CSV row is one sample (events ``start ≤ t < end``, times shifted to
  start at 0; label = class − 1), as spikingjelly and snntorch cut it: 1,176 train /
  288 test on the full release (tonic's copy has 1,077 / 264).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from spikelite.data.events import EVENT_DTYPE
from spikelite.data.formats.aedat import read_aedat31
from spikelite.errors import SpikeliteError

GESTURE_SENSOR_SIZE: tuple[int, int, int] = (128, 128, 2)
"""DVS128 sensor as ``(width, height, polarities)``."""

GESTURE_CLASSES = (
    "hand clapping",
    "right hand wave",
    "left hand wave",
    "right arm clockwise",
    "right arm counter-clockwise",
    "left arm clockwise",
    "left arm counter-clockwise",
    "arm roll",
    "air drums",
    "air guitar",
    "other gestures",
)
"""Label ``k`` is the IBM class ``k + 1`` (``gesture_mapping.csv``)."""

TONIC_FOLDERS = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}
TRIAL_LISTS = {"train": "trials_to_train.txt", "test": "trials_to_test.txt"}

GESTURE_HELP = (
    "Expected DVS128 Gesture in one of two layouts: (1) tonic's processed copy "
    "<root>/ibmGestureTrain/userNN_<lighting>/<label>.npy and <root>/ibmGestureTest/... "
    "(from tonic's download, ibmGestureTrain.tar.gz md5 3a8f0d4120a166bac7591f77409cb105 and "
    "ibmGestureTest.tar.gz md5 56070e45dadaa85fff82e0fbfbc06de5, extracted); or (2) IBM's "
    "original release DvsGesture.tar.gz (≈3 GB, linked from "
    "https://research.ibm.com/interactive/dvsgesture/ ; IBM box folder "
    "https://ibm.ent.box.com/s/3hiq58ww1pbbjrinh367ykfdf60xsfm8) extracted so that "
    "<root>/trials_to_train.txt, <root>/trials_to_test.txt and "
    "<root>/userNN_<lighting>.aedat + userNN_<lighting>_labels.csv exist. A DVSGesture/ or "
    "DvsGesture/ parent folder under <root> is accepted. Licence CC BY 4.0. spikelite never "
    "downloads data."
)


def find_gesture_layout(root: str | os.PathLike[str]) -> tuple[str, Path]:
    """``("tonic", folder)`` or ``("ibm", folder)`` for the data under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise SpikeliteError(f"DVS128 Gesture root {root} is not a folder. {GESTURE_HELP}")
    bases = (root, root / "DVSGesture", root / "DvsGesture")
    for base in bases:
        if all((base / f).is_dir() for f in TONIC_FOLDERS.values()):
            return "tonic", base
    for base in bases:
        if all((base / f).is_file() for f in TRIAL_LISTS.values()):
            return "ibm", base
    raise SpikeliteError(f"no DVS128 Gesture data found under {root}. {GESTURE_HELP}")


# --------------------------------------------------------------------------- tonic layout


def list_gesture_npy(base: str | os.PathLike[str], split: str) -> list[tuple[Path, int]]:
    """``(file, label)`` of one split of tonic's tree, ordered by trial folder then label."""
    folder = Path(base) / TONIC_FOLDERS[_split(split)]
    items: list[tuple[Path, int]] = []
    for trial in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in trial.glob("*.npy"):
            if not f.stem.isdigit() or not 0 <= int(f.stem) < len(GESTURE_CLASSES):
                raise SpikeliteError(
                    f"unexpected DVS128 Gesture file {f}: tonic names each sample "
                    f"<label>.npy with label 0..10"
                )
            items.append((f, int(f.stem)))
    if not items:
        raise SpikeliteError(f"no <label>.npy files in {folder}/userNN_<lighting>/. {GESTURE_HELP}")
    items.sort(key=lambda it: (it[0].parent.name, it[1]))
    return items


def read_gesture_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """One tonic DVSGesture sample → events (t in µs). ``(N, 4)`` columns x, y, p, t_ms."""
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # missing, truncated, not .npy, or pickled
        raise SpikeliteError(f"cannot read DVS128 Gesture sample {path}: {exc}") from exc
    if arr.dtype.names is not None:
        missing = {"x", "y", "p", "t"} - set(arr.dtype.names)
        if missing:
            raise SpikeliteError(f"{path}: structured events lack the field(s) {sorted(missing)}")
        cols = [arr[k] for k in ("x", "y", "p", "t")]
        scale = 1.0
    elif arr.ndim == 2 and arr.shape[1] == 4:
        cols = [arr[:, k] for k in range(4)]
        scale = 1000.0
    else:
        raise SpikeliteError(
            f"{path}: expected tonic's (N, 4) array of x, y, p, t_ms, got shape {arr.shape} "
            f"and dtype {arr.dtype}"
        )
    for name, col in zip(("x", "y", "p", "t"), cols, strict=True):
        if col.dtype.kind not in "biuf":
            raise SpikeliteError(f"{path}: column {name} is not numeric (dtype {col.dtype})")
        if col.dtype.kind == "f" and not np.isfinite(col).all():
            raise SpikeliteError(
                f"{path}: column {name} holds {int((~np.isfinite(col)).sum())} NaN or infinite "
                f"values; the sample is corrupt"
            )
        if name != "t" and col.dtype.kind == "f" and (col != np.round(col)).any():
            raise SpikeliteError(f"{path}: column {name} holds non-integer values; the sample "
                                 f"is corrupt (x, y are pixels, p is 0 or 1)")
    if len(cols[2]) and not np.isin(cols[2], (0, 1)).all():
        raise SpikeliteError(f"{path}: polarity p must be 0 or 1, got {np.unique(cols[2])[:5]}")
    if len(cols[3]) and cols[3].min() < 0:
        raise SpikeliteError(f"{path}: negative timestamp {cols[3].min()}; the sample is corrupt")
    if scale != 1.0:
        cols[3] = np.rint(cols[3].astype(np.float64) * scale)
    ev = np.empty(len(cols[0]), dtype=EVENT_DTYPE)
    for name, col in zip(("x", "y", "p", "t"), cols, strict=True):
        ev[name] = col
    return ev


# --------------------------------------------------------------------------- IBM layout


def read_gesture_labels(path: str | os.PathLike[str]) -> np.ndarray:
    """A ``_labels.csv`` → int64 ``[rows, 3]``: ``class (1..11), start_us, end_us``."""
    path = Path(path)
    if not path.is_file():
        raise SpikeliteError(f"DVS128 Gesture labels file not found: {path}. {GESTURE_HELP}")
    rows = []
    for n, line in enumerate(path.read_text().splitlines()):
        parts = [p.strip() for p in line.split(",")]
        if not line.strip() or (n == 0 and not parts[0].isdigit()):
            continue  # the header "class,startTime_usec,endTime_usec"
        try:
            row = [int(p) for p in parts]
        except ValueError:
            row = []
        if (
            len(row) != 3
            or not 1 <= row[0] <= len(GESTURE_CLASSES)
            or row[1] < 0
            or row[2] <= row[1]
        ):
            raise SpikeliteError(
                f"{path}, line {n + 1}: expected 'class,startTime_usec,endTime_usec' with "
                f"class 1..11 and 0 <= start < end, got {line!r}"
            )
        rows.append(row)
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def list_gesture_ibm(
    base: str | os.PathLike[str], split: str
) -> list[tuple[tuple[str, int, int], int]]:
    """``((aedat file, start_us, end_us), label)`` per CSV row of the split's trials."""
    base = Path(base)
    listing = base / TRIAL_LISTS[_split(split)]
    names = [s.strip() for s in listing.read_text().splitlines() if s.strip()]
    items: list[tuple[tuple[str, int, int], int]] = []
    for name in names:
        aedat = base / name
        if not aedat.is_file():
            raise SpikeliteError(f"{listing} names {name}, which is missing. {GESTURE_HELP}")
        rows = read_gesture_labels(base / f"{aedat.stem}_labels.csv")
        if not len(rows):
            raise SpikeliteError(
                f"{base / f'{aedat.stem}_labels.csv'} has no label rows, but {listing} lists "
                f"{name}: the labels do not match the recording. Restore the CSV from "
                f"DvsGesture.tar.gz or remove {name} from {listing.name}"
            )
        items += [((str(aedat), int(s), int(e)), int(c) - 1) for c, s, e in rows]
    if not items:
        raise SpikeliteError(f"{listing} lists no trials with labelled gestures. {GESTURE_HELP}")
    return items


@functools.lru_cache(maxsize=1)
def _trial_events(path: str) -> np.ndarray:
    return read_aedat31(path)


def read_gesture_segment(ref: tuple[str, int, int]) -> np.ndarray:
    """Events of one labelled window ``(aedat, start, end)``: ``start ≤ t < end``, t − start.

    The last decoded trial is kept in memory (items of a trial are adjacent, so reading a
    split in order decodes each file once; shuffled access re-decodes).
    """
    path, start, end = ref
    ev = _trial_events(path)
    out = ev[(ev["t"] >= start) & (ev["t"] < end)]  # a copy (boolean indexing)
    if not len(out):
        span = f"{int(ev['t'].min())} to {int(ev['t'].max())} µs" if len(ev) else "no events"
        raise SpikeliteError(
            f"{Path(path).stem}_labels.csv: the row with window [{start}, {end}) µs holds no "
            f"events of {path} (the recording has {span}); the labels do not match the "
            f"recording. Restore both files from DvsGesture.tar.gz"
        )
    out["t"] -= start
    return out


def _split(split: str) -> str:
    if split not in TONIC_FOLDERS:
        raise SpikeliteError(f"split must be 'train' or 'test', got {split!r}")
    return split
