"""Properties of the saccade DVS simulator (data.md §3.2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from spikelite.data import SaccadeConfig, simulate_saccades
from spikelite.data.simulator import digits_to_28, resize_bilinear, saccade_offsets
from spikelite.errors import SpikeliteError


@pytest.fixture(scope="module")
def digits28() -> np.ndarray:
    return digits_to_28(load_digits().images[:24])


def test_resize_matches_torch_bilinear() -> None:
    img = np.random.default_rng(0).random((3, 8, 8))
    ours = resize_bilinear(img, (28, 28))
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(img)[:, None], size=(28, 28), mode="bilinear", align_corners=False
    )[:, 0].numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_path_is_the_closed_nmnist_triangle() -> None:
    cfg = SaccadeConfig()
    times, dx, dy = saccade_offsets(cfg)
    assert len(times) == cfg.steps + 1 and times[-1] == 315_000
    k = cfg.steps // 3
    np.testing.assert_allclose([dx[k] - dx[0], dy[k] - dy[0]], [3.5, 7.0])
    np.testing.assert_allclose([dx[2 * k] - dx[k], dy[2 * k] - dy[k]], [3.5, -7.0])
    assert (dx[-1], dy[-1]) == (dx[0], dy[0])
    assert max(abs(dx).max(), abs(dy).max()) == 3.5  # centred on the sensor


def test_blank_image_gives_no_events() -> None:
    events = simulate_saccades(np.zeros((2, 28, 28)))
    assert [len(e) for e in events] == [0, 0]
    assert len(simulate_saccades(np.full((28, 28), 0.6))[0]) > 0  # the square's edges move


def test_event_count_grows_as_threshold_falls(digits28: np.ndarray) -> None:
    counts = [
        sum(len(e) for e in simulate_saccades(digits28[:8], config=SaccadeConfig(threshold=c)))
        for c in (1.0, 0.7, 0.4)
    ]
    assert counts[0] < counts[1] < counts[2]


def test_on_equals_off_on_the_closed_path(digits28: np.ndarray) -> None:
    for ev in simulate_saccades(digits28[:8]):
        on = np.zeros((34, 34), int)
        off = np.zeros((34, 34), int)
        np.add.at(on, (ev["y"][ev["p"] == 1], ev["x"][ev["p"] == 1]), 1)
        np.add.at(off, (ev["y"][ev["p"] == 0], ev["x"][ev["p"] == 0]), 1)
        np.testing.assert_array_equal(on, off)  # every pixel returns to its start level


def test_timestamps_coordinates_and_dtype(digits28: np.ndarray) -> None:
    for ev in simulate_saccades(digits28):
        assert 1500 < len(ev) < 8000  # ≈3.9k at C = 0.7
        t = ev["t"]
        assert (np.diff(t) >= 0).all() and t.min() >= 0 and t.max() <= 315_000
        assert ev["x"].min() >= 0 and ev["x"].max() <= 33
        assert ev["y"].min() >= 0 and ev["y"].max() <= 33
        assert set(np.unique(ev["p"]).tolist()) <= {0, 1}


def test_deterministic_for_a_seed_and_independent_of_batching(digits28: np.ndarray) -> None:
    a = simulate_saccades(digits28[:6], seed=5)
    b = simulate_saccades(digits28[:6], seed=5, batch_size=4)
    c = simulate_saccades(digits28[3:6], seed=5)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert all(np.array_equal(u, v) for u, v in zip(a[3:], c, strict=True))
    other = simulate_saccades(digits28[:6], seed=6)
    assert any(not np.array_equal(u, v) for u, v in zip(a, other, strict=True))


def test_timestamps_are_interpolated_not_frame_times(digits28: np.ndarray) -> None:
    ev = simulate_saccades(digits28[:1])[0]
    # render steps are 3 ms apart; crossings exactly at a render (e.g. back to the blank
    # background level) keep the frame time, most others fall in between
    assert (ev["t"] % 3000 != 0).mean() > 0.7


def test_bad_input() -> None:
    with pytest.raises(SpikeliteError, match=r"\[0, 1\]"):
        simulate_saccades(np.full((1, 28, 28), 2.0))
    with pytest.raises(SpikeliteError, match="do not fit"):
        simulate_saccades(np.zeros((1, 40, 40)))
    with pytest.raises(SpikeliteError, match="threshold"):
        SaccadeConfig(threshold=0.0)
