"""CIFAR10-DVS: AEDAT 2.0 decoding, the class-folder layout, the fixed split, downsampling."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from spikelite.data import (
    CIFAR10_CLASSES,
    EVENT_DTYPE,
    decode_aedat2,
    encode_aedat2,
    list_cifar10dvs,
    load,
    make_events,
    read_aedat2,
    write_aedat2,
)
from spikelite.errors import SpikeliteError


def _raw(pairs: list[tuple[int, int]], header: bytes = b"#!AER-DAT2.0\r\n") -> bytes:
    return header + b"".join(struct.pack(">II", a, t) for a, t in pairs)


def test_address_convention_is_spikingjelly_s() -> None:
    # address bits: 14..8 = 5, 7..1 = 10, bit 0 = 1 → x = 127 − 5, y = 127 − 10, p = 1 − 1
    header = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n#Date 2017\r\n"
    ev = decode_aedat2(_raw([((5 << 8) | (10 << 1) | 1, 7), ((0 << 8) | (127 << 1), 9)], header))
    assert ev.dtype == EVENT_DTYPE
    assert ev.tolist() == [(122, 117, 7, 0), (127, 0, 9, 1)]


def test_external_events_dropped_and_header_without_extra_lines() -> None:
    ev = decode_aedat2(_raw([(1 << 15, 1), ((1 << 8) | (2 << 1), 2)]))
    assert ev.tolist() == [(126, 125, 2, 1)]
    assert len(decode_aedat2(b"#!AER-DAT2.0\r\n")) == 0


def test_round_trip_and_errors(tmp_path: Path) -> None:
    ev = make_events([0, 127, 64], [127, 0, 3], [0, 10, 2**32 - 1], [1, 0, 1])
    write_aedat2(tmp_path / "a" / "x.aedat", ev, ("#Start-Time: 0",))
    assert read_aedat2(tmp_path / "a" / "x.aedat").tolist() == ev.tolist()
    with pytest.raises(SpikeliteError, match="not a multiple of 8"):
        decode_aedat2(encode_aedat2(ev)[:-1])
    with pytest.raises(SpikeliteError, match="not an AEDAT 2.0"):
        decode_aedat2(b"#!AER-DAT3.1\r\n")
    with pytest.raises(SpikeliteError, match="not found"):
        read_aedat2(tmp_path / "missing.aedat")
    with pytest.raises(SpikeliteError, match="x, y in 0..127"):
        encode_aedat2(make_events([128], [0], [0], [1]))


# one sample: events at t = 0, 100, 200, 299 µs
SAMPLE = make_events([122, 122, 0, 127], [117, 117, 0, 127], [0, 100, 200, 299], [1, 1, 0, 1])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """All ten classes, files 0, 1 (test) and 100, 101, 102 (train) each."""
    for label, cls in enumerate(CIFAR10_CLASSES):
        for i in (0, 1, 100, 101, 102):
            ev = SAMPLE.copy()
            ev["x"][-1] = label  # make every file distinguishable
            write_aedat2(tmp_path / "CIFAR10DVS" / cls / f"cifar10_{cls}_{i}.aedat", ev)
    return tmp_path


def test_listing_and_fixed_split(root: Path) -> None:
    items = list_cifar10dvs(root)
    assert len(items) == 50
    assert [(f.name, label, num) for f, label, num in items[:5]] == [
        ("cifar10_airplane_0.aedat", 0, 0),
        ("cifar10_airplane_1.aedat", 0, 1),
        ("cifar10_airplane_100.aedat", 0, 100),
        ("cifar10_airplane_101.aedat", 0, 101),
        ("cifar10_airplane_102.aedat", 0, 102),
    ]
    train, test = load("cifar10-dvs", root=root, time_steps=3)
    assert (len(train), len(test)) == (30, 20)
    assert test.labels.tolist() == [c for c in range(10) for _ in range(2)]
    assert train.labels.tolist() == [c for c in range(10) for _ in range(3)]
    names = [Path(f).name for f in test.items[:2]]
    assert names == ["cifar10_airplane_0.aedat", "cifar10_airplane_1.aedat"]
    train2, test2 = load("cifar10-dvs", root=root, test_per_class=101)
    assert (len(train2), len(test2)) == (20, 30)


def test_default_48px_exact_bins(root: Path) -> None:
    train, _ = load("cifar10-dvs", root=root, time_steps=3)
    assert train.classes == 10 and train.input_shape == (2, 48, 48) and train.time_steps == 3
    x, y = train[3]  # automobile (label 1), file 100
    assert y == 1 and x.shape == (3, 2, 48, 48)
    # span 300 µs, T = 3: bin = t·3 // 300 → 0, 1, 2, 2
    # 48 px: x' = x·48 // 128 → 122 → 45, 0 → 0, label 1 → 0, 127 → 47; y 117 → 43
    expected = torch.zeros(3, 2, 48, 48)
    expected[0, 1, 43, 45] = 1
    expected[1, 1, 43, 45] = 1
    expected[2, 0, 0, 0] = 1
    expected[2, 1, 47, 0] = 1
    assert torch.equal(x, expected)
    full, _ = load("cifar10-dvs", root=root, time_steps=3, size=128)
    xf, _ = full[3]
    assert full.input_shape == (2, 128, 128) and xf[2, 1, 127, 1] == 1 and xf.sum() == 4


def test_48px_is_count_preserving_nearest_cell_pooling(root: Path) -> None:
    small, _ = load("cifar10-dvs", root=root, time_steps=1, size=48)
    full, _ = load("cifar10-dvs", root=root, time_steps=1, size=128)
    cell = np.arange(128) * 48 // 128  # widths 3, 3, 2 repeating
    assert np.bincount(cell)[:3].tolist() == [3, 3, 2]
    pool = torch.zeros(48, 128)
    pool[cell, np.arange(128)] = 1
    for i in (0, 7, 29):
        assert torch.equal(small[i][0], pool @ full[i][0] @ pool.T)


def test_limit_is_stratified(root: Path) -> None:
    train, test = load("cifar10-dvs", root=root, limit=10)
    assert sorted(train.labels.tolist()) == list(range(10))
    assert len(test) == 10


def test_errors(tmp_path: Path, root: Path) -> None:
    with pytest.raises(SpikeliteError, match="needs root=.*cifar10_<class>_<i>.aedat"):
        load("cifar10-dvs")
    with pytest.raises(SpikeliteError, match="no CIFAR10-DVS class folders"):
        load("cifar10-dvs", root=tmp_path / "CIFAR10DVS" / "airplane")
    with pytest.raises(SpikeliteError, match="not a folder"):
        load("cifar10-dvs", root=tmp_path / "missing")
    with pytest.raises(SpikeliteError, match="test split is empty"):
        load("cifar10-dvs", root=root, test_per_class=0)
    with pytest.raises(SpikeliteError, match="test_per_class must be"):
        load("cifar10-dvs", root=root, test_per_class=-1)
    with pytest.raises(SpikeliteError, match=r"size must be an integer in 1\.\.128"):
        load("cifar10-dvs", root=root, size=0)
    bad = root / "CIFAR10DVS" / "truck" / "truck_3.aedat"
    bad.write_bytes(b"#!AER-DAT2.0\r\n")
    with pytest.raises(SpikeliteError, match="expected cifar10_truck_<i>.aedat"):
        load("cifar10-dvs", root=root)
    bad.unlink()
    frog = root / "CIFAR10DVS" / "frog"
    for f in frog.glob("*.aedat"):
        f.rename(f.with_suffix(".aedat4"))
    with pytest.raises(SpikeliteError, match=r"no \.aedat files in .*frog.*\.aedat4"):
        load("cifar10-dvs", root=root)
