"""Keep freed memory in the process: large CPU tensors without fresh pages on every step.

With glibc's default ``malloc`` every allocation above the (dynamic, ≤ 32 MiB) mmap
threshold is a fresh ``mmap`` and every large free may trim the heap, so the big
activations and gradients of a training step (a ``[T·B, C, H, W]`` tensor is tens of MiB)
come back as new pages each step, and the kernel faults and zero-fills every 4 KiB page
on first touch. That costs about as much as the arithmetic of the elementwise ops
writing them: in a csnn training step (1 thread) ``max_pool2d``'s backward spent 15 ms
zero-filling a fresh 24 MB gradient, and the first op writing the LIF backward's
``g_h`` ran 4× slower than the same op on warm memory (benchmarks/README.md).

:func:`retain_freed_memory` sets two ``mallopt`` parameters for the whole process: no
``mmap`` allocations (``M_MMAP_MAX = 0``: every block comes from the heap) and a trim
threshold of 1 GiB (``M_TRIM_THRESHOLD``: freed heap memory up to that much is kept for
the next allocation instead of going back to the system). Values computed are unchanged;
the cost is that the process's resident memory stays near its peak. It works on Linux
with glibc only (elsewhere it does nothing and returns ``False``). The ``spikelite``
command calls it at start unless the environment sets ``SPIKELITE_RETAIN_MEMORY=0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

#: ``mallopt`` parameter numbers (glibc ``malloc.h``).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
#: Freed heap memory kept for reuse before glibc returns it to the system.
TRIM_THRESHOLD = 1 << 30
#: Environment variable that turns :func:`retain_freed_memory` off in the ``spikelite``
#: command (``0``/``false``/``no``/``off``).
ENV = "SPIKELITE_RETAIN_MEMORY"

_applied = False


def _libc() -> ctypes.CDLL | None:
    """glibc, or ``None`` (another OS or C library)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None


def retain_freed_memory() -> bool:
    """Make glibc ``malloc`` serve every block from the heap and keep up to
    :data:`TRIM_THRESHOLD` bytes of freed memory (see the module docstring); idempotent.
    Returns whether the settings are in effect (``False`` off Linux/glibc)."""
    global _applied
    if _applied:
        return True
    libc = _libc()
    if libc is None:
        return False
    # mallopt returns 1 on success; setting the trim threshold first also stops glibc's
    # dynamic adjustment of both thresholds
    ok = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    ok = ok and libc.mallopt(_M_MMAP_MAX, 0) == 1
    _applied = ok
    return ok


def env_allows() -> bool:
    """Whether :data:`ENV` leaves the setting on (unset, or anything but 0/false/no/off)."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def retain_unless_disabled() -> bool:
    """:func:`retain_freed_memory` unless :data:`ENV` turns it off — what the ``spikelite``
    command and every process it spawns (sweep, search and distributed workers) call at
    start. Returns whether the settings are in effect."""
    return retain_freed_memory() if env_allows() else False

