"""DataLoader construction for training and evaluation: workers, pinned memory, epochs.

:func:`make_loader` builds the one ``DataLoader`` a training run iterates every epoch
(:class:`EpochLoader`: call :meth:`EpochLoader.set_epoch` before each epoch). Its batches
are the same for any ``num_workers``:

* the shuffle order of epoch ``e`` is ``torch.randperm(n)`` from a generator seeded with
  ``seed · 1,000,003 + e`` after one int64 draw — exactly the order of the former
  ``DataLoader(shuffle=True, generator=…)`` (that loader spent the first draw on its worker
  base seed), so ``num_workers=0`` reproduces earlier runs bit for bit;
* every index travels with its epoch, and the dataset's ``set_epoch`` is called *in the
  process that reads the item* (the main process or a worker, also a persistent one), so
  per-epoch draws (rate coding, augmentation: spikelite datasets seed them per
  ``(seed, epoch, index)``) do not depend on which worker reads the item;
* workers are seeded from a generator of their own (torch seeds ``random``, ``numpy`` and
  ``torch`` in worker ``k`` from that base seed + ``k``), so nothing is drawn from the
  main process's global RNG (dropout masks there stay the same for any worker count);
  :func:`worker_init` caps each worker at one torch thread.

A dataset that draws from the *global* RNG in ``__getitem__`` is reproducible for a fixed
worker count only; per-item generators (as spikelite's datasets use) make it independent
of the count. ``sampler=`` takes another index sampler (e.g. a ``DistributedSampler``;
its ``set_epoch`` is called too) in place of the seeded shuffle.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from spikelite.errors import SpikeliteError

#: The :class:`~spikelite.train.config.TrainConfig` fields that only set how data is
#: loaded: results are the same for any value, so they are not part of run keys.
LOADER_FIELDS = ("num_workers", "pin_memory", "persistent_workers", "prefetch_factor")

#: Multiplier of the seed in the per-epoch shuffle seed (``seed · M + epoch``).
EPOCH_SEED_STRIDE = 1_000_003


@dataclass(frozen=True)
class LoaderOptions:
    """How batches are produced; ``None`` fields take the automatic choice.

    * ``num_workers``: worker processes reading items (0: the main process, as before).
    * ``pin_memory``: page-locked batches for faster host→GPU copies (auto: on when the
      device is CUDA).
    * ``persistent_workers``: keep the workers alive across epochs (auto: on when there
      are workers).
    * ``prefetch_factor``: batches each worker loads ahead (auto: torch's 2).
    """

    num_workers: int = 0
    pin_memory: bool | None = None
    persistent_workers: bool | None = None
    prefetch_factor: int | None = None

    @classmethod
    def from_config(cls, cfg: Any) -> LoaderOptions:
        """The options of a :class:`~spikelite.train.config.TrainConfig` (or any object
        with those attributes; missing ones take their defaults)."""
        return cls(**{k: getattr(cfg, k) for k in LOADER_FIELDS if hasattr(cfg, k)})

    def resolved(self, device: torch.device | str | None) -> dict[str, Any]:
        """``DataLoader`` keyword arguments for training on ``device``."""
        n = self.num_workers
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise SpikeliteError(f"num_workers must be an integer >= 0, got {n!r}")
        if self.prefetch_factor is not None and (
            isinstance(self.prefetch_factor, bool) or self.prefetch_factor < 1
        ):
            raise SpikeliteError(
                f"prefetch_factor must be an integer >= 1, got {self.prefetch_factor!r}"
            )
        if n == 0 and (self.persistent_workers or self.prefetch_factor is not None):
            raise SpikeliteError(
                "persistent_workers and prefetch_factor need worker processes; set "
                "num_workers >= 1 or leave them unset"
            )
        dev = torch.device(device) if device is not None else torch.device("cpu")
        pin = self.pin_memory if self.pin_memory is not None else dev.type == "cuda"
        kw: dict[str, Any] = {"num_workers": n, "pin_memory": bool(pin)}
        if n > 0:
            kw["persistent_workers"] = (
                True if self.persistent_workers is None else bool(self.persistent_workers)
            )
            kw["prefetch_factor"] = self.prefetch_factor or 2
            kw["worker_init_fn"] = worker_init
        return kw


def worker_init(worker_id: int) -> None:
    """Worker start-up: one torch thread per worker (workers are the parallelism; torch
    has already seeded ``random``/``numpy``/``torch`` from the loader's generator)."""
    torch.set_num_threads(1)


class EpochShuffle(Sampler[int]):
    """Indices ``0 … n−1`` in the order of epoch :attr:`epoch` (see module docstring)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = int(n), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * EPOCH_SEED_STRIDE + self.epoch)
        torch.empty((), dtype=torch.int64).random_(generator=gen)  # the old base-seed draw
        yield from torch.randperm(self.n, generator=gen).tolist()

    def __len__(self) -> int:
        return self.n


class _Stamped(Sampler[tuple[int | None, Any]]):
    """Yields ``(epoch, index)`` for each index of ``sampler``."""

    def __init__(self, sampler: Any) -> None:
        self.sampler = sampler
        self.epoch: int | None = None  # None: never set, the dataset's epoch is left alone

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        set_epoch = getattr(self.sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int | None, Any]]:
        epoch = self.epoch
        return ((epoch, i) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class _EpochItems(Dataset):
    """Reads ``(epoch, index)`` keys: selects the epoch in this process, then the item."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._epoch: int | None = None

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int | None, Any]) -> Any:
        epoch, index = key
        if epoch is not None and epoch != self._epoch:
            set_epoch = getattr(self.dataset, "set_epoch", None)
            if callable(set_epoch):
                set_epoch(epoch)
            self._epoch = epoch
        return self.dataset[index]


class EpochLoader:
    """A ``DataLoader`` reused every epoch: :meth:`set_epoch`, then iterate."""

    def __init__(self, loader: DataLoader, stamp: _Stamped) -> None:
        self.loader, self._stamp = loader, stamp

    def set_epoch(self, epoch: int) -> None:
        """Select epoch ``epoch``'s order (and the dataset's per-epoch draws)."""
        self._stamp.set_epoch(epoch)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.loader)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    options: LoaderOptions | None = None,
    device: torch.device | str | None = None,
    sampler: Sampler | None = None,
    collate_fn: Any = None,
) -> EpochLoader:
    """The loader of ``dataset``: shuffled per ``(seed, epoch)`` (:class:`EpochShuffle`)
    or in order, or in the order of ``sampler`` (e.g. a ``DistributedSampler``)."""
    if batch_size < 1:
        raise SpikeliteError(f"batch_size must be >= 1, got {batch_size}")
    kw = (options or LoaderOptions()).resolved(device)
    if sampler is None:
        n = len(dataset) if isinstance(dataset, Sized) else 0
        sampler = EpochShuffle(n, seed) if shuffle else range(n)  # type: ignore[assignment]
    stamp = _Stamped(sampler)
    loader = DataLoader(
        _EpochItems(dataset),
        batch_size=batch_size,
        sampler=stamp,
        generator=torch.Generator().manual_seed(int(seed)),  # worker seeds, not global RNG
        collate_fn=collate_fn,
        **kw,
    )
    return EpochLoader(loader, stamp)
