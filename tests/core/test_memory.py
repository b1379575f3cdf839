"""spikelite.core.memory: glibc malloc keeps large blocks on the heap after the call."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import textwrap

import pytest

from spikelite.core import memory

GLIBC = memory._libc() is not None and hasattr(memory._libc(), "mallinfo2")

# allocates a 64 MiB tensor and prints how many more blocks malloc then holds as mmaps (hblks)
_PROBE = textwrap.dedent("""
    import ctypes, sys
    from spikelite.core import memory
    applied = memory.retain_freed_memory() if sys.argv[1] == "on" else False
    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]
    libc = memory._libc()
    libc.mallinfo2.restype = MallInfo2
    import torch
    before = libc.mallinfo2().hblks
    x = torch.ones(16 * 1024 * 1024)
    print(int(applied), libc.mallinfo2().hblks - before, float(x.sum()))
""")


def _probe(mode: str) -> tuple[int, int, float]:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), int(out[1]), float(out[2])


@pytest.mark.skipif(not GLIBC, reason="glibc with mallinfo2 only")
def test_large_tensors_come_from_the_heap_after_the_call() -> None:
    applied, hblks, total = _probe("on")
    assert applied == 1
    assert hblks == 0  # the 64 MiB block is not an mmap
    assert total == 16 * 1024 * 1024
    applied, hblks, total = _probe("off")  # glibc's default: a block this size is mmapped
    assert (applied, total) == (0, 16 * 1024 * 1024)
    assert hblks == 1


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_idempotent() -> None:
    assert memory.retain_freed_memory() is True
    assert memory.retain_freed_memory() is True


def test_no_glibc_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_applied", False)
    monkeypatch.setattr(memory, "_libc", lambda: None)
    assert memory.retain_freed_memory() is False


@pytest.mark.parametrize(("value", "allowed"), [
    (None, True), ("1", True), ("yes", True), ("0", False), ("false", False), (" OFF ", False),
    ("no", False),
])
def test_env_switch(monkeypatch: pytest.MonkeyPatch, value: str | None, allowed: bool) -> None:
    if value is None:
        monkeypatch.delenv(memory.ENV, raising=False)
    else:
        monkeypatch.setenv(memory.ENV, value)
    assert memory.env_allows() is allowed


def test_cdll_type() -> None:
    lib = memory._libc()
    assert lib is None or isinstance(lib, ctypes.CDLL)


@pytest.mark.parametrize(("value", "calls"), [(None, 1), ("0", 0)])
def test_the_command_applies_it_unless_switched_off(
        monkeypatch: pytest.MonkeyPatch, value: str | None, calls: int) -> None:
    from typer.testing import CliRunner

    from spikelite.cli import app

    seen: list[bool] = []
    monkeypatch.setattr(memory, "retain_freed_memory", lambda: seen.append(True) or True)
    if value is None:
        monkeypatch.delenv(memory.ENV, raising=False)
    else:
        monkeypatch.setenv(memory.ENV, value)
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert len(seen) == calls
