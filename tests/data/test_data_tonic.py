"""Optional cross-check: tonic reads our N-MNIST files identically (skipped without tonic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikelite.data import list_nmnist_tree, make_events, read_nmnist_bin, write_nmnist_tree


def test_tonic_reads_the_same_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tonic = pytest.importorskip("tonic")
    rng = np.random.default_rng(0)
    samples = [
        make_events(
            rng.integers(0, 34, 40),
            rng.integers(0, 34, 40),
            np.sort(rng.integers(0, 2**23, 40)),
            rng.integers(0, 2, 40),
        )
        for _ in range(3)
    ]
    write_nmnist_tree(tmp_path / "NMNIST", "train", samples, [4, 0, 7])
    monkeypatch.setattr(tonic.datasets.NMNIST, "_check_exists", lambda self: True)
    ds = tonic.datasets.NMNIST(save_to=str(tmp_path), train=True)
    theirs = {Path(p).name: (int(label)) for p, label in zip(ds.data, ds.targets, strict=True)}
    for path, label in list_nmnist_tree(tmp_path, "train"):
        assert theirs[path.name] == label
    for i in range(len(ds)):
        events, label = ds[i]
        ours = read_nmnist_bin(ds.data[i])
        for name in "xytp":
            np.testing.assert_array_equal(events[name].astype(np.int64), ours[name])
