"""Samples/s of the real event loaders with and without the frame cache (data.framecache).

Writes fixture recordings in the real on-disk formats to a temporary folder, then times
one epoch of shuffled item access and of a DataLoader (``train.loader.make_loader``,
batch 4, persistent workers, timed after one warm-up epoch) with 0 and 2 workers, each
with the frame cache off and on (warm: built once before timing):

* **DVS128 Gesture**, IBM release layout: ``--trials`` AEDAT 3.1 trials of ``--events``
  events (default 3 M, DVS128, uniform x/y, ON/OFF) over 66 s, each cut by its labels CSV
  into 11 gestures of 6 s; T = 20 time bins at 128 × 128 (``size=128``).
* **CIFAR10-DVS**, AEDAT 2.0: ``--files`` recordings per class (10 classes) of 100 k–300 k
  events over 1.3 s; T = 10 at 48 × 48 (the loader's default ``size``).

Every configuration runs ``--reps`` times, round-robin (interleaved, so machine load
drifts hit all alike); the table gives the median samples/s and the median epoch time.
The cold-cache epoch (binning + writing every entry) is timed once per dataset.

    .venv/bin/python benchmarks/bench_data.py              # full: 5 reps
    .venv/bin/python benchmarks/bench_data.py --quick      # smoke test: small, 1 rep
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from spikelite.data import load, make_events
from spikelite.data.cifar10dvs import CIFAR10_CLASSES
from spikelite.data.formats.aedat import aedat31_header, aedat31_packet, write_aedat2
from spikelite.train.loader import LoaderOptions, make_loader

GESTURES_PER_TRIAL = 11
GESTURE_US = 6_000_000


def _events(rng: np.random.Generator, n: int, span_us: int) -> np.ndarray:
    t = np.sort(rng.integers(0, span_us, n))
    return make_events(rng.integers(0, 128, n), rng.integers(0, 128, n), t,
                       rng.integers(0, 2, n))


def write_gesture(root: Path, trials: int, events: int, seed: int = 0) -> Path:
    """IBM layout: userNN_led.aedat (AEDAT 3.1) + _labels.csv + trials_to_*.txt."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for k in range(trials):
        name = f"user{k + 1:02d}_led"
        ev = _events(rng, events, GESTURES_PER_TRIAL * GESTURE_US)
        chunks = [aedat31_packet(ev[i : i + 1_000_000]) for i in range(0, len(ev), 1_000_000)]
        (root / f"{name}.aedat").write_bytes(aedat31_header() + b"".join(chunks))
        rows = [f"{c + 1},{c * GESTURE_US},{(c + 1) * GESTURE_US}"
                for c in range(GESTURES_PER_TRIAL)]
        (root / f"{name}_labels.csv").write_text(
            "class,startTime_usec,endTime_usec\n" + "\n".join(rows) + "\n")
        names.append(f"{name}.aedat")
    (root / "trials_to_train.txt").write_text("\n".join(names) + "\n")
    (root / "trials_to_test.txt").write_text(names[0] + "\n")
    return root


def write_cifar10dvs(root: Path, files: int, seed: int = 1) -> Path:
    """<class>/cifar10_<class>_<i>.aedat (AEDAT 2.0), numbered from 100 (train split)."""
    rng = np.random.default_rng(seed)
    for cls in CIFAR10_CLASSES:
        for i in range(files):
            n = int(rng.integers(100_000, 300_001))
            write_aedat2(root / cls / f"cifar10_{cls}_{100 + i}.aedat",
                         _events(rng, n, 1_300_000))
        write_aedat2(root / cls / f"cifar10_{cls}_0.aedat", _events(rng, 1_000, 1_000))
    return root


def epoch_items(ds: torch.utils.data.Dataset, seed: int) -> None:
    for i in torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed)).tolist():
        ds[i]


def loader_epochs(ds: torch.utils.data.Dataset, workers: int) -> Callable[[int], None]:
    """One persistent loader (batch 4); each call runs epoch ``e`` of it. One untimed
    epoch first, so worker start-up (once per training run) is not in the timings."""
    loader = make_loader(ds, 4, shuffle=True, seed=0,
                         options=LoaderOptions(num_workers=workers))

    def run(epoch: int) -> None:
        loader.set_epoch(epoch)
        for _ in loader:
            pass

    run(10_000)
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--events", type=int, default=3_000_000)
    ap.add_argument("--files", type=int, default=3, help="CIFAR10-DVS files per class")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.trials, args.events, args.files, args.reps = 1, 300_000, 1, 1
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="spikelite-bench-data-"))
    try:
        t0 = time.perf_counter()
        sets = {
            "dvsgesture": (write_gesture(tmp / "gesture", args.trials, args.events),
                           {"time_steps": 20, "size": 128}),
            "cifar10-dvs": (write_cifar10dvs(tmp / "c10", args.files),
                            {"time_steps": 10, "test_per_class": 1}),
        }
        print(f"fixtures written in {time.perf_counter() - t0:.1f} s under {tmp}")
        runs: dict[tuple[str, str, str], Callable[[int], None]] = {}
        sizes = {}
        for name, (root, kw) in sets.items():
            plain, _ = load(name, root=root, frame_cache=False, **kw)
            cached, _ = load(name, root=root, frame_cache=True, cache_dir=tmp / "cache", **kw)
            sizes[name] = len(plain)
            t0 = time.perf_counter()
            epoch_items(cached, 0)  # cold: bins and writes every entry
            cold = time.perf_counter() - t0
            print(f"{name}: {len(plain)} items; cold-cache epoch {cold:.2f} s "
                  f"({len(plain) / cold:.1f} samples/s)")
            for label, ds in (("off", plain), ("on", cached)):
                runs[(name, "items", label)] = lambda s, d=ds: epoch_items(d, s)
                for w in (0, 2):
                    runs[(name, f"loader w={w}", label)] = loader_epochs(ds, w)
        times: dict[tuple[str, str, str], list[float]] = {k: [] for k in runs}
        for rep in range(args.reps):
            keys = list(runs)
            keys = keys[rep % len(keys):] + keys[: rep % len(keys)]  # rotate the start
            for key in keys:
                t0 = time.perf_counter()
                runs[key](rep)
                times[key].append(time.perf_counter() - t0)
        print(f"\nmedian of {args.reps} interleaved runs, one epoch of shuffled access\n")
        print("| data | access | cache off: samples/s | cache on: samples/s | speed-up |")
        print("|---|---|---|---|---|")
        for name in sets:
            for access in ("items", "loader w=0", "loader w=2"):
                off = statistics.median(times[(name, access, "off")])
                on = statistics.median(times[(name, access, "on")])
                n = sizes[name]
                print(f"| {name} ({n} items) | {access} | {n / off:.1f} | {n / on:.1f} "
                      f"| ×{off / on:.1f} |")
        disk = sum(f.stat().st_size for f in (tmp / "cache").rglob("*.npy"))
        print(f"\nframe cache on disk: {disk / 1e6:.1f} MB for {sum(sizes.values())} items")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
