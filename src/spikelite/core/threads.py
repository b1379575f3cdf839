"""Scoped intra-op thread count for the per-step loops of the CPU neuron kernels.

A time loop issues a handful of small elementwise ops per step (a ``[B, C, H, W]`` slice).
With several OpenMP threads each op splits its slice and ends in a barrier, so every step
waits for the slowest thread: on a busy machine, where a descheduled thread stalls the
barrier, the 2-thread loop measured 3–6× slower than one thread (``benchmarks/README.md``).
The big operations around the loop (convolutions, BatchNorm, the backward's block-wise
surrogate) keep all threads: only the loop itself runs under :func:`intra_op_threads`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from spikelite.errors import SpikeliteError

#: The default for the neuron time loops: ``None`` (torch's setting); ``1`` measured a win
#: for the loop alone but not for whole training steps under contention (benchmarks/README.md).
LOOP_THREADS: int | None = None


def check_loop_threads(n: int | None) -> int | None:
    """``None`` or a positive int, else a :class:`SpikeliteError`."""
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SpikeliteError(f"loop_threads must be a positive int or None (torch's setting), "
                             f"got {n!r}")
    return n


@contextmanager
def intra_op_threads(n: int | None, device: torch.device) -> Iterator[None]:
    """Run the enclosed CPU ops with at most ``n`` intra-op threads, then restore torch's
    setting (no effect for ``None``, on other devices, or when torch uses ≤ ``n``)."""
    current = torch.get_num_threads()
    if n is None or device.type != "cpu" or current <= n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(current)
