"""Binning of hand-made events into frames."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelite.data import make_events, to_frames, to_frames_by_count
from spikelite.errors import SpikeliteError

SENSOR = (4, 3, 2)  # width 4, height 3, 2 polarities → frames [T, 2, 3, 4]


def _bins_of(frames: np.ndarray) -> list[int]:
    """Bin index of every event, for frames holding one event per (x, y, p) cell."""
    return [int(b) for b in np.nonzero(frames)[0]]


def test_time_bins_over_sample_span() -> None:
    # t0 = 100, span = 119 - 100 + 1 = 20 µs, T = 4 → bin = (t - 100) * 4 // 20
    t = [100, 104, 105, 109, 110, 119]
    ev = make_events([0, 1, 2, 3, 0, 1], [0, 0, 0, 0, 1, 1], t, [1, 1, 1, 1, 0, 0])
    frames = to_frames(ev, SENSOR, 4)
    assert frames.shape == (4, 2, 3, 4) and frames.dtype == np.float32
    assert frames[0, 1, 0, 0] == 1 and frames[0, 1, 0, 1] == 1
    assert frames[1, 1, 0, 2] == 1 and frames[1, 1, 0, 3] == 1
    assert frames[2, 0, 1, 0] == 1 and frames[3, 0, 1, 1] == 1
    assert frames.sum() == 6


def test_time_bins_fixed_duration_from_origin() -> None:
    # D = 100 µs, T = 4 → windows [0,25) [25,50) [50,75) [75,100); t = 100 and -1 dropped
    ev = make_events([0, 1, 2, 3, 0, 1], [0] * 6, [0, 24, 25, 99, 100, -1], [0] * 6)
    frames = to_frames(ev, SENSOR, 4, duration_us=100)
    assert _bins_of(frames) == [0, 0, 1, 3]
    assert frames.sum() == 4


def test_counts_and_binarize() -> None:
    ev = make_events([2, 2, 2], [1, 1, 1], [0, 1, 2], [1, 1, 1])
    assert to_frames(ev, SENSOR, 1)[0, 1, 1, 2] == 3
    assert to_frames(ev, SENSOR, 1, binarize=True)[0, 1, 1, 2] == 1


def test_single_polarity_channel_merges_polarities() -> None:
    ev = make_events([1, 1], [1, 1], [0, 5], [0, 1])
    frames = to_frames(ev, (4, 3, 1), 1)
    assert frames.shape == (1, 1, 3, 4) and frames[0, 0, 1, 1] == 2


def test_bins_by_count_are_balanced_and_time_ordered() -> None:
    # N = 10, T = 3 → event i goes to bin i*3//10: sizes 4, 3, 3
    order = np.random.default_rng(1).permutation(10)
    x = np.arange(10) % 4
    y = np.arange(10) // 4
    ev = make_events(x[order], y[order], (np.arange(10) * 7)[order], np.zeros(10, int))
    frames = to_frames_by_count(ev, SENSOR, 3)
    assert frames.sum(axis=(1, 2, 3)).tolist() == [4, 3, 3]
    # the four earliest events (x, y) = (0,0) (1,0) (2,0) (3,0) are in bin 0
    assert frames[0, 0, 0].tolist() == [1, 1, 1, 1]
    assert frames[2, 0, 2, 1] == 1  # the latest event (x=1, y=2)


def test_empty_stream_gives_zero_frames() -> None:
    ev = make_events([], [], [], [])
    assert not to_frames(ev, SENSOR, 3).any()
    assert to_frames_by_count(ev, SENSOR, 3).shape == (3, 2, 3, 4)


def test_bad_input_is_reported() -> None:
    ev = make_events([4], [0], [0], [0])
    with pytest.raises(SpikeliteError, match="outside the sensor"):
        to_frames(ev, SENSOR, 2)
    with pytest.raises(SpikeliteError, match="n_time_bins"):
        to_frames(make_events([0], [0], [0], [0]), SENSOR, 0)
    with pytest.raises(SpikeliteError, match="structured array"):
        to_frames(np.zeros((3, 4)), SENSOR, 2)
    with pytest.raises(SpikeliteError, match="polarities"):
        to_frames(make_events([0], [0], [0], [2]), SENSOR, 2)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 7), st.integers(0, 10_000))
def test_every_event_lands_in_exactly_one_bin(n: int, t_bins: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ev = make_events(
        rng.integers(0, 4, n),
        rng.integers(0, 3, n),
        rng.integers(0, 5000, n),
        rng.integers(0, 2, n),
    )
    assert to_frames(ev, SENSOR, t_bins).sum() == n
    by_count = to_frames_by_count(ev, SENSOR, t_bins).sum(axis=(1, 2, 3))
    assert by_count.sum() == n and by_count.max() - by_count.min() <= 1
