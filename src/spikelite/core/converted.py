"""Neurons whose membrane starts charged: ``v₀ = rest + v_init·θ``.

A converted (ANN→SNN) network's IF neurons start at ``v_init·θ`` (Rueckauer et al. 2017 use
0; 0.5 rounds instead of floors the rate ``z/θ`` and halves its quantization error). The
initial-membrane rule lives here once; :class:`ConvertedIF` (what
:func:`spikelite.convert.ann_to_snn` builds) and :class:`PrechargedLIF` (any LIF form, e.g.
an exported package's neurons in accumulator units) use it.
"""

from __future__ import annotations

import torch

from spikelite.core.functional import rest
from spikelite.core.neurons import IF, LIF
from spikelite.core.params import LIFParams
from spikelite.errors import SpikeliteError


def check_v_init(v_init: float) -> float:
    """``v_init`` as a float in ``[0, 1)`` (a fraction of θ), or an error."""
    if not 0.0 <= float(v_init) < 1.0:
        raise SpikeliteError(f"v_init must be in [0, 1) (fraction of θ), got {v_init!r}")
    return float(v_init)


def charged_rest(x: torch.Tensor, p: LIFParams, v_init: float) -> torch.Tensor:
    """Initial membrane ``[B, ...]`` for input ``x [T, B, ...]``: the resting potential
    (:func:`~spikelite.core.functional.rest`) plus ``v_init·θ``."""
    v = rest(x[0], p)
    return v + v_init * p.threshold if v_init else v


class _ChargedStart:
    """Mixin for :class:`LIF` subclasses: a fresh membrane starts at
    :func:`charged_rest`; a carried-over one (``mem``) continues."""

    v_init: float
    mem: torch.Tensor | None

    def _v0(self, x: torch.Tensor, p: LIFParams) -> torch.Tensor:
        if self.mem is not None and self.mem.shape == x.shape[1:]:
            return self.mem.to(dtype=x.dtype, device=x.device)
        return charged_rest(x, p, self.v_init)


class ConvertedIF(_ChargedStart, IF):
    """IF neuron (``h = v + x``, reset by subtraction) for converted networks.

    ``v_init`` sets the initial membrane to ``v_init·θ`` (0 as in Rueckauer et al. 2017;
    0.5 rounds instead of floors the rate ``z/θ`` and halves the quantization error).
    """

    def __init__(self, threshold: float | torch.Tensor, v_init: float = 0.5) -> None:
        th = threshold.detach().clone().float() if isinstance(threshold, torch.Tensor) \
            else float(threshold)
        super().__init__(threshold=th, reset="subtract")
        self.v_init = check_v_init(v_init)

    def extra_repr(self) -> str:
        th = self.threshold
        shown = (f"{float(th):.6g}" if th.numel() == 1
                 else f"per-channel [{th.numel()}] {float(th.min()):.4g}…{float(th.max()):.4g}")
        return f"threshold={shown}, reset=subtract, v_init={self.v_init:g}"


class PrechargedLIF(_ChargedStart, LIF):
    """:class:`LIF` (any form and reset; same arguments) whose membrane starts at
    ``rest + v_init·θ`` (``v_init = 0``: at rest, as a plain LIF)."""

    def __init__(self, beta: float | torch.Tensor | None = None, *, v_init: float = 0.0,
                 **kwargs: object) -> None:
        super().__init__(beta, **kwargs)  # type: ignore[arg-type]
        self.v_init = check_v_init(v_init)
