"""Converted SNNs and their ANNs through the hardware profiler: exact SynOps and MACs."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from spikelite.convert import ConvertedIF, ann_to_snn
from spikelite.core import TimeDistributed
from spikelite.hardware import profile


def _tiny() -> tuple[nn.Sequential, torch.Tensor]:
    """A 6-5-4-3 ReLU MLP with some zero weights and an input with zeros."""
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(),
                        nn.Linear(4, 3))
    with torch.no_grad():
        ann[0].weight[0, :3] = 0.0
        ann[0].weight[:, 5] = 0.0  # input feature 5: no outgoing synapse at all
        ann[2].weight[1, :] = 0.0
        ann[2].weight[3, 0] = 0.0
        ann[4].weight[:, 2] = 0.0
        ann[4].weight[0, 1] = 0.0
    x = torch.rand(5, 6)
    x[0, :2] = 0.0
    x[3, 4] = 0.0
    return ann, x


def _nz_fanout(w: torch.Tensor) -> torch.Tensor:
    """Non-zero outgoing synapses per input feature of a Linear weight ``[out, in]``."""
    return (w != 0).sum(0).double()


def test_profile_converted_snn_counts_synops_exactly() -> None:
    ann, x = _tiny()
    snn = ann_to_snn(ann, x, threshold="max")
    T, n = 7, x.shape[0]
    linears = [m.module for m in snn if isinstance(m, TimeDistributed)]
    neurons = [m for m in snn if isinstance(m, ConvertedIF)]
    spikes: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: spikes.append(out.clone()))
             for m in neurons]
    ref = snn.simulate(x, T)
    for h in hooks:
        h.remove()
    assert all(s.shape[0] == T for s in spikes) and sum(float(s.sum()) for s in spikes) > 0

    # by hand: the analog first layer (MACs every step), then Σ input spikes × fan-out
    macs = T * float(((x != 0).double() * _nz_fanout(linears[0].weight)).sum()) / n
    synops = sum(float((s.double() * _nz_fanout(lin.weight)).sum())
                 for s, lin in zip(spikes, linears[1:], strict=True)) / n
    dense = T * sum(lin.weight.numel() for lin in linears)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every layer is classified: nothing uncounted
        rep = snn.profile(x, T, preset="compute-only-fp32")
    ex = rep.exact()
    assert ex["effective_mac"] == macs
    assert ex["effective_ac"] == synops
    assert ex["dense"] == dense
    assert ex["spikes"] == sum(float(s.sum()) for s in spikes) / n
    assert rep.neurobench["SynapticOperations"]["Effective_ACs"] == synops
    biases = T * sum(lin.out_features for lin in linears)  # one bias addition per output
    assert rep.total_pj == pytest.approx(0.9 * (synops + biases) + 4.6 * macs)
    assert not rep.uncounted and rep.time_steps == T and rep.samples == n

    # the same counts from the generic entry point on the encoded input, in chunks
    rep2 = profile(snn, snn.encode(x, T), preset="compute-only-fp32")
    assert rep2.exact()["effective_ac"] == synops
    rep3 = snn.profile(x, T, batch_size=2)
    assert rep3.exact()["effective_ac"] == synops and rep3.samples == n
    # profiling leaves the simulation untouched
    assert torch.equal(snn.simulate(x, T), ref)


def test_profile_ann_macs_and_effective_macs() -> None:
    ann, x = _tiny()
    n = x.shape[0]
    eff = 0.0
    h = x
    for m in ann:
        if isinstance(m, nn.Linear):
            eff += float(((h != 0).double() * _nz_fanout(m.weight)).sum())
        h = m(h)
    eff /= n
    dense = sum(m.weight.numel() for m in ann if isinstance(m, nn.Linear))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nn.ReLU is known (noted), not "not counted"
        rep = profile(ann, x[None])  # an ANN is a one-step network: [1, B, ...]
    ex = rep.exact()
    assert ex["effective_mac"] == pytest.approx(eff, abs=0, rel=1e-12)
    assert ex["effective_ac"] == 0.0
    assert ex["dense"] == dense
    assert not rep.uncounted and any("ReLU" in note for note in rep.notes)
