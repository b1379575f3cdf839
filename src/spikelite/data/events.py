"""Event streams and their binning into dense frames.

An event stream is a 1-D numpy structured array of :data:`EVENT_DTYPE`:

* ``x``, ``y`` — pixel column and row (int64, origin top-left),
* ``t`` — timestamp in microseconds (int64),
* ``p`` — polarity (int8): 1 = ON (brightness increase), 0 = OFF.

This is tonic's ``xytp`` layout (tonic stores ``p`` as int64 as well); a sensor size is
given tonic-style as ``(width, height, n_polarities)``, e.g. ``(34, 34, 2)`` for N-MNIST.
Frames are ``float32`` arrays ``[T, P, H, W]`` where channel ``c`` holds polarity ``p == c``
(channel 0 = OFF, 1 = ON); with ``P == 1`` both polarities share channel 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spikelite.errors import SpikeliteError

EVENT_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int8)])
"""Structured dtype of one event: x, y (pixels), t (µs), p (1 = ON, 0 = OFF)."""

NMNIST_SENSOR_SIZE: tuple[int, int, int] = (34, 34, 2)
"""N-MNIST / ATIS crop sensor size as ``(width, height, polarities)``."""


def make_events(
    x: Sequence[int] | np.ndarray,
    y: Sequence[int] | np.ndarray,
    t: Sequence[int] | np.ndarray,
    p: Sequence[int] | np.ndarray,
) -> np.ndarray:
    """Build an :data:`EVENT_DTYPE` array from four equally long sequences."""
    cols = [np.asarray(v) for v in (x, y, t, p)]
    n = len(cols[0])
    if any(c.ndim != 1 or len(c) != n for c in cols):
        raise SpikeliteError("make_events needs four 1-D sequences x, y, t, p of equal length")
    ev = np.empty(n, dtype=EVENT_DTYPE)
    for name, col in zip("xytp", cols, strict=True):
        ev[name] = col
    return ev


def _check_events(events: np.ndarray, sensor_size: tuple[int, int, int]) -> tuple[int, int, int]:
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise SpikeliteError(
            "events must be a numpy structured array with fields x, y, t, p "
            "(see spikelite.data.EVENT_DTYPE / make_events)"
        )
    missing = {"x", "y", "t", "p"} - set(events.dtype.names)
    if missing:
        raise SpikeliteError(f"events lack the field(s) {sorted(missing)}; need x, y, t, p")
    if len(sensor_size) != 3 or min(sensor_size) < 1:
        raise SpikeliteError(
            f"sensor_size must be (width, height, polarities) with positive entries, "
            f"got {sensor_size!r}"
        )
    w, h, npol = (int(v) for v in sensor_size)
    if len(events):
        x, y, p = events["x"], events["y"], events["p"]
        if x.min() < 0 or x.max() >= w or y.min() < 0 or y.max() >= h:
            raise SpikeliteError(
                f"event coordinates fall outside the sensor of width {w} and height {h} "
                f"(x in [{x.min()}, {x.max()}], y in [{y.min()}, {y.max()}]); "
                f"pass the right sensor_size"
            )
        if npol > 1 and (p.min() < 0 or p.max() >= npol):
            raise SpikeliteError(
                f"polarities must lie in 0..{npol - 1} for a sensor with {npol} polarity "
                f"channels, got [{p.min()}, {p.max()}]"
            )
    return w, h, npol


def _check_bins(n_bins: int, what: str) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise SpikeliteError(f"{what} must be a positive integer, got {n_bins!r}")
    return int(n_bins)


def _accumulate(
    events: np.ndarray, bins: np.ndarray, n_bins: int, w: int, h: int, npol: int, binarize: bool
) -> np.ndarray:
    """Count events per (bin, polarity, y, x) → float32 [n_bins, npol, h, w]."""
    pol = events["p"].astype(np.int64) if npol > 1 else np.zeros(len(events), np.int64)
    flat = ((bins * npol + pol) * h + events["y"]) * w + events["x"]
    counts = np.bincount(flat, minlength=n_bins * npol * h * w)
    frames = counts.reshape(n_bins, npol, h, w).astype(np.float32)
    if binarize:
        np.minimum(frames, 1.0, out=frames)
    return frames


def to_frames(
    events: np.ndarray,
    sensor_size: tuple[int, int, int] = NMNIST_SENSOR_SIZE,
    n_time_bins: int = 10,
    *,
    duration_us: int | None = None,
    binarize: bool = False,
) -> np.ndarray:
    """Bin events into ``n_time_bins`` equal time windows → float32 ``[T, P, H, W]`` counts.

    Bin edge convention (integer arithmetic, no rounding ambiguity), with ``T = n_time_bins``:

    * ``duration_us=None`` (default): the windows cover the sample's own span (unlike
      tonic's ``ToFrame(n_time_bins=T)``, which drops the events after ``T`` whole windows
      of ``(t_last − t_first) // T`` µs, the last one included: see docs/data.md). With
      ``t0 = min(t)`` and ``span = max(t) − t0 + 1`` µs, an event goes to bin
      ``(t − t0)·T // span``; bin ``k`` is the half-open window
      ``[t0 + k·span/T, t0 + (k+1)·span/T)``, so the first event is in bin 0 and the last in
      bin ``T − 1``.
    * ``duration_us=D``: fixed windows from the recording origin ``t = 0``; an event goes to
      bin ``t·T // D``; bin ``k`` is ``[k·D/T, (k+1)·D/T)``; events with ``t < 0`` or
      ``t ≥ D`` are dropped.

    ``binarize=True`` clips every count to 1. An empty stream gives all-zero frames.
    """
    w, h, npol = _check_events(events, sensor_size)
    n_bins = _check_bins(n_time_bins, "n_time_bins")
    if len(events) == 0:
        return np.zeros((n_bins, npol, h, w), np.float32)
    t = events["t"].astype(np.int64)
    if duration_us is None:
        t0 = t.min()
        span = int(t.max() - t0) + 1
        bins = (t - t0) * n_bins // span
    else:
        if duration_us <= 0:
            raise SpikeliteError(f"duration_us must be a positive number of µs, got {duration_us}")
        keep = (t >= 0) & (t < duration_us)
        events, t = events[keep], t[keep]
        bins = t * n_bins // int(duration_us)
    return _accumulate(events, bins, n_bins, w, h, npol, binarize)


def to_frames_by_count(
    events: np.ndarray,
    sensor_size: tuple[int, int, int] = NMNIST_SENSOR_SIZE,
    n_event_bins: int = 10,
    *,
    binarize: bool = False,
) -> np.ndarray:
    """Bin events into ``n_event_bins`` bins of (nearly) equal event count → ``[T, P, H, W]``.

    Events are put in time order (stable sort on ``t``); with ``N`` events and
    ``T = n_event_bins``, event ``i`` (0-based) goes to bin ``i·T // N``, so bin ``k`` holds
    events ``ceil(k·N/T) ≤ i < ceil((k+1)·N/T)`` and bin sizes differ by at most one
    (when ``N < T`` some bins stay empty). Same slicing idea as tonic's
    ``ToFrame(n_event_bins=T)`` without overlap.
    """
    w, h, npol = _check_events(events, sensor_size)
    n_bins = _check_bins(n_event_bins, "n_event_bins")
    n = len(events)
    if n == 0:
        return np.zeros((n_bins, npol, h, w), np.float32)
    events = events[np.argsort(events["t"], kind="stable")]
    bins = np.arange(n, dtype=np.int64) * n_bins // n
    return _accumulate(events, bins, n_bins, w, h, npol, binarize)
