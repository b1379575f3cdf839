"""Frame cache (data.framecache): bit-identical hits, keys, damage, concurrency, off switch."""

from __future__ import annotations

import multiprocessing as mp
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from spikelite.data import load, make_events
from spikelite.data.base import DataWarning
from spikelite.data.cifar10dvs import CIFAR10_CLASSES
from spikelite.data.formats.aedat import aedat31_header, aedat31_packet, write_aedat2
from spikelite.data.formats.nmnist import write_nmnist_bin
from spikelite.data.framecache import FrameCache
from spikelite.data.lazy import LazyEventDataset
from spikelite.errors import SpikeliteError
from spikelite.train.loader import LoaderOptions, make_loader


def _events(seed: int, n: int, side: int, hot: int = 300) -> np.ndarray:
    """Random events plus ``hot`` events on one pixel in one instant (counts > 255 → the
    uint16 storage path), unsorted timestamps, both polarities, the sensor's corners."""
    rng = np.random.default_rng(seed)
    x = np.r_[rng.integers(0, side, n), np.full(hot, side - 1), 0]
    y = np.r_[rng.integers(0, side, n), np.full(hot, 0), side - 1]
    t = np.r_[rng.integers(0, 50_000, n), np.full(hot, 777), 49_999]
    p = np.r_[rng.integers(0, 2, n), np.ones(hot, int), 0]
    return make_events(x, y, t, p)


def _nmnist_root(tmp: Path) -> Path:
    for split, d in (("Train", 0), ("Train", 1), ("Test", 0), ("Test", 1)):
        for i in range(2):
            ev = _events(10 * d + i, 400, 34)
            ev["t"] += 1  # N-MNIST timestamps are < 2**23: fine
            write_nmnist_bin(tmp / "nmnist" / split / str(d) / f"{i:05d}.bin", ev)
    return tmp / "nmnist"


def _cifar_root(tmp: Path) -> Path:
    for label, cls in enumerate(CIFAR10_CLASSES):
        for i in (0, 100):
            write_aedat2(tmp / "c10" / cls / f"cifar10_{cls}_{i}.aedat",
                         _events(label * 7 + i, 500, 128))
    return tmp / "c10"


def _gesture_npy_root(tmp: Path) -> Path:
    root = tmp / "g" / "DVSGesture"
    for folder, user in (("ibmGestureTrain", "user01_led"), ("ibmGestureTest", "user24_lab")):
        for label in (0, 4):
            ev = _events(label, 600, 128)
            arr = np.stack([ev["x"], ev["y"], ev["p"], ev["t"] / 1000.0], axis=1)
            (root / folder / user).mkdir(parents=True, exist_ok=True)
            np.save(root / folder / user / f"{label}.npy", arr)
    return tmp / "g"


def _gesture_ibm_root(tmp: Path) -> Path:
    root = tmp / "ibm"
    root.mkdir()
    for name in ("user01_led", "user24_lab"):
        ev = _events(len(name), 2_000, 128)
        ev = ev[np.argsort(ev["t"], kind="stable")]
        (root / f"{name}.aedat").write_bytes(aedat31_header() + aedat31_packet(ev))
        (root / f"{name}_labels.csv").write_text(
            "class,startTime_usec,endTime_usec\n1,0,20000\n5,15000,50000\n")
    (root / "trials_to_train.txt").write_text("user01_led.aedat\n")
    (root / "trials_to_test.txt").write_text("user24_lab.aedat\n")
    return root


FORMATS = {
    "nmnist": (_nmnist_root, {}),
    "cifar10-dvs": (_cifar_root, {"size": 48, "test_per_class": 1}),
    "dvsgesture-npy": (_gesture_npy_root, {"size": 32}),
    "dvsgesture-ibm": (_gesture_ibm_root, {"size": 128}),
}
BINNINGS = ({}, {"binning": "count"}, {"binarize": True}, {"duration_us": 30_000})


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_hit_is_bit_identical_to_fresh_binning(tmp_path: Path, fmt: str) -> None:
    make_root, kw = FORMATS[fmt]
    root = make_root(tmp_path)
    name = fmt.split("-npy")[0].split("-ibm")[0]
    for i, binning in enumerate(BINNINGS):
        cache = tmp_path / f"cache{i}"
        opts = dict(root=root, time_steps=5, cache_dir=cache, **kw, **binning)
        fresh, _ = load(name, frame_cache=False, **opts)
        cached, _ = load(name, frame_cache=True, **opts)
        for j in range(len(cached)):
            cached[j]  # builds the entry
        files = sorted(cache.glob("frames/*/*.npy"))
        assert len(files) == len(cached)
        cached.bin = None  # a hit must not bin again
        for j in range(len(cached)):
            x, y = cached[j]
            x0, y0 = fresh[j]
            assert x.dtype == torch.float32 and torch.equal(x, x0) and y == y0, (fmt, binning, j)
        if not binning:  # the hot pixel's count > 255 is kept exactly (uint16 storage)
            assert max(float(cached[j][0].max()) for j in range(len(cached))) > 255
    assert not list(tmp_path.glob("cache*/frames/*/.tmp-*"))


def _dataset(tmp: Path, **kw: object) -> LazyEventDataset:
    opts = dict(time_steps=5, size=32, binning="time", duration_us=None, binarize=False,
                sensor_size=(128, 128, 2))
    opts.update(kw)
    return LazyEventDataset([tmp / "rec.aedat"], np.array([0]), 10, "x", reader=_read,
                            cache_dir=tmp / "cache", **opts)  # type: ignore[arg-type]


def _read(path: Path) -> np.ndarray:
    from spikelite.data.formats.aedat import read_aedat2

    return read_aedat2(path)


def _key_path(ds: LazyEventDataset) -> Path:
    assert ds.frame_cache is not None
    return ds.frame_cache.path(ds.frame_cache.key(ds.items[0], ds.reader))


def test_key_changes_with_every_binning_option_and_the_source(tmp_path: Path) -> None:
    write_aedat2(tmp_path / "rec.aedat", _events(0, 50, 128))
    base = _key_path(_dataset(tmp_path))
    variants = [{"time_steps": 6}, {"size": 64}, {"binning": "count"}, {"duration_us": 9},
                {"binarize": True}, {"sensor_size": (128, 128, 1)}]
    paths = {base} | {_key_path(_dataset(tmp_path, **v)) for v in variants}
    assert len(paths) == len(variants) + 1
    ds = _dataset(tmp_path)
    cache = ds.frame_cache
    assert cache is not None
    other = FrameCache(tmp_path / "cache", {**cache.binning, "dtype": "float64"})
    assert other.path(other.key(ds.items[0], _read)) != base
    assert cache.path(cache.key(ds.items[0], write_aedat2)) != base  # another reader
    win = cache.path(cache.key((ds.items[0], 0, 10), _read))
    assert win != cache.path(cache.key((ds.items[0], 0, 11), _read)) != base
    st = os.stat(tmp_path / "rec.aedat")
    os.utime(tmp_path / "rec.aedat", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000))
    assert _key_path(_dataset(tmp_path)) != base  # the file changed: a new key
    write_aedat2(tmp_path / "rec.aedat", _events(1, 51, 128))
    assert _key_path(_dataset(tmp_path)) != base


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong-shape", "empty"])
def test_damaged_entry_is_rebuilt_with_a_warning(tmp_path: Path, damage: str) -> None:
    write_aedat2(tmp_path / "rec.aedat", _events(0, 300, 128))
    ds = _dataset(tmp_path)
    want = ds.bin(0)
    ds[0]
    path = _key_path(ds)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) - 100])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * len(raw))
    elif damage == "wrong-shape":
        np.save(path, np.zeros((2, 2), np.uint8))
    else:
        path.write_bytes(b"")
    with pytest.warns(DataWarning, match="damaged frame cache entry"):
        x, _ = ds[0]
    assert np.array_equal(x.numpy(), want)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(ds[0][0].numpy(), want)  # rebuilt: a clean hit now
    assert path.read_bytes() != b"" and np.load(path).shape == want.shape


def _hammer(args: tuple[str, str, int]) -> int:
    """Write (role w) or read (role r) one entry many times; count bad reads."""
    path, role, rounds = args
    frames = np.arange(5 * 2 * 32 * 32, dtype=np.float32).reshape(5, 2, 32, 32) % 300
    cache = FrameCache(Path(path).parent, {})
    target = Path(path)
    bad = 0
    for _ in range(rounds):
        if role == "w":
            cache._write(target, frames)
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                got = cache._read(target, frames.shape) if target.exists() else frames
            bad += int(got is None or not np.array_equal(got, frames) or bool(caught))
    return bad


def test_concurrent_builders_never_expose_a_partial_entry(tmp_path: Path) -> None:
    path = tmp_path / "frames" / "ab" / "entry.npy"
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(3) as pool:
        bad = pool.map(_hammer, [(str(path), "w", 150), (str(path), "w", 150),
                                 (str(path), "r", 400)])
    assert bad == [0, 0, 0]
    assert [p.name for p in path.parent.iterdir()] == ["entry.npy"]  # no temp files left


def test_workers_build_lazily_and_give_identical_batches(tmp_path: Path) -> None:
    root = _cifar_root(tmp_path)
    kw = dict(root=root, time_steps=4, size=16, test_per_class=1, cache_dir=tmp_path / "c")
    ref, _ = load("cifar10-dvs", frame_cache=False, **kw)
    ds, _ = load("cifar10-dvs", **kw)  # on by default
    batches = {}
    for workers in (2, 0):  # 2 workers build the entries, 0 reads them back
        loader = make_loader(ds, 3, shuffle=True, seed=1,
                             options=LoaderOptions(num_workers=workers))
        loader.set_epoch(0)
        batches[workers] = list(loader)
    plain = make_loader(ref, 3, shuffle=True, seed=1)
    plain.set_epoch(0)
    for (x2, y2), (x0, y0), (xr, yr) in zip(batches[2], batches[0], plain, strict=True):
        assert torch.equal(x2, x0) and torch.equal(x0, xr)
        assert torch.equal(y2, yr) and torch.equal(y0, yr)
    assert len(list((tmp_path / "c").glob("frames/*/*.npy"))) == len(ds)


def test_cache_off_and_unwritable(tmp_path: Path) -> None:
    root = _cifar_root(tmp_path)
    kw = dict(root=root, time_steps=3, test_per_class=1)
    off, _ = load("cifar10-dvs", frame_cache=False, cache_dir=tmp_path / "c", **kw)
    assert off.frame_cache is None
    off[0]
    assert not (tmp_path / "c" / "frames").exists()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    on, _ = load("cifar10-dvs", cache_dir=blocked, **kw)
    with pytest.warns(DataWarning, match="cannot write the frame cache"):
        x, _ = on[0]
    assert torch.equal(x, off[0][0])
    on[1]  # no second warning in this process (pytest would flag it under -W error)
    with pytest.raises(SpikeliteError, match="frame_cache must be true"):
        load("cifar10-dvs", frame_cache="yes", **kw)
