"""Process plumbing of sweep workers: ending with the parent sweep, and a scoped torch
thread count."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: Exit code of a worker process that stopped because its parent sweep is gone.
ORPHAN_EXIT = 70


def die_with_parent(parent: int) -> None:
    """Make this (worker) process end when ``parent`` does, so killing a sweep never
    leaves orphan workers training on: Linux's ``PR_SET_PDEATHSIG`` (SIGKILL) where
    available, and everywhere a watchdog thread that polls the parent pid."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(ORPHAN_EXIT)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(ORPHAN_EXIT)

    threading.Thread(target=watch, daemon=True, name="spikelite-parent-watch").start()


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (``None``: leave the setting alone)."""
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
