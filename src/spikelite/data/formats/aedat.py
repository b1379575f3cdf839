"""AEDAT 2.0 (DVS128, CIFAR10-DVS) and AEDAT 3.1 (DVS128 Gesture) event files, numpy only.

Sources: iniVation's "AEDAT file formats" documentation (2.0 and 3.1 sections), the
README of the IBM DVS128 Gesture release, spikingjelly's CIFAR10-DVS and DVS128 Gesture
readers; summarised in data.md §2.2, §2.3 and §2.6.

**AEDAT 2.0** — ASCII header lines, each starting with ``#`` (the first is
``#!AER-DAT2.0``); the header ends at the first line that does not start with ``#``. Then
big-endian record pairs ``uint32 address, uint32 timestamp (µs)``. DVS128 address: bit 0
polarity bit, bits 1–7 and 8–14 the two 7-bit coordinates, bit 15 an external event
(dropped here). The tools disagree on orientation; spikelite uses spikingjelly's
CIFAR10-DVS convention (so frames match the preprocessed data most papers train on)::

    x = 127 − ((address >> 8) & 0x7F),  y = 127 − ((address >> 1) & 0x7F),
    p = 1 − (address & 1)               (1 = ON)

**AEDAT 3.1** — ASCII header lines starting with ``#`` and ending ``\\r\\n``, from
``#!AER-DAT3.1`` to ``#!END-HEADER``. Then packets: a 28-byte little-endian header
``int16 eventType, int16 eventSource, int32 eventSize, int32 eventTSOffset,
int32 eventTSOverflow, int32 eventCapacity, int32 eventNumber, int32 eventValid`` followed
by ``eventNumber × eventSize`` bytes. Polarity packets (type 1, size 8) hold
``uint32 data, int32 timestamp``: ``data`` bit 0 = valid, bit 1 = polarity (1 = ON),
bits 2–16 = y, bits 17–31 = x (origin top-left). Full timestamp =
``(eventTSOverflow << 31) | timestamp``. Other packet types are skipped by size; invalid
events (bit 0 = 0) are dropped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikelite.data.events import EVENT_DTYPE
from spikelite.errors import SpikeliteError

AEDAT2_MAGIC = b"#!AER-DAT2.0"
AEDAT31_MAGIC = b"#!AER-DAT3.1"
AEDAT31_END = b"#!END-HEADER\r\n"
PACKET_HEADER = np.dtype(
    [
        ("type", "<i2"),
        ("source", "<i2"),
        ("size", "<i4"),
        ("ts_offset", "<i4"),
        ("ts_overflow", "<i4"),
        ("capacity", "<i4"),
        ("number", "<i4"),
        ("valid", "<i4"),
    ]
)
POLARITY_EVENT = 1
DVS128 = 128


def _read_bytes(path: str | os.PathLike[str], what: str) -> tuple[Path, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise SpikeliteError(f"{what} file not found: {path}")
    return path, np.fromfile(path, dtype=np.uint8)


# --------------------------------------------------------------------------- AEDAT 2.0


def aedat2_header_end(raw: np.ndarray) -> int:
    """Byte offset of the first record: just after the last ``#`` header line."""
    pos, n = 0, len(raw)
    while pos < n and raw[pos] == ord("#"):
        newline = np.flatnonzero(raw[pos:] == ord("\n"))
        if not len(newline):
            return n
        pos += int(newline[0]) + 1
    return pos


def decode_aedat2(raw: bytes | np.ndarray, *, source: str = "<bytes>") -> np.ndarray:
    """Decode an AEDAT 2.0 DVS128 file's bytes → :data:`EVENT_DTYPE` (spikingjelly axes)."""
    data = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, bytes) else raw
    if not bytes(data[: len(AEDAT2_MAGIC)]) == AEDAT2_MAGIC:
        raise SpikeliteError(
            f"{source}: not an AEDAT 2.0 file (the first line must be {AEDAT2_MAGIC.decode()!r})"
        )
    end = aedat2_header_end(data)
    if end == len(data) and data[-1] != ord("\n"):
        raise SpikeliteError(
            f"{source}: the AEDAT 2.0 header's last line has no line end, so no events "
            f"follow; the file is truncated"
        )
    body = data[end:]
    if body.size % 8:
        raise SpikeliteError(
            f"{source}: {body.size} data bytes after the header is not a multiple of 8 "
            f"(address + timestamp pairs); the file is truncated"
        )
    rec = body.view(">u4").reshape(-1, 2).astype(np.int64)
    addr, t = rec[:, 0], rec[:, 1]
    keep = (addr >> 15) & 1 == 0  # bit 15: external (special) event, not a pixel
    addr, t = addr[keep], t[keep]
    ev = np.empty(len(addr), dtype=EVENT_DTYPE)
    ev["x"] = 127 - ((addr >> 8) & 0x7F)
    ev["y"] = 127 - ((addr >> 1) & 0x7F)
    ev["t"] = t
    ev["p"] = 1 - (addr & 1)
    return ev


def read_aedat2(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one AEDAT 2.0 DVS128 file (CIFAR10-DVS) → events, 128×128, t in µs."""
    path, raw = _read_bytes(path, "AEDAT 2.0")
    return decode_aedat2(raw, source=str(path))


def encode_aedat2(events: np.ndarray, header_lines: tuple[str, ...] = ()) -> bytes:
    """Inverse of :func:`decode_aedat2` (fixtures): header + big-endian address/time pairs."""
    x, y = events["x"].astype(np.int64), events["y"].astype(np.int64)
    t, p = events["t"].astype(np.int64), events["p"].astype(np.int64)
    if len(events) and (
        x.min() < 0
        or x.max() > 127
        or y.min() < 0
        or y.max() > 127
        or t.min() < 0
        or t.max() >= 2**32
        or not np.isin(p, (0, 1)).all()
    ):
        raise SpikeliteError("AEDAT 2.0 DVS128 holds x, y in 0..127, p in {0, 1}, t < 2**32 µs")
    addr = ((127 - x) << 8) | ((127 - y) << 1) | (1 - p)
    rec = np.stack([addr, t], axis=1).astype(">u4")
    head = "".join(f"{line}\r\n" for line in ("#!AER-DAT2.0", *header_lines)).encode()
    return head + rec.tobytes()


def write_aedat2(
    path: str | os.PathLike[str], events: np.ndarray, header_lines: tuple[str, ...] = ()
) -> None:
    """Write events as an AEDAT 2.0 DVS128 file (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_aedat2(events, header_lines))


# --------------------------------------------------------------------------- AEDAT 3.1


def _aedat31_body(data: np.ndarray, source: str) -> int:
    if not bytes(data[: len(AEDAT31_MAGIC)]) == AEDAT31_MAGIC:
        raise SpikeliteError(
            f"{source}: not an AEDAT 3.1 file (the first line must be {AEDAT31_MAGIC.decode()!r})"
        )
    end = bytes(data[: 1 << 20]).find(AEDAT31_END)
    if end < 0:
        raise SpikeliteError(f"{source}: AEDAT 3.1 header has no '#!END-HEADER' line")
    return end + len(AEDAT31_END)


def decode_aedat31(raw: bytes | np.ndarray, *, source: str = "<bytes>") -> np.ndarray:
    """Decode AEDAT 3.1 bytes → valid polarity events (:data:`EVENT_DTYPE`), file order."""
    data = np.frombuffer(raw, dtype=np.uint8) if isinstance(raw, bytes) else raw
    pos, n = _aedat31_body(data, source), len(data)
    chunks: list[np.ndarray] = []
    while pos < n:
        if pos + PACKET_HEADER.itemsize > n:
            raise SpikeliteError(f"{source}: truncated AEDAT 3.1 packet header at byte {pos}")
        head = data[pos : pos + PACKET_HEADER.itemsize].view(PACKET_HEADER)[0]
        size, number = int(head["size"]), int(head["number"])
        start = pos + PACKET_HEADER.itemsize
        stop = start + size * number
        if size < 0 or number < 0 or stop > n:
            raise SpikeliteError(
                f"{source}: AEDAT 3.1 packet at byte {pos} claims {number} events of {size} "
                f"bytes, past the end of the file (truncated or corrupt)"
            )
        if int(head["type"]) == POLARITY_EVENT and number:
            off = int(head["ts_offset"])
            if size < 8 or not 4 <= off <= size - 4:
                raise SpikeliteError(
                    f"{source}: polarity packet at byte {pos} has eventSize {size} and "
                    f"eventTSOffset {off}; expected 8 and 4"
                )
            ev = data[start:stop].reshape(number, size)
            word = np.ascontiguousarray(ev[:, :4]).view("<u4")[:, 0].astype(np.int64)
            ts = np.ascontiguousarray(ev[:, off : off + 4]).view("<i4")[:, 0].astype(np.int64)
            keep = (word & 1) == 1
            word, ts = word[keep], ts[keep]
            out = np.empty(len(word), dtype=EVENT_DTYPE)
            out["x"] = (word >> 17) & 0x7FFF
            out["y"] = (word >> 2) & 0x7FFF
            out["t"] = (int(head["ts_overflow"]) << 31) | ts
            out["p"] = (word >> 1) & 1
            chunks.append(out)
        pos = stop
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=EVENT_DTYPE)


def read_aedat31(path: str | os.PathLike[str]) -> np.ndarray:
    """Read the polarity events of one AEDAT 3.1 file (DVS128 Gesture trial), t in µs."""
    path, raw = _read_bytes(path, "AEDAT 3.1")
    return decode_aedat31(raw, source=str(path))


def aedat31_packet(
    events: np.ndarray,
    *,
    ts_overflow: int = 0,
    valid: np.ndarray | None = None,
    event_type: int = POLARITY_EVENT,
) -> bytes:
    """One AEDAT 3.1 polarity packet (fixtures). ``t`` must lie in the overflow epoch.

    ``valid`` (bool per event, default all True) sets bit 0; ``event_type`` other than 1
    writes the same bytes under another type (a packet readers must skip).
    """
    n = len(events)
    t = events["t"].astype(np.int64) - (int(ts_overflow) << 31)
    if n and (t.min() < 0 or t.max() >= 2**31):
        raise SpikeliteError("packet timestamps must lie in [overflow·2**31, (overflow+1)·2**31)")
    ok = np.ones(n, bool) if valid is None else np.asarray(valid, bool)
    word = (
        (events["x"].astype(np.int64) << 17)
        | (events["y"].astype(np.int64) << 2)
        | (events["p"].astype(np.int64) << 1)
        | ok.astype(np.int64)
    )
    body = np.empty(n, dtype=[("data", "<u4"), ("ts", "<i4")])
    body["data"], body["ts"] = word, t
    head = np.array([(event_type, 0, 8, 4, ts_overflow, n, n, int(ok.sum()))], dtype=PACKET_HEADER)
    return head.tobytes() + body.tobytes()


def aedat31_header(source: str = "DVS128") -> bytes:
    """An AEDAT 3.1 ASCII header (fixtures), ``#!AER-DAT3.1`` … ``#!END-HEADER``."""
    lines = (
        "#!AER-DAT3.1",
        "#Format: RAW",
        f"#Source 1: {source}",
        "#Start-Time: 2017-01-01 00:00:00 (TZ+0000)",
        "#!END-HEADER",
    )
    return "".join(f"{line}\r\n" for line in lines).encode()
