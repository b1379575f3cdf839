"""Saccade DVS camera simulator: static images → N-MNIST-like event streams.

Models how N-MNIST was recorded (Orchard et al. 2015): an event camera makes three quick
saccades in front of a static digit, so the image moves along a closed triangle
``(+3.5, +7) → (+3.5, −7) → (−7, 0)`` px (dx, dy), 105 ms per saccade (315 ms in all), on a
34×34 sensor. The pixel model is the one behind ESIM (Rebecq et al., CoRL 2018) and v2e
(Hu et al., CVPR-W 2021):

1. the image (values in [0, 1]) is centred on the canvas (28×28 → 3-px margin) and the
   motion path is centred too (offsets from −3.5 to +3.5 px per axis);
2. the path is rendered at ``steps + 1`` equally spaced times with bilinear sub-pixel
   shifts (zero outside the image);
3. every pixel keeps a reference log intensity ``L_ref`` (initially that of the first
   frame); with ``L = log(I + eps)`` and a per-pixel threshold ``C ~ N(threshold,
   threshold_sigma²)`` (fixed-pattern mismatch, one "camera" per seed), each rendered frame
   emits ``floor(|L − L_ref| / C)`` events of polarity ``sign(L − L_ref)`` (1 = ON, 0 = OFF)
   and moves ``L_ref`` by that many thresholds;
4. the j-th crossing is timestamped by linear interpolation of ``L`` between the previous
   and the current rendered frame (ESIM), then rounded to whole µs.

``L_ref`` is kept as ``L_0 + m·C`` with an integer ``m`` per pixel, so a closed path returns
every pixel to ``m = 0``: ON and OFF counts are equal per pixel. No noise, leak or
refractory period is modelled; the only randomness is the threshold map. ``eps = 0.05``
(the dark level of the log) makes the event counts match data.md §3.2's measurements:
≈3.9k events per sklearn digit at C = 0.7, and for MNIST ≈12.9k / 7.2k / 3.9k at
C = 0.3 / 0.5 / 0.8 (real N-MNIST: ≈4–5k).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from spikelite.data.events import EVENT_DTYPE
from spikelite.errors import SpikeliteError

SACCADE_PATH_PX: tuple[tuple[float, float], ...] = ((3.5, 7.0), (3.5, -7.0), (-7.0, 0.0))
"""N-MNIST saccade displacements (dx, dy) in pixels, one per saccade (Orchard et al. 2015)."""


@dataclass(frozen=True)
class SaccadeConfig:
    """Parameters of :func:`simulate_saccades` (all times in µs, sizes in pixels)."""

    sensor_size: int = 34
    threshold: float = 0.7
    threshold_sigma: float = 0.03
    min_threshold: float = 0.05
    eps: float = 0.05
    saccade_us: int = 105_000
    steps: int = 105

    def __post_init__(self) -> None:
        if self.sensor_size < 1:
            raise SpikeliteError(f"sensor_size must be positive, got {self.sensor_size}")
        if not self.threshold > 0 or self.threshold_sigma < 0 or not self.min_threshold > 0:
            raise SpikeliteError(
                "threshold and min_threshold must be > 0 and threshold_sigma >= 0, got "
                f"{self.threshold}, {self.min_threshold}, {self.threshold_sigma}"
            )
        if not self.eps > 0:
            raise SpikeliteError(f"eps (log offset) must be > 0, got {self.eps}")
        if self.saccade_us < 1 or self.steps < len(SACCADE_PATH_PX):
            raise SpikeliteError(
                f"need saccade_us >= 1 and steps >= {len(SACCADE_PATH_PX)}, "
                f"got {self.saccade_us}, {self.steps}"
            )

    @property
    def duration_us(self) -> int:
        """Total recording length: one ``saccade_us`` per saccade (315,000 µs by default)."""
        return self.saccade_us * len(SACCADE_PATH_PX)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def resize_bilinear(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``[..., h, w]`` to ``[..., H, W]`` (half-pixel centres, edge clamp).

    Same convention as ``torch.nn.functional.interpolate(mode="bilinear",
    align_corners=False, antialias=False)``: output pixel ``i`` samples the input at
    ``(i + 0.5)·h/H − 0.5`` (clamped at 0), interpolating between its two neighbours.
    """

    def weights(n_in: int, n_out: int) -> np.ndarray:
        src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        frac = src - i0
        mat = np.zeros((n_out, n_in))
        np.add.at(mat, (np.arange(n_out), i0), 1.0 - frac)
        np.add.at(mat, (np.arange(n_out), i1), frac)
        return mat

    images = np.asarray(images, dtype=np.float64)
    wy, wx = weights(images.shape[-2], size[0]), weights(images.shape[-1], size[1])
    return np.einsum("Hh,...hw,Ww->...HW", wy, images, wx)


def place_on_canvas(images: np.ndarray, canvas: int) -> np.ndarray:
    """Centre ``[N, h, w]`` images on a zero ``[N, canvas, canvas]`` canvas (float32)."""
    n, h, w = images.shape
    if h > canvas or w > canvas:
        raise SpikeliteError(f"images of {h}×{w} px do not fit on a {canvas}×{canvas} sensor")
    out = np.zeros((n, canvas, canvas), np.float32)
    top, left = (canvas - h) // 2, (canvas - w) // 2
    out[:, top : top + h, left : left + w] = images
    return out


def saccade_offsets(cfg: SaccadeConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render times (µs, ``steps + 1`` of them) and centred (dx, dy) offsets along the path."""
    vertices = np.vstack([np.zeros(2), np.cumsum(np.array(SACCADE_PATH_PX), axis=0)])
    vertices -= (vertices.min(axis=0) + vertices.max(axis=0)) / 2.0
    v_times = np.arange(len(vertices)) * float(cfg.saccade_us)
    times = np.linspace(0.0, float(cfg.duration_us), cfg.steps + 1)
    dx = np.interp(times, v_times, vertices[:, 0])
    dy = np.interp(times, v_times, vertices[:, 1])
    return times, dx, dy


def _shift(padded: np.ndarray, pad: int, size: int, dx: float, dy: float) -> np.ndarray:
    """Sample ``padded`` (zero border ``pad``) at ``(y − dy, x − dx)`` bilinearly → [B, S, S]."""
    ay, ax = int(np.floor(-dy)), int(np.floor(-dx))
    fy, fx = -dy - ay, -dx - ax
    r0 = pad + ay
    rows = (1.0 - fy) * padded[:, r0 : r0 + size] + fy * padded[:, r0 + 1 : r0 + 1 + size]
    c0 = pad + ax
    return (1.0 - fx) * rows[:, :, c0 : c0 + size] + fx * rows[:, :, c0 + 1 : c0 + 1 + size]


def threshold_map(cfg: SaccadeConfig, seed: int | np.random.Generator) -> np.ndarray:
    """Per-pixel contrast thresholds ``C ~ N(threshold, threshold_sigma²)``, clipped below."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    size = (cfg.sensor_size, cfg.sensor_size)
    c = rng.normal(cfg.threshold, cfg.threshold_sigma, size=size)
    return np.maximum(c, cfg.min_threshold).astype(np.float32)


def _simulate_batch(canvas: np.ndarray, c_map: np.ndarray, cfg: SaccadeConfig) -> list[np.ndarray]:
    b, s, _ = canvas.shape
    times, dx, dy = saccade_offsets(cfg)
    pad = int(np.ceil(max(np.abs(dx).max(), np.abs(dy).max()))) + 2
    padded = np.pad(canvas, ((0, 0), (pad, pad), (pad, pad)))
    inv_c = (1.0 / c_map).astype(np.float32)
    log0 = np.log(_shift(padded, pad, s, dx[0], dy[0]) + np.float32(cfg.eps))
    q_prev = np.zeros((b, s, s), np.float32)  # (L − L_0)/C at the previous render
    level = np.zeros((b, s, s), np.int32)  # reference level m: L_ref = L_0 + m·C
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for k in range(1, len(times)):
        frame = _shift(padded, pad, s, dx[k], dy[k])
        q = (np.log(frame + np.float32(cfg.eps)) - log0) * inv_c
        r = q - level
        n = np.floor(np.abs(r)).astype(np.int32)
        flat = np.flatnonzero(n)
        if flat.size == 0:
            q_prev = q
            continue
        counts = n.ravel()[flat]
        sign = np.where(r.ravel()[flat] > 0, 1, -1).astype(np.int32)
        rep = np.repeat(np.arange(flat.size), counts)
        start = np.cumsum(counts) - counts
        j = np.arange(rep.size) - start[rep] + 1
        lev = level.ravel()[flat][rep] + sign[rep] * j
        qa = q_prev.ravel()[flat][rep].astype(np.float64)
        qb = q.ravel()[flat][rep].astype(np.float64)
        frac = np.clip((lev - qa) / (qb - qa), 0.0, 1.0)
        t = times[k - 1] + frac * (times[k] - times[k - 1])
        chunks.append((flat[rep], np.rint(t).astype(np.int64), sign[rep] > 0))
        level.ravel()[flat] += sign * counts
        q_prev = q
    if not chunks:
        return [np.empty(0, EVENT_DTYPE) for _ in range(b)]
    pix = np.concatenate([c[0] for c in chunks])
    t = np.concatenate([c[1] for c in chunks])
    on = np.concatenate([c[2] for c in chunks])
    sample = pix // (s * s)
    order = np.lexsort((t, sample))  # stable: ties keep render/pixel order
    pix, t, on, sample = pix[order], t[order], on[order], sample[order]
    ev = np.empty(pix.size, EVENT_DTYPE)
    ev["x"] = pix % s
    ev["y"] = (pix // s) % s
    ev["t"] = t
    ev["p"] = on
    bounds = np.searchsorted(sample, np.arange(b + 1))
    return [ev[bounds[i] : bounds[i + 1]].copy() for i in range(b)]


def simulate_saccades(
    images: np.ndarray,
    *,
    config: SaccadeConfig | None = None,
    seed: int | np.random.Generator = 0,
    batch_size: int = 256,
) -> list[np.ndarray]:
    """Convert static images ``[N, h, w]`` (values in [0, 1]) into N event streams.

    Returns one :data:`EVENT_DTYPE` array per image, sorted by ``t`` with
    ``0 ≤ t ≤ config.duration_us`` and ``0 ≤ x, y < config.sensor_size``. The threshold
    map is drawn once from ``seed`` (a fixed camera), so results are deterministic for a
    seed and do not depend on ``batch_size`` or on the other images.
    """
    cfg = config or SaccadeConfig()
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3:
        raise SpikeliteError(f"images must be [N, h, w] (or one [h, w]), got {images.shape}")
    if images.size and (np.nanmin(images) < 0 or np.nanmax(images) > 1 or np.isnan(images).any()):
        raise SpikeliteError("image values must lie in [0, 1]; rescale them first (e.g. x / 255)")
    if batch_size < 1:
        raise SpikeliteError(f"batch_size must be positive, got {batch_size}")
    c_map = threshold_map(cfg, seed)
    canvas = place_on_canvas(images.astype(np.float32), cfg.sensor_size)
    out: list[np.ndarray] = []
    for i in range(0, len(canvas), batch_size):
        out.extend(_simulate_batch(canvas[i : i + batch_size], c_map, cfg))
    return out


def digits_to_28(images: np.ndarray, max_value: float = 16.0) -> np.ndarray:
    """sklearn 8×8 digits (0..16) → [0, 1] → 28×28 bilinear upsampling (×3.5), clipped."""
    scaled = np.asarray(images, dtype=np.float64).reshape(-1, 8, 8) / max_value
    return np.clip(resize_bilinear(scaled, (28, 28)), 0.0, 1.0).astype(np.float32)
