"""Bad data input (issue #12, item 6 and beyond): real-format files that are empty, truncated,
corrupt or laid out wrongly, and out-of-range arguments. Every case asserts the exact
outcome: a :class:`SpikeliteError` (CLI: exit 2 and one ``error:`` line) naming the
problem, or a :class:`DataWarning` that counts the skipped files. Fixtures are tiny files
written in the real formats under ``tmp_path``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from spikelite.cli import app
from spikelite.data import (
    CIFAR10_CLASSES,
    direct,
    encode,
    encode_aedat2,
    latency,
    load,
    make_events,
    rate,
    write_aedat2,
    write_nmnist_bin,
    write_nmnist_tree,
)
from spikelite.data.base import DataWarning, EncodedDataset
from spikelite.data.formats.aedat import aedat31_header, aedat31_packet
from spikelite.data.formats.cifar10_bin import encode_cifar10_bin
from spikelite.data.spec import DataSpec
from spikelite.errors import SpikeliteError

EV = make_events([1, 2, 3], [1, 2, 3], [0, 100, 200], [1, 0, 1])
Build = Callable[[Path], None]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIKELITE_CACHE", str(tmp_path / "cache"))


def _sums(ds: Any) -> list[float]:
    return [float(ds[i][0].sum()) for i in range(len(ds))]


# --------------------------------------------------------------------------- tree writers


def nmnist_tree(root: Path, extra: Build | None = None) -> Path:
    """4 train files (labels 0-3) and 2 test files of three events each, plus ``extra``."""
    write_nmnist_tree(root, "train", [EV] * 4, [0, 1, 2, 3])
    write_nmnist_tree(root, "test", [EV] * 2, [0, 1])
    if extra is not None:
        extra(root)
    return root


def cifar10dvs_tree(root: Path, extra: Build | None = None) -> Path:
    """Files 0 (test) and 100 (train) of every class, three events each, plus ``extra``."""
    for cls in CIFAR10_CLASSES:
        for i in (0, 100):
            write_aedat2(root / cls / f"cifar10_{cls}_{i}.aedat", EV)
    if extra is not None:
        extra(root)
    return root


def _npy(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, arr)


def gesture_tonic_tree(root: Path, extra: Build | None = None) -> Path:
    """tonic's processed layout: one train and one test sample (x, y, p, t_ms)."""
    sample = np.array([[1, 2, 1, 0.0], [3, 4, 0, 1.0]])
    _npy(root / "ibmGestureTrain/user01_led/3.npy", sample)
    _npy(root / "ibmGestureTest/user24_led/3.npy", sample)
    if extra is not None:
        extra(root)
    return root


IBM_CSV = "class,startTime_usec,endTime_usec\n1,0,1000\n"


def gesture_ibm_tree(
    root: Path, csv: str = IBM_CSV, events: np.ndarray | None = None
) -> Path:
    """IBM's release: one AEDAT 3.1 trial per split with its labels CSV and trial lists."""
    root.mkdir(parents=True, exist_ok=True)
    ev = make_events([1, 2], [1, 2], [100, 500], [1, 0]) if events is None else events
    for user in ("user01_led", "user24_led"):
        (root / f"{user}.aedat").write_bytes(aedat31_header() + aedat31_packet(ev))
        (root / f"{user}_labels.csv").write_text(csv)
    (root / "trials_to_train.txt").write_text("user01_led.aedat\n")
    (root / "trials_to_test.txt").write_text("user24_led.aedat\n")
    return root


def cifar10_tree(root: Path, extra: Build | None = None) -> Path:
    """The binary version with two images per batch, plus ``extra`` (given the folder)."""
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    batch = encode_cifar10_bin(np.zeros((2, 3, 32, 32), np.uint8), np.array([0, 1]))
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (folder / name).write_bytes(batch)
    if extra is not None:
        extra(folder)
    return root


def _write(rel: str, data: bytes) -> Build:
    def build(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)

    return build


def _nmnist_events(rel: str, events: np.ndarray) -> Build:
    return lambda root: write_nmnist_bin(root / rel, events)


def _aedat2_events(rel: str, events: np.ndarray) -> Build:
    return lambda root: write_aedat2(root / rel, events)


def _unlink_class(cls: str) -> Build:
    def build(root: Path) -> None:
        for f in (root / cls).iterdir():
            f.unlink()

    return build


CAT_TRAIN = "cat/cifar10_cat_100.aedat"
AEDAT2_HEADER = b"#!AER-DAT2.0\r\n"

# --------------------------------------------------------------------------- refused at load
# (id, dataset, tree writer, extra file writer, load options, message substring)

LOAD_ERRORS: list[tuple[str, str, Callable[..., Path], Build | None, dict[str, Any], str]] = [
    ("nmnist-7-byte-file", "nmnist", nmnist_tree, _write("Train/0/00001.bin", b"1234567"), {},
     "nmnist/train: 1 of 4 files are truncated (size not a multiple of 5 bytes"),
    ("nmnist-one-byte-short", "nmnist", nmnist_tree,
     lambda r: (r / "Test/1/00002.bin").write_bytes((r / "Test/1/00002.bin").read_bytes()[:-1]),
     {}, "nmnist/test: 1 of 2 files are truncated"),
    ("nmnist-digit-folder-10", "nmnist", nmnist_tree, _nmnist_events("Train/10/00009.bin", EV),
     {}, "Train/10: labels are the folders 0..9"),
    ("nmnist-bad-file-name", "nmnist", nmnist_tree, _write("Train/0/abc.bin", b""), {},
     "unexpected N-MNIST file name"),
    ("nmnist-no-test-folder", "nmnist", lambda r: write_nmnist_tree(r, "train", [EV], [0]) and r,
     None, {}, "N-MNIST folder 'Test' not found under"),
    ("nmnist-empty-digit-folders", "nmnist", lambda r: ((r / "Train/0").mkdir(parents=True),
                                                         (r / "Test/0").mkdir(parents=True))
     and r, None, {}, "no .bin files in"),
    ("nmnist-duration-zero", "nmnist", nmnist_tree, None, {"duration_us": 0},
     "duration_us must be a positive whole number of µs"),
    ("nmnist-duration-string", "nmnist", nmnist_tree, None, {"duration_us": "1000"},
     "duration_us must be a positive whole number of µs"),
    ("nmnist-duration-nan", "nmnist", nmnist_tree, None, {"duration_us": float("nan")},
     "duration_us must be a positive whole number of µs"),
    ("nmnist-binarize-string", "nmnist", nmnist_tree, None, {"binarize": "no"},
     "binarize must be true or false, got 'no'"),
    ("nmnist-binning-unknown", "nmnist", nmnist_tree, None, {"binning": "space"},
     "unknown binning 'space'; valid: time, count"),
    ("nmnist-unknown-option", "nmnist", nmnist_tree, None, {"size": 16},
     "dataset 'nmnist' does not accept the option(s) ['size']"),
    ("c10dvs-missing-class", "cifar10-dvs", cifar10dvs_tree, _unlink_class("cat"), {},
     "no .aedat files in"),
    ("c10dvs-bad-file-name", "cifar10-dvs", cifar10dvs_tree, _write("dog/dog_3.aedat", b""), {},
     "unexpected CIFAR10-DVS file name"),
    ("c10dvs-aedat4-only", "cifar10-dvs", cifar10dvs_tree,
     lambda r: (_unlink_class("cat")(r), _write("cat/cifar10_cat_1.aedat4", b"x")(r)), {},
     "found tonic's .aedat4 files"),
    ("c10dvs-test-per-class-1000", "cifar10-dvs", cifar10dvs_tree, None,
     {"test_per_class": 1000}, "the CIFAR10-DVS train split is empty"),
    ("c10dvs-size-0", "cifar10-dvs", cifar10dvs_tree, None, {"size": 0},
     "size must be an integer in 1..128"),
    ("c10dvs-duration-negative", "cifar10-dvs", cifar10dvs_tree, None, {"duration_us": -5},
     "duration_us must be a positive whole number of µs"),
    ("nmnist-all-test-files-empty", "nmnist", nmnist_tree,
     lambda r: (_write("Test/0/00001.bin", b"")(r), _write("Test/1/00002.bin", b"")(r)), {},
     "nmnist/test: all 2 recordings are empty files (0 bytes"),
    ("cifar10-empty-batch", "cifar10", cifar10_tree, _write("data_batch_3.bin", b""), {},
     "data_batch_3.bin: empty file (0 bytes) holds no images"),
    ("cifar10-wrong-size", "cifar10", cifar10_tree, _write("data_batch_2.bin", b"x" * 100), {},
     "100 bytes is not a multiple of 3073"),
    ("cifar10-label-byte-10", "cifar10", cifar10_tree,
     _write("test_batch.bin", bytes([10]) + bytes(3072)), {}, "label byte 10 > 9"),
    ("cifar10-missing-batch", "cifar10", cifar10_tree,
     lambda d: (d / "data_batch_5.bin").unlink(), {}, "no complete CIFAR-10 binary batches"),
    ("cifar10-rate-normalized", "cifar10", cifar10_tree, None,
     {"encoding": "rate", "normalize": True}, "normalize=True would make them negative"),
    ("gesture-label-12-npy", "dvsgesture", gesture_tonic_tree,
     _write("ibmGestureTrain/user01_led/12.npy", b""), {}, "<label>.npy with label 0..10"),
    ("ibm-csv-header-only", "dvsgesture",
     lambda r: gesture_ibm_tree(r, "class,startTime_usec,endTime_usec\n"), None, {},
     "user01_led_labels.csv has no label rows"),
    ("ibm-csv-negative-start", "dvsgesture",
     lambda r: gesture_ibm_tree(r, "class,startTime_usec,endTime_usec\n1,-100,1000\n"), None,
     {}, "line 2: expected 'class,startTime_usec,endTime_usec' with class 1..11 and 0 <= start"),
    ("ibm-csv-class-0", "dvsgesture",
     lambda r: gesture_ibm_tree(r, "class,startTime_usec,endTime_usec\n0,0,1000\n"), None, {},
     "with class 1..11"),
    ("ibm-csv-end-before-start", "dvsgesture",
     lambda r: gesture_ibm_tree(r, "class,startTime_usec,endTime_usec\n1,900,100\n"), None, {},
     "0 <= start < end, got '1,900,100'"),
    ("ibm-csv-missing", "dvsgesture",
     lambda r: (gesture_ibm_tree(r), (r / "user24_led_labels.csv").unlink()) and r, None, {},
     "labels file not found"),
    ("ibm-trial-missing", "dvsgesture",
     lambda r: (gesture_ibm_tree(r), (r / "user01_led.aedat").unlink()) and r, None, {},
     "names user01_led.aedat, which is missing"),
]


@pytest.mark.parametrize(
    ("dataset", "tree", "extra", "options", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in LOAD_ERRORS],
)
def test_bad_tree_refused_at_load(
    tmp_path: Path,
    dataset: str,
    tree: Callable[..., Path],
    extra: Build | None,
    options: dict[str, Any],
    message: str,
) -> None:
    root = tmp_path / "data"
    if extra is None:
        tree(root)
    else:
        tree(root, extra)
    with pytest.raises(SpikeliteError, match=re.escape(message)):
        load(dataset, root=root, time_steps=2, **options)


# --------------------------------------------------------------------------- refused per item
# loads, but reading the item would give all-zero frames or garbage: refused naming it
# (id, dataset, tree writer, extra, options, split, item, message substring)

ItemCase = tuple[str, str, Callable[..., Path], Build | None, dict[str, Any], int, int, str]
ITEM_ERRORS: list[ItemCase] = [
    ("nmnist-only-overflow-records", "nmnist", nmnist_tree,
     _write("Train/0/00001.bin", bytes([1, 240, 0, 0, 0])), {}, 0, 0,
     "00001.bin) has no events, so its frames would be all zero"),
    ("nmnist-x-outside-sensor", "nmnist", nmnist_tree,
     _nmnist_events("Train/0/00001.bin", make_events([200], [1], [0], [1])), {}, 0, 0,
     "00001.bin): event coordinates fall outside the sensor of width 34"),
    ("nmnist-events-after-window", "nmnist", nmnist_tree,
     _nmnist_events("Train/0/00001.bin", make_events([1], [1], [5000], [1])),
     {"duration_us": 1000}, 0, 0,
     "all 1 events (t from 5000 to 5000 µs) lie outside the binning window [0, 1000) µs"),
    ("c10dvs-header-only", "cifar10-dvs", cifar10dvs_tree, _write(CAT_TRAIN, AEDAT2_HEADER), {},
     0, 3, "cifar10_cat_100.aedat) has no events, so its frames would be all zero"),
    ("c10dvs-only-external-events", "cifar10-dvs", cifar10dvs_tree,
     _write(CAT_TRAIN, AEDAT2_HEADER + struct.pack(">II", 1 << 15, 5)), {}, 0, 3,
     "has no events, so its frames would be all zero"),
    ("c10dvs-truncated-record", "cifar10-dvs", cifar10dvs_tree,
     _write(CAT_TRAIN, encode_aedat2(EV)[:-3]), {}, 0, 3,
     "21 data bytes after the header is not a multiple of 8"),
    ("c10dvs-bad-magic", "cifar10-dvs", cifar10dvs_tree, _write(CAT_TRAIN, b"garbage!" * 4), {},
     0, 3, "not an AEDAT 2.0 file (the first line must be '#!AER-DAT2.0')"),
    ("c10dvs-header-without-line-end", "cifar10-dvs", cifar10dvs_tree,
     _write(CAT_TRAIN, b"#!AER-DAT2.0 cut"), {}, 0, 3,
     "the AEDAT 2.0 header's last line has no line end"),
    ("gesture-npy-empty-array", "dvsgesture", gesture_tonic_tree,
     lambda r: _npy(r / "ibmGestureTrain/user01_led/4.npy", np.zeros((0, 4))), {}, 0, 1,
     "4.npy) has no events"),
    ("gesture-npy-nan-time", "dvsgesture", gesture_tonic_tree,
     lambda r: _npy(r / "ibmGestureTrain/user01_led/4.npy", np.array([[1, 2, 1, np.nan]])), {},
     0, 1, "column t holds 1 NaN or infinite values"),
    ("gesture-npy-inf-x", "dvsgesture", gesture_tonic_tree,
     lambda r: _npy(r / "ibmGestureTrain/user01_led/4.npy", np.array([[np.inf, 2, 1, 0.0]])),
     {}, 0, 1, "column x holds 1 NaN or infinite values"),
    ("gesture-npy-negative-time", "dvsgesture", gesture_tonic_tree,
     lambda r: _npy(r / "ibmGestureTrain/user01_led/4.npy", np.array([[1, 2, 1, -5.0]])), {},
     0, 1, "negative timestamp -5.0"),
    ("gesture-npy-fractional-x", "dvsgesture", gesture_tonic_tree,
     lambda r: _npy(r / "ibmGestureTrain/user01_led/4.npy", np.array([[1.5, 2, 1, 0.0]])), {},
     0, 1, "column x holds non-integer values"),
    ("gesture-npy-polarity-2", "dvsgesture", gesture_tonic_tree,
     lambda r: _npy(r / "ibmGestureTrain/user01_led/4.npy", np.array([[1, 2, 2, 0.0]])), {},
     0, 1, "polarity p must be 0 or 1"),
    ("gesture-npy-wrong-shape", "dvsgesture", gesture_tonic_tree,
     lambda r: _npy(r / "ibmGestureTrain/user01_led/4.npy", np.zeros((3, 3))), {}, 0, 1,
     "expected tonic's (N, 4) array"),
    ("gesture-npy-truncated", "dvsgesture", gesture_tonic_tree,
     lambda r: _write("ibmGestureTrain/user01_led/4.npy", b"\x93NUMPY")(r), {}, 0, 1,
     "cannot read DVS128 Gesture sample"),
    ("gesture-npy-x-outside-sensor", "dvsgesture", gesture_tonic_tree,
     lambda r: _npy(r / "ibmGestureTrain/user01_led/4.npy", np.array([[200, 2, 1, 0.0]])), {},
     0, 1, "4.npy): event coordinates fall outside the sensor of width 128"),
    ("ibm-csv-window-after-recording", "dvsgesture",
     lambda r: gesture_ibm_tree(r, IBM_CSV + "2,5000,9000\n"), None, {}, 0, 1,
     "user01_led_labels.csv: the row with window [5000, 9000) µs holds no events of"),
    ("ibm-aedat31-truncated-packet", "dvsgesture",
     lambda r: (gesture_ibm_tree(r), (r / "user01_led.aedat").write_bytes(
         (r / "user01_led.aedat").read_bytes()[:-3])) and r, None, {}, 0, 0,
     "claims 2 events of 8 bytes, past the end of the file"),
    ("ibm-aedat31-no-end-header", "dvsgesture",
     lambda r: (gesture_ibm_tree(r), (r / "user01_led.aedat").write_bytes(
         b"#!AER-DAT3.1\r\n")) and r, None, {}, 0, 0, "header has no '#!END-HEADER' line"),
    ("ibm-aedat31-x-outside-sensor", "dvsgesture",
     lambda r: gesture_ibm_tree(r, events=make_events([200], [1], [100], [1])), None, {}, 0, 0,
     "window [0, 1000) µs): event coordinates fall outside the sensor of width 128"),
]


@pytest.mark.parametrize(
    ("dataset", "tree", "extra", "options", "split", "index", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in ITEM_ERRORS],
)
def test_bad_recording_refused_when_read(
    tmp_path: Path,
    dataset: str,
    tree: Callable[..., Path],
    extra: Build | None,
    options: dict[str, Any],
    split: int,
    index: int,
    message: str,
) -> None:
    from spikelite.data.gesture import _trial_events

    _trial_events.cache_clear()
    root = tmp_path / "data"
    if extra is None:
        tree(root)
    else:
        tree(root, extra)
    data = load(dataset, root=root, time_steps=2, **options)[split]
    with pytest.raises(SpikeliteError, match=re.escape(message)):
        data[index]


# --------------------------------------------------------------------------- skipped, counted
# an empty (0-byte) recording: one DataWarning per split counting the skipped files


@pytest.mark.parametrize(
    ("dataset", "tree", "empty", "split", "counts", "warned"),
    [
        pytest.param("nmnist", nmnist_tree, ["Train/0/00001.bin"], "nmnist/train", (3, 2),
                     "skipped 1 of 4 recordings", id="nmnist-one-empty"),
        pytest.param("nmnist", nmnist_tree, ["Train/1/00002.bin", "Train/3/00004.bin"],
                     "nmnist/train", (2, 2), "skipped 2 of 4 recordings", id="nmnist-two-empty"),
        pytest.param("cifar10-dvs", cifar10dvs_tree, [CAT_TRAIN], "cifar10-dvs/train", (9, 10),
                     "skipped 1 of 10 recordings", id="c10dvs-zero-byte"),
        pytest.param("dvsgesture", gesture_tonic_tree, ["ibmGestureTrain/user01_led/4.npy"],
                     "dvsgesture/train", (1, 1), "skipped 1 of 2 recordings",
                     id="gesture-zero-byte-npy"),
    ],
)
def test_empty_files_skipped_with_a_counted_warning(
    tmp_path: Path,
    dataset: str,
    tree: Callable[[Path], Path],
    empty: list[str],
    split: str,
    counts: tuple[int, int],
    warned: str,
) -> None:
    root = tree(tmp_path / "data")
    for rel in empty:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    with pytest.warns(DataWarning) as record:
        train, test = load(dataset, root=root, time_steps=2)
    messages = [str(w.message) for w in record if issubclass(w.category, DataWarning)]
    assert len(messages) == 1 and messages[0].startswith(f"{split}: {warned}")
    assert "0 bytes, e.g. " in messages[0] and "again" in messages[0]
    assert (len(train), len(test)) == counts
    assert all(s > 0 for s in _sums(train) + _sums(test))  # no blank sample remains


# --------------------------------------------------------------------------- safe behaviour


def test_cifar10dvs_late_clock_start_bins_from_the_first_event(tmp_path: Path) -> None:
    """AEDAT 2.0 times are a free-running clock: windows start at the recording's first event."""
    late = make_events([1, 2, 3], [1, 2, 3], [9_000_000, 9_000_400, 9_000_800], [1, 0, 1])
    root = cifar10dvs_tree(tmp_path / "data", _aedat2_events(CAT_TRAIN, late))
    train, _ = load("cifar10-dvs", root=root, time_steps=2, duration_us=1000, size=128)
    x, y = train[3]
    assert y == 3 and train.events(3)["t"].tolist() == [0, 400, 800]
    # t = 0, 400 → bin 0; 800 → bin 1 (bin = t·2 // 1000)
    assert x.sum((1, 2, 3)).tolist() == [2.0, 1.0]


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"time_steps": 0}, "time_steps must be a positive integer, got 0",
                     id="time-steps-0"),
        pytest.param({"time_steps": 1.5}, "time_steps must be a positive integer, got 1.5",
                     id="time-steps-float"),
        pytest.param({"time_steps": True}, "time_steps must be a positive integer, got True",
                     id="time-steps-bool"),
        pytest.param({"limit": 0}, "limit must be a positive integer, got 0", id="limit-0"),
        pytest.param({"limit": -5}, "limit must be a positive integer, got -5", id="limit-neg"),
        pytest.param({"test_fraction": 1.0}, "test_fraction must be a number in (0, 1), got 1.0",
                     id="test-fraction-1"),
        pytest.param({"test_fraction": 0}, "test_fraction must be a number in (0, 1), got 0",
                     id="test-fraction-0"),
        pytest.param({"test_fraction": float("nan")}, "test_fraction must be a number in (0, 1)",
                     id="test-fraction-nan"),
        pytest.param({"test_fraction": "0.2"}, "test_fraction must be a number in (0, 1)",
                     id="test-fraction-str"),
        pytest.param({"encoding": "poisson"}, "unknown encoding 'poisson'. Valid encodings: "
                     "direct, latency, rate", id="encoding-unknown"),
        pytest.param({"encoding": 3}, "unknown encoding 3", id="encoding-not-str"),
        pytest.param({"seed": -1}, "seed must be a non-negative integer, got -1", id="seed-neg"),
        pytest.param({"name": "mnist"}, "unknown dataset 'mnist'", id="name-unknown"),
        pytest.param({"root": "/data"}, "is embedded (generated from bundled data) and takes no "
                     "root=", id="root-for-embedded"),
        pytest.param({"name": "nmnist"}, "dataset 'nmnist' needs root= pointing at the data",
                     id="nmnist-no-root"),
        pytest.param({"name": "nmnist", "root": ""}, "root is an empty string",
                     id="root-empty-string"),
        pytest.param({"name": "cifar10", "root": "/nonexistent/cifar"},
                     "dataset root /nonexistent/cifar does not exist", id="root-missing"),
    ],
)
def test_bad_load_arguments(kwargs: dict[str, Any], message: str) -> None:
    kwargs = {"name": "digits", **kwargs}
    with pytest.raises(SpikeliteError, match=re.escape(message)):
        load(kwargs.pop("name"), **kwargs)


def test_root_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpikeliteError, match=r"is a file, not a folder.*Train/<digit>"):
        load("nmnist", root=tmp_path / "file")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"time_steps": 0}, "time_steps: Input should be greater than or equal to 1",
                     id="time-steps-0"),
        pytest.param({"limit": 0}, "limit: Input should be greater than or equal to 1",
                     id="limit-0"),
        pytest.param({"test_fraction": 1.5}, "test_fraction: Input should be less than 1",
                     id="test-fraction-1.5"),
        pytest.param({"test_fraction": 0.0}, "test_fraction: Input should be greater than 0",
                     id="test-fraction-0"),
        pytest.param({"encoding": "bogus"}, "encoding: unknown encoding 'bogus'",
                     id="encoding-unknown"),
        pytest.param({"seed": -1}, "seed: Input should be greater than or equal to 0",
                     id="seed-neg"),
        pytest.param({"name": "bogus"}, "name: unknown dataset 'bogus'", id="name-unknown"),
    ],
)
def test_bad_data_spec(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SpikeliteError, match=re.escape(message)):
        DataSpec(**kwargs)


# --------------------------------------------------------------------------- encoders


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("encoder", "values", "message"),
    [
        pytest.param(rate, [0.5, 2.0], "1 of 2 input values lie outside (min 0.5, max 2)",
                     id="rate-above-1"),
        pytest.param(rate, [-0.5, 0.5, 1.5], "2 of 3 input values lie outside", id="rate-both"),
        pytest.param(rate, [0.5, NAN], "1 of 2 input values are NaN or infinite", id="rate-nan"),
        pytest.param(rate, [INF], "1 of 1 input values are NaN or infinite", id="rate-inf"),
        pytest.param(latency, [-0.1], "intensities in [0, 1]; 1 of 1", id="latency-negative"),
        pytest.param(latency, [NAN, NAN], "2 of 2 input values are NaN", id="latency-nan"),
        pytest.param(direct, [0.5, NAN], "1 of 2 input values are NaN or infinite",
                     id="direct-nan"),
        pytest.param(direct, [-INF, 3.0], "1 of 2 input values are NaN or infinite",
                     id="direct-inf"),
    ],
)
def test_encoder_refuses_bad_intensities(
    encoder: Callable[..., torch.Tensor], values: list[float], message: str
) -> None:
    with pytest.raises(SpikeliteError, match=re.escape(message)):
        encoder(torch.tensor(values), 3)


def test_direct_keeps_any_finite_value_and_accepts_numpy_time_steps() -> None:
    out = direct(torch.tensor([-2.0, 3.5]), np.int64(2))
    assert out.tolist() == [[-2.0, 3.5], [-2.0, 3.5]]
    assert encode(torch.tensor([1.0]), np.int32(3), "rate").tolist() == [[1.0]] * 3


@pytest.mark.parametrize(
    ("encoding", "images", "message"),
    [
        pytest.param("rate", [[0.0, 255.0]], "digits/train image values lie outside",
                     id="rate-unscaled"),
        pytest.param("direct", [[0.0, NAN]], "digits/train image values are NaN",
                     id="direct-nan"),
    ],
)
def test_encoded_dataset_checks_its_images(
    encoding: str, images: list[list[float]], message: str
) -> None:
    with pytest.raises(SpikeliteError, match=re.escape(message)):
        EncodedDataset(torch.tensor(images), np.array([0]), 10, "digits/train",
                       encoding=encoding, time_steps=2, seed=0)


# --------------------------------------------------------------------------- CLI

cli = CliRunner()


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        pytest.param(lambda r: r.mkdir(), "N-MNIST folder 'Train' not found under",
                     id="empty-folder"),
        pytest.param(lambda r: None, "does not exist", id="missing-folder"),
        pytest.param(lambda r: r.write_text("x"), "is a file, not a folder", id="root-is-file"),
        pytest.param(lambda r: nmnist_tree(r, _write("Train/2/00007.bin", b"123")),
                     "nmnist/train: 1 of 5 files are truncated", id="truncated-file"),
        pytest.param(lambda r: nmnist_tree(r, _nmnist_events("Test/12/00009.bin", EV)),
                     "labels are the folders 0..9", id="digit-folder-12"),
        pytest.param(lambda r: (r / "NMNIST/Train/0").mkdir(parents=True),
                     "NMNIST/Train/<digit>/. Expected the real N-MNIST layout",
                     id="tonic-parent-without-files"),
    ],
)
def test_cli_train_nmnist_bad_root(tmp_path: Path, tree: Build, message: str) -> None:
    root = tmp_path / "nmnist"
    tree(root)
    res = cli.invoke(app, ["train", "--dataset", "nmnist", "--root", str(root), "--epochs", "1",
                           "--out", str(tmp_path / "run"), "--no-progress"])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "Traceback" not in res.output
    assert not (tmp_path / "run").exists()
