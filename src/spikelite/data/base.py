"""torch ``Dataset`` classes returned by :func:`spikelite.data.load`.

Every item is ``(x, y)``: ``x`` a float32 tensor, time-major ``[T, *input_shape]``
(``[T, C, H, W]`` for images and event frames), ``y`` an ``int`` label. Every dataset
exposes ``classes`` (number of classes), ``input_shape`` (per-time-step shape),
``time_steps``, ``labels`` (int64 numpy array) and ``name``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from spikelite.data.encoding import ENCODERS, check_input
from spikelite.data.events import to_frames, to_frames_by_count
from spikelite.errors import SpikeliteError

BINNINGS = ("time", "count")


class DataWarning(UserWarning):
    """Real data that spikelite can use but had to change (e.g. empty files skipped)."""


def check_binning(
    binning: object = "time", duration_us: object = None, binarize: object = False
) -> dict[str, object]:
    """Validate the binning options of the event sets → ``{binning, duration_us, binarize}``.

    ``binning`` is ``"time"`` or ``"count"``, ``duration_us`` ``None`` or a positive whole
    number of µs, ``binarize`` ``True``/``False``; anything else raises
    :class:`SpikeliteError` naming the option, before any file is read.
    """
    if binning not in BINNINGS:
        raise SpikeliteError(f"unknown binning {binning!r}; valid: {', '.join(BINNINGS)}")
    if duration_us is not None and (
        isinstance(duration_us, bool)
        or not isinstance(duration_us, (int, np.integer))
        or duration_us < 1
    ):
        raise SpikeliteError(
            f"duration_us must be a positive whole number of µs (the length of the fixed "
            f"binning window) or None (windows over each sample's own span), got {duration_us!r}"
        )
    if not isinstance(binarize, (bool, np.bool_)):
        raise SpikeliteError(f"binarize must be true or false, got {binarize!r}")
    return {
        "binning": binning,
        "duration_us": None if duration_us is None else int(duration_us),
        "binarize": bool(binarize),
    }


def drop_empty_files(
    files: Sequence[Path],
    labels: np.ndarray,
    name: str,
    fix: str,
    sizes: Sequence[int] | None = None,
) -> tuple[list[Path], np.ndarray]:
    """Drop 0-byte files (an empty recording: all-zero frames) with one :class:`DataWarning`.

    The warning counts the skipped files of this split and names the first; ``fix`` says
    how to restore them. Returns the kept files and their labels, order unchanged. A split
    whose files are all empty raises :class:`SpikeliteError`. ``sizes`` (bytes per file)
    saves the ``stat`` calls when the caller has them.
    """
    if sizes is None:
        sizes = [Path(f).stat().st_size for f in files]
    empty = [i for i, size in enumerate(sizes) if size == 0]
    if not empty:
        return list(files), np.asarray(labels)
    if len(empty) == len(files):
        raise SpikeliteError(
            f"{name}: all {len(files)} recordings are empty files (0 bytes, e.g. "
            f"{files[0]}); nothing to train or test on. {fix}"
        )
    warnings.warn(
        f"{name}: skipped {len(empty)} of {len(files)} recordings that are empty files "
        f"(0 bytes, e.g. {files[empty[0]]}); they would train as all-zero samples. {fix}",
        DataWarning,
        stacklevel=3,
    )
    drop = set(empty)
    keep = [i for i in range(len(files)) if i not in drop]
    return [files[i] for i in keep], np.asarray(labels)[keep]


def bin_events(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    time_steps: int,
    *,
    binning: str = "time",
    duration_us: int | None = None,
    binarize: bool = False,
) -> np.ndarray:
    """Frames ``[T, P, H, W]`` by :func:`to_frames` (``binning="time"``) or by count."""
    if binning == "time":
        return to_frames(
            events, sensor_size, time_steps, duration_us=duration_us, binarize=binarize
        )
    if binning == "count":
        return to_frames_by_count(events, sensor_size, time_steps, binarize=binarize)
    raise SpikeliteError(f"unknown binning {binning!r}; valid: {', '.join(BINNINGS)}")


def time_major_collate(
    batch: Sequence[tuple[torch.Tensor, int]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """``DataLoader`` collate: items ``(x [T, ...], y)`` → ``(x [T, B, ...], y [B] int64)``.

    The default collate would give batch-major ``[B, T, ...]``.
    """
    xs = torch.stack([x for x, _ in batch], dim=1)
    return xs, torch.tensor([y for _, y in batch], dtype=torch.int64)


class SpikeDataset(Dataset[tuple[torch.Tensor, int]]):
    """Shared metadata of the spikelite datasets."""

    name: str
    classes: int
    input_shape: tuple[int, ...]
    time_steps: int
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def _index(self, index: int) -> int:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {self.name} of length {n}")
        return index % n

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, n={len(self)}, classes={self.classes}, "
            f"time_steps={self.time_steps}, input_shape={self.input_shape})"
        )


class FrameDataset(SpikeDataset):
    """Pre-binned frames held in memory as one tensor ``[N, T, *input_shape]``.

    The tensor may be uint8 (event counts ≤ 255) to save memory; items are float32.
    """

    def __init__(self, frames: torch.Tensor, labels: np.ndarray, classes: int, name: str) -> None:
        if frames.dim() < 3 or frames.shape[0] != len(labels):
            raise SpikeliteError(
                f"frames must be [N, T, ...] with N = {len(labels)}, got {tuple(frames.shape)}"
            )
        self.frames = frames
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = int(classes)
        self.name = name
        self.time_steps = int(frames.shape[1])
        self.input_shape = tuple(int(s) for s in frames.shape[2:])

    @classmethod
    def from_events(
        cls,
        events: Sequence[np.ndarray],
        labels: np.ndarray,
        *,
        classes: int,
        name: str,
        sensor_size: tuple[int, int, int],
        time_steps: int,
        **binning: object,
    ) -> FrameDataset:
        """Bin every stream with :func:`bin_events` and stack (uint8 if counts fit)."""
        w, h, npol = sensor_size
        frames = np.zeros((len(events), time_steps, npol, h, w), np.float32)
        for i, ev in enumerate(events):
            frames[i] = bin_events(ev, sensor_size, time_steps, **binning)  # type: ignore[arg-type]
        tensor = torch.from_numpy(frames)
        if frames.size == 0 or frames.max() <= 255:
            tensor = tensor.to(torch.uint8)
        return cls(tensor, labels, classes, name)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i = self._index(index)
        return self.frames[i].to(torch.float32), int(self.labels[i])


class EncodedDataset(SpikeDataset):
    """Static inputs ``[N, *input_shape]`` in [0, 1], spike-encoded on every access.

    Stochastic encoders (``rate``) draw from a fresh generator seeded with
    ``SeedSequence([seed, epoch, index])``: an item is identical every time it is read
    within an epoch and across runs with the same seed. It stays the same across epochs
    unless the training loop calls :meth:`set_epoch` (then each epoch draws new spikes,
    like a DistributedSampler's ``set_epoch``).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: np.ndarray,
        classes: int,
        name: str,
        *,
        encoding: str,
        time_steps: int,
        seed: int,
    ) -> None:
        self.encoder = ENCODERS.get(encoding)
        self.images = check_input(
            images, unit_range=encoding in ("rate", "latency"), what=f"{name} image"
        )
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = int(classes)
        self.name = name
        self.encoding = encoding
        self.time_steps = int(time_steps)
        self.input_shape = tuple(int(s) for s in images.shape[1:])
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the random draws of epoch ``epoch`` (affects ``rate`` only)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i = self._index(index)
        state = np.random.SeedSequence([self.seed, self.epoch, i]).generate_state(2, np.uint32)
        gen = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        x = self.encoder(self.images[i], self.time_steps, generator=gen)
        return x, int(self.labels[i])
