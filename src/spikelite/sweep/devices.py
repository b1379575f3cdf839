"""Placing a sweep's worker processes on devices: one device per worker, round-robin.

``--devices 0,1,2,3`` (or ``devices: [0, 1, 2, 3]`` in a recipe) pins worker ``i`` to
``cuda:(i mod 4)``; names may be ``cpu``, ``cuda``, ``cuda:N`` or a bare GPU index ``N``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spikelite.errors import SpikeliteError


def parse_devices(value: str | Sequence[Any]) -> list[str]:
    """``"0,1,cpu"`` or ``[0, "cuda:1", "cpu"]`` → ``["cuda:0", "cuda:1", "cpu"]``.

    Only the spelling is checked here; :func:`check_devices` checks they exist."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        if isinstance(item, bool):
            raise SpikeliteError(f"device {item!r} is not a device; write e.g. 0, cuda:1 or cpu")
        name = str(item).strip().lower()
        if name.isdigit():
            name = f"cuda:{int(name)}"
        kind, _, index = name.partition(":")
        if kind not in ("cpu", "cuda", "mps") or (index and not index.isdigit()) or (
                index and kind != "cuda"):
            raise SpikeliteError(f"device {str(item)!r} is not a device; write a GPU index "
                                 "(0, 1, ...), cuda:N or cpu, comma-separated")
        out.append(name)
    if not out:
        raise SpikeliteError("devices is empty; name at least one (e.g. --devices 0 or cpu)")
    return out


def worker_device(index: int, devices: Sequence[str]) -> str:
    """The device of worker ``index`` (0-based): round-robin over ``devices``."""
    if not devices:
        raise SpikeliteError("no devices to place workers on")
    return devices[index % len(devices)]


def check_devices(devices: Sequence[str]) -> None:
    """Each device exists on this machine (a :class:`SpikeliteError` naming the first that
    does not, and the ones that do)."""
    from spikelite.train.engine import resolve_device

    for d in devices:
        resolve_device(d)


def pin(device: str) -> None:
    """Make ``device`` the current CUDA device of this (worker) process, so allocations
    without an explicit index land on it too."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is not None:
        torch.cuda.set_device(dev)
