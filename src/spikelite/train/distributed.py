"""Data-parallel training of one model over several processes (``torch.distributed``).

Launched by ``torchrun`` (``torchrun --nproc-per-node 4 -m spikelite train …``) or by
``spikelite train --nproc N`` (:func:`launch`), every process trains a replica of the model
wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` (gradients averaged over
the processes after every backward; Li et al., "PyTorch Distributed", VLDB 2020). Backend:
NCCL on CUDA, Gloo on CPU.

``batch_size`` is the **global** batch: the same global batches as one process (the same
shuffle of ``(seed, epoch)``) are cut into one contiguous share per rank, and each rank's
loss is weighted by its share (``n_r·W/n``), so the averaged gradient is the gradient of
the global batch mean — one process's update, up to float rounding. Only rank 0 writes
files; evaluation is sharded and its counts all-reduced. BatchNorm normalises with each
rank's own batch statistics (unlike one process) unless ``sync_batchnorm`` converts it to
:class:`~torch.nn.SyncBatchNorm` (CUDA only).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate

from spikelite.errors import SpikeliteError


@dataclass(frozen=True)
class Rank:
    """This process's place in the group: ``rank`` of ``world`` (``local`` on its node)."""

    rank: int
    world: int
    local: int

    @property
    def main(self) -> bool:
        return self.rank == 0


def current() -> Rank | None:
    """The process group this process belongs to (``None``: one process)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    return Rank(dist.get_rank(), dist.get_world_size(),
                int(os.environ.get("LOCAL_RANK", dist.get_rank())))


def is_main() -> bool:
    """Whether this process writes files: rank 0, or the only process."""
    r = current()
    return r is None or r.main


def launched() -> bool:
    """Whether ``torchrun`` (or :func:`launch`) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def device_for(device: str | torch.device | None, local: int) -> str | torch.device | None:
    """The device of local rank ``local``: ``auto``/``cuda`` → ``cuda:local`` (one GPU per
    process) when CUDA is available; anything else unchanged."""
    if not torch.cuda.is_available():
        return device
    if device is None or str(device) in ("auto", "cuda"):
        return f"cuda:{local}"
    return device


def setup(device: str | torch.device | None = "auto") -> Rank | None:
    """Join the process group described by torchrun's environment (``RANK``,
    ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``): NCCL when this rank
    trains on CUDA, else Gloo. Returns ``None`` when not launched as several processes (or
    :func:`current` when already joined)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return current()
    if not launched():
        return None
    if not dist.is_available():
        raise SpikeliteError("this PyTorch build has no torch.distributed; train in one "
                             "process (drop torchrun / --nproc)")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = device_for(device, local)
    cuda = torch.device(dev).type == "cuda" if dev not in (None, "auto") else False
    backend = "nccl" if cuda else "gloo"
    if backend == "gloo" and not dist.is_gloo_available():
        raise SpikeliteError("multi-process training on the CPU needs the Gloo backend, "
                             "which this PyTorch build lacks; train in one process")
    if cuda:
        torch.cuda.set_device(torch.device(dev))
    dist.init_process_group(backend=backend)
    return current()


def teardown() -> None:
    """Leave the process group (if this process joined one)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, dev: torch.device, *, sync_batchnorm: bool = False) -> nn.Module:
    """``model`` in :class:`DistributedDataParallel` (its weights broadcast from rank 0);
    with ``sync_batchnorm`` its BatchNorm layers become :class:`nn.SyncBatchNorm`."""
    from torch.nn.parallel import DistributedDataParallel

    if sync_batchnorm:
        if dev.type != "cuda":
            raise SpikeliteError("sync_batchnorm needs CUDA (PyTorch's SyncBatchNorm runs "
                                 "on GPUs only); drop --sync-batchnorm on the CPU")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [dev.index] if dev.type == "cuda" and dev.index is not None else None
    return DistributedDataParallel(model, device_ids=ids)


def share(n: int, rank: Rank) -> tuple[int, int]:
    """This rank's contiguous share ``[start, stop)`` of a global batch of ``n`` samples
    (the first ``n mod W`` ranks get one more, like :func:`torch.tensor_split`)."""
    base, extra = divmod(n, rank.world)
    start = rank.rank * base + min(rank.rank, extra)
    return start, start + base + (1 if rank.rank < extra else 0)


class _Indices(Dataset):
    """The indices ``0 … n−1`` as a dataset (shuffled and batched like the real data)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def rank_batches(data: Dataset, batch_size: int, generator: torch.Generator,
                 rank: Rank) -> Iterator[tuple[Any, tuple[int, int, float]]]:
    """``(batch, (n_r, n, weight))`` per global batch of ``n`` samples: this rank's share
    (``n_r`` samples) of the global batch that ``DataLoader(data, batch_size,
    shuffle=True, generator=generator)`` would give one process (the same generator draws,
    the same order), collated like it, and its loss weight ``n_r·W/n``. A rank whose share
    is empty gets the batch's first sample with weight 0 (every rank must take part in
    each gradient all-reduce)."""
    order = DataLoader(_Indices(len(data)), batch_size=batch_size,  # type: ignore[arg-type]
                       shuffle=True, generator=generator)
    for idx in order:
        ids: Sequence[int] = idx.tolist()
        start, stop = share(len(ids), rank)
        mine = ids[start:stop]
        batch = default_collate([data[i] for i in (mine or ids[:1])])
        yield batch, (len(mine), len(ids), len(mine) * rank.world / len(ids))


def steps(n: int, batch_size: int) -> int:
    """Global batches per epoch."""
    return max(1, -(-n // batch_size))


def all_sum(values: Sequence[float], dev: torch.device) -> list[float]:
    """The sums over all ranks of ``values`` (float64; one all-reduce)."""
    import torch.distributed as dist

    t = torch.tensor(list(values), dtype=torch.float64, device=dev)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (BatchNorm running statistics, …) on every rank, so that every
    rank evaluates — and rank 0 saves — the same model."""
    import torch.distributed as dist

    for b in model.buffers():
        dist.broadcast(b, src=0)


def barrier() -> None:
    """Wait until every rank gets here (nothing in one process)."""
    import torch.distributed as dist

    if current() is not None:
        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Run the block on rank 0 first, then on the other ranks (e.g. loading a dataset that
    rank 0 downloads and caches); a plain block in one process."""
    import torch.distributed as dist

    r = current()
    if r is not None and not r.main:
        dist.barrier()
    yield
    if r is not None and r.main:
        dist.barrier()


def free_port() -> int:
    """A TCP port free on localhost right now (for ``MASTER_PORT``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child(local: int, nproc: int, port: int, fn: Callable[..., Any], args: tuple) -> None:
    from spikelite.core import memory

    memory.retain_unless_disabled()  # SPIKELITE_RETAIN_MEMORY=0: off
    os.environ.update({"RANK": str(local), "LOCAL_RANK": str(local), "WORLD_SIZE": str(nproc),
                       "LOCAL_WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})
    fn(*args)


def launch(fn: Callable[..., Any], nproc: int, *args: Any) -> None:
    """Run ``fn(*args)`` in ``nproc`` processes on this machine as one group (what
    ``torchrun --nproc-per-node nproc`` does); ``fn`` calls :func:`setup`. A failing rank
    stops the others; its error is raised here."""
    import torch.multiprocessing as tmp

    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise SpikeliteError(f"nproc must be an integer >= 1, got {nproc!r}")
    if launched():
        raise SpikeliteError("this process was already launched as one of several (torchrun);"
                             " drop --nproc")
    try:
        tmp.start_processes(_child, args=(nproc, free_port(), fn, args), nprocs=nproc,
                            join=True, start_method="spawn")
    except (tmp.ProcessRaisedException, tmp.ProcessExitedException) as exc:
        raise rank_error(exc) from None


def rank_error(exc: Exception) -> SpikeliteError:
    """One line for a rank that failed: its exception's message (the last line of the
    traceback it sent), or how it exited."""
    import torch.multiprocessing as tmp

    index = getattr(exc, "error_index", "?")
    if isinstance(exc, tmp.ProcessExitedException):
        return SpikeliteError(f"rank {index} exited with code {exc.exit_code} (killed, or "
                              "out of memory); the other ranks were stopped")
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    last = lines[-1] if lines else str(exc)
    _, sep, msg = last.partition(": ")
    return SpikeliteError(f"rank {index}: {msg if sep else last}")
