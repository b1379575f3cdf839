"""Spike flips of the old and the exact (``spikelite.core.peers``) mappings against the peers.

Uses the adversarial inputs of ``tests/core/test_peers.py`` (each step's input built from
the peer's own state so that the membrane lands on θ, θ ± 1–2 ulp, or anywhere in
[−θ/2, 3θ]) with 20 steps × 10 000 neurons = 200 000 spike decisions per case. The old
mappings get the peer's own parameter values (float32 tensors where the peer stores them),
so their flips come from the operation order (and, for snnTorch's subtract, the reset).

    PYTHONPATH=src python benchmarks/peer_flips.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))
import test_peers as tp

from spikelite.core import LIF
from spikelite.core.peers import (
    lif_from_norse,
    lif_from_snntorch,
    lif_from_spikingjelly,
)

tp.T, tp.SHAPE = 20, (10, 1000)


def flips(lif: LIF, x: torch.Tensor, s: torch.Tensor) -> int:
    if x.dtype == torch.float64:
        lif = lif.double()
    with torch.no_grad():
        return int((lif(x) != s).sum())


def main() -> None:
    from spikingjelly.activation_based import neuron

    print(f"{'case':58s} {'dtype':8s} {'spikes':>7s} {'old':>7s} {'exact':>6s}")
    for dtype in (torch.float32, torch.float64):
        name = str(dtype).split(".")[-1]
        for tau in (3.0, 7.0, 1.5):
            node = neuron.LIFNode(tau=tau, decay_input=False, v_reset=None)
            x, s, _ = tp._sj_drive(node, lambda v, h, t=tau: h - v + v / t, 1.0, dtype, 0.0)
            old = LIF(beta=1 - 1 / tau, reset="subtract")
            new = lif_from_spikingjelly(neuron.LIFNode(tau=tau, decay_input=False,
                                                       v_reset=None))
            label = f"SpikingJelly LIFNode(tau={tau:g}, decay_input=False, v_reset=None)"
            print(f"{label:58s} {name:8s} {int(s.sum()):7d} {flips(old, x, s):7d} "
                  f"{flips(new, x, s):6d}")
        for inv, vl, vr in ((700.0, 0.0, 0.0), (300.0, 0.1, -0.2)):
            cell, x, s, _ = tp._norse(inv, 1e-3, vl, vr, False, dtype)
            # the old mapping, with the peer's own (float32) parameter values
            old = LIF(tau=1 / float(1e-3 * cell.p.tau_mem_inv), threshold=cell.p.v_th,
                      v_reset=cell.p.v_reset, reset="zero", strict=True)
            label = f"Norse LIFBoxCell(tau_mem_inv={inv:g}, v_leak={vl:g}, v_reset={vr:g})"
            print(f"{label:58s} {name:8s} {int(s.sum()):7d} {flips(old, x, s):7d} "
                  f"{flips(lif_from_norse(cell), x, s):6d}")
        for reset in ("subtract", "zero"):
            leaky, x, s, _ = tp._snntorch(0.9, 1.0, reset, True, dtype)
            old = LIF(beta=leaky.beta, reset=reset, strict=True)
            label = f"snnTorch Leaky(beta=0.9, reset_mechanism={reset!r})"
            print(f"{label:58s} {name:8s} {int(s.sum()):7d} {flips(old, x, s):7d} "
                  f"{flips(lif_from_snntorch(leaky), x, s):6d}")


if __name__ == "__main__":
    main()
