"""Weight-MSE-optimal initial ranges for the learnable quantizers (DuQ, LSQ).

The schemes' own initialisations are heuristics: DuQ starts ``a = c = max(|μ±3σ|)``, which
at 2 bits (threshold ``a/2 = 1.5σ``) zeroes ~87 % of a Gaussian layer; LSQ starts
``s = 2·mean|w|/√Q_P``. :func:`mse_init_` instead picks, on a grid of candidates, the
clip (DuQ) or step (LSQ) minimising the squared quantization error of the weights the
quantizer sees (masked-out weights excluded), with DuQ's output scale ``c`` then set to
its least-squares optimum::

    DuQ:  k = round(n1·clip(w/a, −1, 1)),  c* = n1·Σ w·k / Σ k²,  err(a) = Σ (w − c*·k/n1)²
    LSQ:  k = clamp(round(w/s), −Q_N, Q_P),                      err(s) = Σ (w − s·k)²

(the "optimal clipping" idea of Banner et al. 2019 and LSQ+'s MSE initialisation,
Bhalgat et al. 2020, on the weights only).
"""

from __future__ import annotations

import torch
from torch import nn

from spikelite.core import synaptic as syn
from spikelite.quant.apply import fake_quant_of
from spikelite.quant.parametrize import FakeQuant

#: schemes :func:`mse_init_` initialises (others are left as they are)
MSE_INIT_SCHEMES = ("duq", "lsq")
_GRID = torch.linspace(0.01, 1.0, 100, dtype=torch.float64)


def _input_of(module: nn.Module, fq: FakeQuant) -> torch.Tensor:
    """The tensor ``fq`` quantizes: the latent weight through the parametrizations before
    it (a mask registered before the quantizer)."""
    x = syn.latent_weight(module)
    for p in syn.weight_parametrizations(module):
        if p is fq:
            break
        x = p(x)
    return x.detach()


@torch.no_grad()
def duq_mse_range(w: torch.Tensor, bits: int) -> tuple[float, float]:
    """``(a, c)`` of DuQ at ``bits`` minimising ``Σ (w − Q(w))²`` (see the module doc)."""
    w = w.detach().double().flatten()
    n1 = 2 ** (bits - 1) - 1
    m = float(w.abs().max())
    if m == 0:
        return 1e-8, 1e-8
    best = (float("inf"), m, m)
    for r in _GRID.tolist():
        a = r * m
        k = torch.round(n1 * (w / a).clamp(-1, 1))
        kk = float((k * k).sum())
        if kk == 0:
            continue
        c = n1 * float((w * k).sum()) / kk
        err = float((w - c * k / n1).square().sum())
        if err < best[0]:
            best = (err, a, c)
    return best[1], best[2]


@torch.no_grad()
def lsq_mse_step(w: torch.Tensor, bits: int) -> float:
    """LSQ's step ``s`` at ``bits`` minimising ``Σ (w − s·clamp(round(w/s), −Q_N, Q_P))²``."""
    w = w.detach().double().flatten()
    qn, qp = 2 ** (bits - 1), 2 ** (bits - 1) - 1
    m = float(w.abs().max())
    if m == 0:
        return 1e-8
    best = (float("inf"), m / qp)
    for r in _GRID.tolist():
        s = r * m / qp
        err = float((w - s * torch.round(w / s).clamp(-qn, qp)).square().sum())
        if err < best[0]:
            best = (err, s)
    return best[1]


@torch.no_grad()
def mse_init_(model: nn.Module) -> list[str]:
    """Set every DuQ/LSQ quantizer of ``model`` to its weight-MSE-optimal range (weights
    removed by a mask do not count). Returns the names of the layers changed."""
    changed = []
    for name, module in syn.synaptic_layers(model):
        fq = fake_quant_of(module)
        if fq is None or fq.scheme_name not in MSE_INIT_SCHEMES:
            continue
        w = _input_of(module, fq)
        wm = syn.mask_of(module)
        if wm is not None and wm.mask.shape == w.shape:
            w = w[wm.mask]
        if w.numel() == 0:
            continue
        if fq.scheme_name == "duq":
            a, c = duq_mse_range(w, fq.bits)
            fq.a.data.fill_(a)
            fq.c.data.fill_(c)
        else:
            fq.step.data.fill_(lsq_mse_step(w, fq.bits))
        changed.append(name)
    return changed
