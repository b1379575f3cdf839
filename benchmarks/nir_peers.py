"""Which NIR exports load in snnTorch, SpikingJelly, Norse and nirtorch, and run equal there.

Every zoo model (tiny sizes) and the demo's kinds of Pareto points (csnn FP32, 2-bit DuQ +
80 % magnitude pruning, 4-bit ReScaW + 50 % channel pruning; built here on a tiny csnn with
``quantize_``/pruners, as the demo's schedules do, without training) are exported with
``to_nir`` (default, and ``peer=`` each library) and loaded by each importer. A cell says
whether it loads, whether its outputs (the read-out's per-step values) equal spikelite's
on the same random spikes (within 1e-5: float rounding of the read-out; one flipped spike
moves them by far more) and whether a batch runs at once (``✓ batched``) or only one
sample at a time (``✓ 1 by 1``). ``tests/export/test_peers.py`` checks the main cells.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/nir_peers.py > matrix.md
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from spikelite.errors import SpikeliteError
from spikelite.export import to_nir
from spikelite.export.nir import DEFAULT_DT, from_nir
from spikelite.export.peers import PEERS, PeerCheck, check_in_peer
from spikelite.models import create
from spikelite.prune import apply_masks_, compute_masks, prune_channels_
from spikelite.quant import bake, quantize_

ALL_PEERS = (*PEERS, "nirtorch")


def _fire(model: nn.Module, seed: int) -> nn.Module:
    """Random BatchNorm statistics and weights scaled up, so that every layer spikes."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) * 0.2)
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=g) * 3 / fan_in ** 0.5)
    return model.eval()


def _tiny_csnn(**kw: object) -> nn.Module:
    return create("csnn", input_size=8, widths=(4, 8), **kw)


def _duq2_magnitude80() -> nn.Module:
    model = _fire(_tiny_csnn(), 1)
    quantize_(model, "duq", 2)
    apply_masks_(model, compute_masks(model, 0.8, scope="global", method="magnitude"),
                 order="after_quant")
    return model


def _rescaw4_channels50() -> nn.Module:
    model = _fire(_tiny_csnn(), 2)
    prune_channels_(model, 0.5, "l1")  # the demo uses SVS (needs data); same surgery
    quantize_(model, "rescaw", 4, skip_first=True, skip_last=True)
    return model


CASES: dict[str, Callable[[], nn.Module]] = {
    "mlp": lambda: _fire(create("mlp", input_shape=(2, 8, 8), hidden=(16,)), 0),
    "csnn": lambda: _fire(_tiny_csnn(), 0),
    "csnn pool=avg": lambda: _fire(_tiny_csnn(pool="avg"), 0),
    "vgg16": lambda: _fire(create("vgg16", input_size=32, widths=[2] * 13), 0),
    "vggsnn": lambda: _fire(create("vggsnn", input_size=16, widths=[2] * 8), 0),
    "resnet20": lambda: create("resnet20", input_size=8, widths=[2] * 19),
    "tcja-dvsgesture": lambda: create("tcja-dvsgesture"),
    "demo fp32 (csnn)": lambda: _fire(_tiny_csnn(), 3),
    "demo joint-duq2-magnitude80": _duq2_magnitude80,
    "demo qp-rescaw4-svs50 (l1 here)": _rescaw4_channels50,
}
"""Row name → a model in evaluation mode (quantized/pruned ones not yet baked)."""


@dataclass(frozen=True)
class Row:
    """One model: why spikelite refused it (or ``None``), its own read-back, and the
    :class:`PeerCheck` of each ``(export, peer)`` (export ``None``: the default)."""

    name: str
    refused: str | None
    readback: float | None
    checks: dict[tuple[str | None, str], PeerCheck]
    spikes: float


def evaluate(name: str, exports: tuple[str | None, ...] = (None, *PEERS),
             peers: tuple[str, ...] = ALL_PEERS, *, time_steps: int = 4, batch: int = 3,
             seed: int = 0) -> Row:
    """Export case ``name`` each way of ``exports`` and check it in each of ``peers``
    (``--for P`` exports only in P and the other peers named)."""
    model = CASES[name]()
    plain, sidecars = bake(model)
    plain.eval()
    shape = tuple(plain.input_shape)
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(time_steps, batch, *shape, generator=g) < 0.3).float()
    try:
        graph = to_nir(plain, sidecars=sidecars)
    except SpikeliteError as exc:
        return Row(name, str(exc).split(";")[0], None, {}, 0.0)
    with torch.no_grad():
        ref = plain(x)
        back = from_nir(graph).eval()(x)
    readback = float((back - ref).abs().max())
    hidden = [m for m in plain.modules() if type(m).__name__ == "LIF"]
    spikes = float(len(hidden))  # layers with neurons (they are scaled to fire)
    checks = {}
    for export in exports:
        g_exp = graph if export is None else to_nir(plain, sidecars=sidecars, peer=export)
        for peer in peers:
            checks[(export, peer)] = check_in_peer(plain, g_exp, peer, x, dt=DEFAULT_DT)
    return Row(name, None, readback, checks, spikes)


def markdown(rows: list[Row]) -> str:
    """The matrix: default export × every importer, then each ``--for P`` export in P."""
    heads = ["model", "spikelite `from_nir`",
             *(f"{p} (default)" for p in ALL_PEERS),
             *(f"{p} (`--for {p}`)" for p in PEERS)]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for r in rows:
        if r.refused:
            cells = [f"not exported: {r.refused}"] + [""] * (len(heads) - 2)
        else:
            cells = ["✓ equal" if (r.readback or 0.0) <= 1e-5 else f"✗ {r.readback:.2g}"]
            cells += [r.checks[(None, p)].cell() if (None, p) in r.checks else ""
                      for p in ALL_PEERS]
            cells += [r.checks[(p, p)].cell() if (p, p) in r.checks else "" for p in PEERS]
        lines.append("| " + " | ".join([f"`{r.name}`", *cells]) + " |")
    return "\n".join(lines)


def main(names: list[str]) -> None:
    rows = [evaluate(n) for n in (names or list(CASES))]
    print(markdown(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
