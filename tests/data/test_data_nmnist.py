"""N-MNIST .bin reader/writer and folder tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelite.data import (
    EVENT_DTYPE,
    list_nmnist_tree,
    make_events,
    read_nmnist_bin,
    read_nmnist_tree,
    write_nmnist_bin,
    write_nmnist_tree,
)
from spikelite.data.formats.nmnist import decode_nmnist, encode_nmnist
from spikelite.errors import SpikeliteError

MAX_T = 2**23 - 1


def test_byte_layout_polarity_bit_and_23_bit_timestamp() -> None:
    ev = make_events([1, 255], [2, 0], [0x123456, MAX_T], [1, 0])
    raw = encode_nmnist(ev)
    assert raw == bytes([1, 2, 0x80 | 0x12, 0x34, 0x56, 255, 0, 0x7F, 0xFF, 0xFF])
    back = decode_nmnist(raw)
    assert back.dtype == EVENT_DTYPE
    assert back.tolist() == ev.tolist()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 255),
            st.integers(0, 255).filter(lambda v: v != 240),
            st.integers(0, MAX_T),
            st.integers(0, 1),
        ),
        max_size=50,
    )
)
def test_round_trip_any_valid_events(rows: list[tuple[int, int, int, int]]) -> None:
    cols = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    ev = make_events(*cols)
    back = decode_nmnist(encode_nmnist(ev))
    for name in "xytp":
        np.testing.assert_array_equal(back[name], ev[name])


def test_file_round_trip(tmp_path: Path) -> None:
    ev = make_events([0, 33, 5], [0, 33, 7], [10, 200_000, MAX_T], [0, 1, 1])
    path = tmp_path / "sub" / "00001.bin"
    write_nmnist_bin(path, ev)
    assert path.stat().st_size == 15
    assert read_nmnist_bin(path).tolist() == ev.tolist()


def test_overflow_record_is_dropped_and_shifts_later_timestamps() -> None:
    # event (3, 4, t=100, ON), overflow record (y == 240), event (5, 6, t=7, OFF)
    raw = bytes([3, 4, 0x80, 0, 100, 0, 240, 0, 0, 0, 5, 6, 0, 0, 7])
    ev = decode_nmnist(raw)
    assert len(ev) == 2
    assert ev["x"].tolist() == [3, 5] and ev["y"].tolist() == [4, 6]
    assert ev["p"].tolist() == [1, 0]
    # Orchard's reference reader and tonic add 2**13 µs per overflow record.
    assert ev["t"].tolist() == [100, 7 + 2**13]


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("x", 256, "x in 0..255"),
        ("x", -1, "x in 0..255"),
        ("y", 240, "reserved"),
        ("y", 300, "y in 0..255"),
        ("t", 2**23, "23-bit"),
        ("t", -5, "23-bit"),
        ("p", 2, "polarity"),
        ("p", -1, "polarity"),
    ],
)
def test_writer_refuses_out_of_range(field: str, value: int, match: str) -> None:
    ev = make_events([1, 2], [1, 2], [0, 1], [0, 1])
    ev[field][1] = value
    with pytest.raises(SpikeliteError, match=match):
        encode_nmnist(ev)


def test_truncated_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(bytes(7))
    with pytest.raises(SpikeliteError, match="multiple of 5"):
        read_nmnist_bin(path)


def _tiny_tree(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split, labels in (("train", [3, 1, 3, 0]), ("test", [2, 9])):
        samples = [
            make_events(
                rng.integers(0, 34, 5),
                rng.integers(0, 34, 5),
                np.sort(rng.integers(0, 9000, 5)),
                rng.integers(0, 2, 5),
            )
            for _ in labels
        ]
        write_nmnist_tree(root, split, samples, labels)


def test_tree_layout_labels_and_order(tmp_path: Path) -> None:
    _tiny_tree(tmp_path)
    assert (tmp_path / "Train" / "3" / "00001.bin").is_file()
    assert (tmp_path / "Train" / "3" / "00003.bin").is_file()
    assert (tmp_path / "Test" / "9" / "00002.bin").is_file()
    files = list_nmnist_tree(tmp_path, "train")
    assert [label for _, label in files] == [3, 1, 3, 0]
    assert [f.name for f, _ in files] == ["00001.bin", "00002.bin", "00003.bin", "00004.bin"]
    events, labels = read_nmnist_tree(tmp_path, "test")
    assert labels.tolist() == [2, 9] and all(len(e) == 5 for e in events)


def test_tree_label_comes_from_folder(tmp_path: Path) -> None:
    _tiny_tree(tmp_path)
    (tmp_path / "Train" / "7").mkdir()
    (tmp_path / "Train" / "1" / "00002.bin").rename(tmp_path / "Train" / "7" / "00002.bin")
    assert [label for _, label in list_nmnist_tree(tmp_path, "train")] == [3, 7, 3, 0]


def test_tonic_style_root_is_accepted(tmp_path: Path) -> None:
    _tiny_tree(tmp_path / "NMNIST")
    assert len(list_nmnist_tree(tmp_path, "train")) == 4


def test_missing_tree_names_the_layout(tmp_path: Path) -> None:
    with pytest.raises(SpikeliteError, match=r"Train/<digit>/<NNNNN>\.bin") as info:
        list_nmnist_tree(tmp_path / "nowhere", "train")
    assert "never downloads" in str(info.value)
    (tmp_path / "Test").mkdir()
    with pytest.raises(SpikeliteError, match="no .bin files"):
        list_nmnist_tree(tmp_path, "test")
    with pytest.raises(SpikeliteError, match="'train' or 'test'"):
        list_nmnist_tree(tmp_path, "val")
