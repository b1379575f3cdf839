"""DVS128 Gesture: tonic's processed .npy tree and IBM's AEDAT 3.1 release (tiny fixtures)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from spikelite.data import (
    EVENT_DTYPE,
    decode_aedat31,
    find_gesture_layout,
    load,
    make_events,
    read_aedat31,
    read_gesture_labels,
    read_gesture_npy,
)
from spikelite.data.formats.aedat import aedat31_header, aedat31_packet
from spikelite.data.gesture import _trial_events
from spikelite.errors import SpikeliteError

# --------------------------------------------------------------------------- tonic layout


def _npy(path: Path, rows: list[tuple[int, int, int, float]], dtype: str = "float64") -> None:
    """tonic's processed sample: (N, 4) array, columns x, y, p, t in ms."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.array(rows, dtype=dtype).reshape(-1, 4))


@pytest.fixture
def tonic_root(tmp_path: Path) -> Path:
    root = tmp_path / "DVSGesture"
    train, test = root / "ibmGestureTrain", root / "ibmGestureTest"
    # user01: label 3 has four events 0, 1, 2, 3 ms; label 0 two events.
    _npy(
        train / "user01_fluorescent" / "3.npy",
        [(10, 20, 1, 0), (11, 20, 0, 1), (10, 20, 1, 2), (127, 127, 0, 3)],
    )
    _npy(train / "user01_fluorescent" / "0.npy", [(0, 0, 1, 5), (1, 1, 1, 6)], "int64")
    _npy(train / "user02_led" / "10.npy", [(5, 5, 0, 0.5), (6, 6, 1, 7.25)])
    _npy(test / "user24_lab" / "7.npy", [(64, 64, 1, 0), (65, 64, 1, 2)])
    return tmp_path  # the DVSGesture/ parent is found below root


def test_npy_reader_converts_ms_to_us(tonic_root: Path) -> None:
    ev = read_gesture_npy(tonic_root / "DVSGesture/ibmGestureTrain/user02_led/10.npy")
    assert ev.dtype == EVENT_DTYPE
    assert ev.tolist() == [(5, 5, 500, 0), (6, 6, 7250, 1)]


def test_npy_reader_accepts_structured_events_in_us(tmp_path: Path) -> None:
    ev = np.zeros(2, dtype=[("x", "i2"), ("y", "i2"), ("t", "i8"), ("p", "?")])
    ev["x"], ev["y"], ev["t"], ev["p"] = [1, 2], [3, 4], [100, 250], [True, False]
    np.save(tmp_path / "0.npy", ev)
    assert read_gesture_npy(tmp_path / "0.npy").tolist() == [(1, 3, 100, 1), (2, 4, 250, 0)]
    np.save(tmp_path / "1.npy", np.zeros((3, 3)))
    with pytest.raises(SpikeliteError, match=r"\(N, 4\)"):
        read_gesture_npy(tmp_path / "1.npy")


def test_load_tonic_layout_labels_order_and_exact_bins(tonic_root: Path) -> None:
    assert find_gesture_layout(tonic_root)[0] == "tonic"
    train, test = load("dvsgesture", root=tonic_root, time_steps=2)
    assert (len(train), len(test)) == (3, 1)
    assert train.labels.tolist() == [0, 3, 10]  # trial folder, then label
    assert test.labels.tolist() == [7]
    assert train.classes == 11 and train.input_shape == (2, 128, 128)
    assert train.time_steps == 2
    x, y = train[1]
    assert y == 3 and x.shape == (2, 2, 128, 128) and x.dtype == torch.float32
    # t = 0, 1000, 2000, 3000 µs over the sample's span 3001 µs, T = 2:
    # bin = t·2 // 3001 → 0, 0, 1, 1.
    expected = torch.zeros(2, 2, 128, 128)
    expected[0, 1, 20, 10] = 1  # (10, 20) ON at t = 0
    expected[0, 0, 20, 11] = 1  # (11, 20) OFF at t = 1 ms
    expected[1, 1, 20, 10] = 1  # (10, 20) ON at t = 2 ms
    expected[1, 0, 127, 127] = 1
    assert torch.equal(x, expected)


def test_size_sum_pools_event_counts(tonic_root: Path) -> None:
    full, _ = load("dvsgesture", root=tonic_root, time_steps=2)
    for size in (64, 32):
        small, _ = load("dvsgesture", root=tonic_root, time_steps=2, size=size)
        assert small.input_shape == (2, size, size)
        k = 128 // size
        for i in range(len(full)):
            pooled = full[i][0].reshape(2, 2, size, k, size, k).sum((3, 5))
            assert torch.equal(small[i][0], pooled)
    small, _ = load("dvsgesture", root=tonic_root, time_steps=2, size=64)
    x, _ = small[1]
    assert x[0, 1, 10, 5] == 1 and x[0, 0, 10, 5] == 1 and x[1, 0, 63, 63] == 1


def test_binning_options_and_limit(tonic_root: Path) -> None:
    train, _ = load("dvsgesture", root=tonic_root, time_steps=4, duration_us=4000, binarize=True)
    x, _ = train[1]
    # fixed windows of 1 ms from t = 0: events at 0, 1, 2, 3 ms → bins 0, 1, 2, 3
    assert x.sum((1, 2, 3)).tolist() == [1, 1, 1, 1]
    count, _ = load("dvsgesture", root=tonic_root, time_steps=2, binning="count", limit=2)
    assert len(count) == 2 and count[1][0].sum((1, 2, 3)).tolist() == [2, 2]


def test_dataloader_batches_time_major(tonic_root: Path) -> None:
    from torch.utils.data import DataLoader

    from spikelite.data import time_major_collate

    train, _ = load("dvsgesture", root=tonic_root, time_steps=3, size=32)
    xb, yb = next(iter(DataLoader(train, batch_size=3, collate_fn=time_major_collate)))
    assert xb.shape == (3, 3, 2, 32, 32) and yb.tolist() == [0, 3, 10]


# --------------------------------------------------------------------------- IBM release


def _ev(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    return make_events(*zip(*rows, strict=True))


def _write_trial(path: Path, packets: list[bytes], labels: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(aedat31_header() + b"".join(packets))
    (path.parent / f"{path.stem}_labels.csv").write_text(labels)


SPECIAL = aedat31_packet(_ev([(1, 1, 5, 1), (2, 2, 6, 0)]), event_type=0)


@pytest.fixture
def ibm_root(tmp_path: Path) -> Path:
    root = tmp_path / "DvsGesture"
    t_hi = 2**31 + 100  # an event in the next timestamp-overflow epoch
    _write_trial(
        root / "user01_fluorescent.aedat",
        [
            aedat31_packet(_ev([(3, 4, 1_000, 1), (5, 6, 1_500, 0), (7, 8, 2_000, 1)])),
            SPECIAL,  # a type-0 packet: must be skipped by its size
            aedat31_packet(
                _ev([(9, 9, 2_500, 1), (100, 120, 3_000, 0)]), valid=np.array([False, True])
            ),
        ],
        "class,startTime_usec,endTime_usec\r\n1,1000,2001\r\n8,2000,3500\r\n",
    )
    _write_trial(
        root / "user24_led.aedat",
        [
            aedat31_packet(_ev([(10, 11, 2**31 - 10, 1)])),
            aedat31_packet(_ev([(12, 13, t_hi, 0)]), ts_overflow=1),
        ],
        "class,startTime_usec,endTime_usec\n11,2147483600,2147483800\n",
    )
    (root / "trials_to_train.txt").write_text("user01_fluorescent.aedat\n")
    (root / "trials_to_test.txt").write_text("user24_led.aedat\n\n")
    return tmp_path


def test_aedat31_decoder_skips_special_packets_invalid_events_and_applies_overflow(
    ibm_root: Path,
) -> None:
    ev = read_aedat31(ibm_root / "DvsGesture/user01_fluorescent.aedat")
    assert ev.tolist() == [
        (3, 4, 1_000, 1),
        (5, 6, 1_500, 0),
        (7, 8, 2_000, 1),
        (100, 120, 3_000, 0),  # (9, 9) was invalid; the special packet is gone
    ]
    ev = read_aedat31(ibm_root / "DvsGesture/user24_led.aedat")
    assert ev["t"].tolist() == [2**31 - 10, 2**31 + 100]
    # byte layout of one polarity event: data = x<<17 | y<<2 | p<<1 | valid, then ts
    packet = aedat31_packet(_ev([(3, 4, 7, 1)]))
    assert packet[28:].hex() == ((3 << 17) | (4 << 2) | 2 | 1).to_bytes(4, "little").hex() + (
        "07000000"
    )
    # type, source, eventSize, eventTSOffset, eventTSOverflow, capacity, number, valid
    assert struct.unpack("<hhiiiiii", packet[:28]) == (1, 0, 8, 4, 0, 1, 1, 1)


def test_aedat31_errors() -> None:
    with pytest.raises(SpikeliteError, match="not an AEDAT 3.1"):
        decode_aedat31(b"#!AER-DAT2.0\r\n")
    with pytest.raises(SpikeliteError, match="END-HEADER"):
        decode_aedat31(b"#!AER-DAT3.1\r\n")
    truncated = aedat31_header() + aedat31_packet(_ev([(1, 1, 1, 1)]))[:-3]
    with pytest.raises(SpikeliteError, match="past the end"):
        decode_aedat31(truncated)


def test_labels_csv(tmp_path: Path) -> None:
    path = tmp_path / "a_labels.csv"
    path.write_text("class,startTime_usec,endTime_usec\n2,10,20\n\n11,30,40\n")
    assert read_gesture_labels(path).tolist() == [[2, 10, 20], [11, 30, 40]]
    path.write_text("class,startTime_usec,endTime_usec\n12,10,20\n")
    with pytest.raises(SpikeliteError, match="class 1..11"):
        read_gesture_labels(path)


def test_load_ibm_layout_cuts_every_csv_row(ibm_root: Path) -> None:
    _trial_events.cache_clear()
    assert find_gesture_layout(ibm_root)[0] == "ibm"
    train, test = load("dvsgesture", root=ibm_root, time_steps=2)
    assert train.labels.tolist() == [0, 7] and test.labels.tolist() == [10]
    # row 1: [1000, 2001) → events at 1000, 1500, 2000, shifted to 0, 500, 1000
    assert train.events(0).tolist() == [(3, 4, 0, 1), (5, 6, 500, 0), (7, 8, 1000, 1)]
    # row 2 overlaps row 1 (as in the real data): [2000, 3500) → 2000 and 3000
    assert train.events(1).tolist() == [(7, 8, 0, 1), (100, 120, 1000, 0)]
    x, y = train[0]
    assert y == 0 and x.shape == (2, 2, 128, 128)
    # span 1001 µs, T = 2: bins 0·2//1001 = 0, 500·2//1001 = 0, 1000·2//1001 = 1
    assert x[0, 1, 4, 3] == 1 and x[0, 0, 6, 5] == 1 and x[1, 1, 8, 7] == 1 and x.sum() == 3
    # the test trial's window straddles the overflow: 2**31 − 10 and 2**31 + 100
    assert test.events(0)["t"].tolist() == [2**31 - 10 - 2147483600, 2**31 + 100 - 2147483600]


def test_ibm_layout_missing_trial_file(ibm_root: Path) -> None:
    (ibm_root / "DvsGesture/trials_to_test.txt").write_text("user29_lab.aedat\n")
    with pytest.raises(SpikeliteError, match="user29_lab.aedat, which is missing"):
        load("dvsgesture", root=ibm_root)


# --------------------------------------------------------------------------- errors


def test_errors_name_layout_and_source(tmp_path: Path, tonic_root: Path) -> None:
    with pytest.raises(SpikeliteError, match="needs root=.*ibmGestureTrain"):
        load("dvsgesture")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpikeliteError, match="no DVS128 Gesture data.*trials_to_train.txt"):
        load("dvsgesture", root=tmp_path / "empty")
    with pytest.raises(SpikeliteError, match="not a folder"):
        load("dvsgesture", root=tmp_path / "nope")
    with pytest.raises(SpikeliteError, match=r"size must be an integer in 1\.\.128"):
        load("dvsgesture", root=tonic_root, size=256)
    with pytest.raises(SpikeliteError, match="does not accept"):
        load("dvsgesture", root=tonic_root, threshold=0.5)
    (tonic_root / "DVSGesture/ibmGestureTest/user24_lab/12.npy").write_bytes(b"")
    with pytest.raises(SpikeliteError, match="label 0..10"):
        load("dvsgesture", root=tonic_root)
