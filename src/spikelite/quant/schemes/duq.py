"""DuQ (PROFIT, Park & Yoo 2020) as used by Schaefer et al. (§2.5 of the paper notes).

With n = 2^(b−1), a learnable clip ``a`` and a learnable output scale ``c`` per tensor::

    Q(w) = c · round((n−1)·clip(w/a, −1, 1)) / (n−1)

2^b − 1 symmetric levels including 0 (b = 2: ternary {−c, 0, c}). Stored as
``codes = round((n−1)·clip(w/a, −1, 1))``, ``scale = c/(n−1)``, ``zero_point = 0``.

Gradients: straight-through round (R ≈ (n−1)·v with v = clip(u, −1, 1), u = w/a), the
hard-tanh clip passing gradient only inside (|u| ≤ 1, ``torch.clamp``'s convention)::

    dQ/dw = (c/a)·1[|u| ≤ 1]
    dQ/da = c·dv/da = −(c/a)·u·1[|u| ≤ 1]          (= −c·w/a² inside, 0 outside)
    dQ/dc = round((n−1)·v)/(n−1) = codes/(n−1)

— exactly autograd of the STE-relaxed expression c·(R + (n−1)v − sg((n−1)v))/(n−1).
Both ``a`` and ``c`` start at max(|μ−3σ|, |μ+3σ|) of the weights when quantization
starts ("gaussian_init"; σ is the population std, ``jnp.std``'s default).
The official config selects EWGS rounding, but its outer VJP returns the gradient
unchanged, so the estimator is this plain STE (§2.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from spikelite.quant.schemes.base import QUANTIZERS, Build, QuantScheme, floor_eps


def duq_init(w: torch.Tensor) -> torch.Tensor:
    """max(|μ−3σ|, |μ+3σ|) of ``w`` (0-dim; σ with ddof = 0), floored above zero."""
    mu = w.mean()
    sigma = w.std(correction=0)
    return floor_eps(torch.maximum((mu - 3 * sigma).abs(), (mu + 3 * sigma).abs()))


@QUANTIZERS.register("duq")
@dataclass(frozen=True)
class DuQ(QuantScheme):
    """Schaefer et al.'s DuQ: Q(w) = c·round((n−1)·clip(w/a, −1, 1))/(n−1), n = 2^(b−1).

    ``params``: ``a`` (clip) and ``c`` (output scale), 0-dim (any shape broadcastable to
    ``w`` works; gradients are summed to it), both learnable. ``a`` is floored at the
    smallest normal float so a collapsing clip gives no NaN. Idempotent only when
    ``c == a`` (as right after :meth:`init_params`); otherwise Q(Q(w)) ≠ Q(w).
    """

    name: ClassVar[str] = "duq"
    learnable_params: ClassVar[tuple[str, ...]] = ("a", "c")
    required_params: ClassVar[tuple[str, ...]] = ("a", "c")
    min_bits: ClassVar[int] = 2

    def _levels(self, bits: int) -> int:
        return 2**bits - 1

    def _init(self, w, bits):
        v = duq_init(w)
        return {"a": v.clone(), "c": v.clone()}

    def _build(self, w, params, bits, need_grad):
        n1 = 2 ** (bits - 1) - 1
        a = floor_eps(params["a"])
        c = params["c"]
        ad, cd = a.detach(), c.detach()
        u = w.detach() / ad
        k = torch.round(n1 * u.clamp(-1.0, 1.0))
        scale = cd / n1
        if not need_grad:
            return Build(k.to(torch.int32), scale, 0.0)
        inside = u.abs() <= 1
        zero = torch.zeros_like(u)
        ratio = cd / ad
        dw = torch.where(inside, ratio, zero)
        da = torch.where(inside, -ratio * u, zero)
        dc = k / n1
        return Build(k.to(torch.int32), scale, 0.0, dw, ((a, da), (c, dc)))
