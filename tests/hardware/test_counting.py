"""Exact counting: effective/dense operations against a brute-force NeuroBench-style
count, AC/MAC split, plain PyTorch models, zoo models, and uncounted layers."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.hardware import profile, record_activity
from spikelite.models import create

from .helpers import symmetric_sidecar


def brute(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> tuple[float, float, float]:
    """NeuroBench's definition: a binarized copy of the layer on binarized inputs, per step.

    Returns (effective, Σ fan-out over events, dense) summed over steps and samples."""
    def run(inp: torch.Tensor, w: torch.Tensor) -> float:
        if isinstance(layer, nn.Linear):
            return float(F.linear(inp, w).sum())
        return float(layer._conv_forward(inp, w, None).sum())

    xb = (x != 0).float()
    wb = (weight != 0).float()
    return run(xb, wb), run(xb, torch.ones_like(wb)), run(torch.ones_like(xb), torch.ones_like(wb))


class Capture(nn.Module):
    """Records the input of a wrapped layer (for the brute-force reference)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []


def plain_model() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 8, 3, stride=2, padding=1)),
        LIF(beta=0.9, threshold=0.3),
        TimeDistributed(nn.AvgPool2d(2)),  # graded inputs → MACs next
        TimeDistributed(nn.Conv2d(8, 6, 3, padding=1, groups=2, bias=False)),
        LIF(beta=0.9, threshold=0.3),
        Flatten(),
        nn.Linear(6 * 4 * 4, 5),  # applied to [T, B, F] directly
    )
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(3.0)
                m.weight[m.weight.abs() < m.weight.abs().median()] = 0.0  # 50 % pruned
    return model


def inputs_of(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda _m, a, _o, n=n: seen.__setitem__(n, a[0].detach()))
             for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


def test_effective_and_dense_match_brute_force() -> None:
    model = plain_model()
    x = (torch.rand(4, 3, 2, 16, 16) < 0.2).float()
    act = record_activity(model, x)
    seen = inputs_of(model, x)
    modules = dict(model.named_modules())
    for name, a in act.synaptic.items():
        m = modules[name]
        eff, fan, dense = brute(m, seen[name], m.weight)
        assert a.eff == eff and a.fan == fan and a.dense == dense, name
        assert float(a.fiber_events.sum()) == a.events == float((seen[name] != 0).sum())
        assert sum(a.events_per_step) == a.events and len(a.events_per_step) == 4
    assert act.synaptic["0.module"].eff_mac == 0  # binary spikes in: ACs
    assert act.synaptic["3.module"].eff_ac == 0  # after average pooling: MACs
    assert act.samples == 3 and act.time_steps == 4


def test_pruning_reduces_effective_ops_exactly() -> None:
    model = plain_model()
    x = (torch.rand(3, 2, 2, 16, 16) < 0.3).float()
    before = profile(model, x).exact()
    conv = model[0].module
    keep = conv.weight != 0
    with torch.no_grad():
        conv.weight[:, 0] = 0.0  # remove every weight of input channel 0
    after = record_activity(model, x).synaptic["0.module"]
    eff, _, _ = brute(conv, inputs_of(model, x)["0.module"], conv.weight)
    assert after.eff == eff
    assert after.eff < before["nonzero_fanout"]
    assert int(keep.sum()) > int((conv.weight != 0).sum())


def test_sidecar_mask_and_bits_drive_the_counts() -> None:
    """Without touching the model, a sidecar with a mask changes the exact counts."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(40, 10, bias=False))
    x = (torch.rand(2, 5, 40) < 0.5).float()
    dense = profile(model, x)
    keep = torch.rand(10, 40) < 0.25
    lq = symmetric_sidecar("0", model[0].weight, 4, keep)
    sparse = profile(model, x, layers={"0": lq})
    xb = (x != 0).float()
    expected = float((xb @ (lq.dequantize(model[0].weight) != 0).float().t()).sum()) / 5
    assert sparse.exact()["nonzero_fanout"] == pytest.approx(expected)
    assert sparse.exact()["nonzero_fanout"] < dense.exact()["nonzero_fanout"]
    assert sparse.layers[0].counts["bits"] == 4 and dense.layers[0].counts["bits"] == 32


def test_max_and_mean_per_step() -> None:
    model = nn.Sequential(nn.Linear(8, 4))
    x = torch.zeros(3, 2, 8)
    x[1, 0, :6] = 1.0
    x[2, 1, :2] = 1.0
    rep = profile(model, x)
    c = rep.layers[0].counts
    assert c["events_max_per_step"] == 6
    assert c["events_mean_per_step"] == pytest.approx(8 / 6)
    assert c["events"] == pytest.approx(4.0)  # per sample, summed over steps


class Stateful(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.state = None

    def reset(self) -> None:
        self.state = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.state = x if self.state is None else self.state + x
        return self.state


def test_unknown_layers_are_reported_by_name() -> None:
    model = nn.Sequential(nn.Linear(6, 6), Stateful(), nn.Tanh(), nn.Linear(6, 2))
    x = torch.rand(2, 2, 6)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        rep = profile(model, x)
    names = {u["name"]: u["reason"] for u in rep.uncounted}
    assert "stateful" in names["1"] and "unknown layer" in names["2"]
    assert any("not counted" in str(m.message) for m in w)
    assert "NOT COUNTED: 1 (Stateful)" in rep.render()
    with pytest.raises(SpikeliteError, match="cannot be counted"):
        profile(model, x, strict=True)
    lstm = nn.Sequential(nn.LSTM(4, 4))
    from spikelite.hardware import classify
    assert classify(lstm).uncounted[0]["reason"] == "recurrent layer"


def test_tcja_and_resnet_zoo_models() -> None:
    torch.manual_seed(0)
    tcja = create("tcja-dvsgesture", input_size=32, time_steps=4, widths=[4] * 5,
                  fc_hidden=8)
    for m in tcja.modules():
        if isinstance(m, LIF):
            m.threshold.fill_(0.02)  # keep an untrained net spiking all the way down
    x = (torch.rand(4, 2, 2, 32, 32) < 0.3).float()
    rep = profile(tcja, x)
    names = [r.name for r in rep.layers]
    assert "tcja4.conv_channel" in names and "tcja5.conv_time" in names
    conv_t = next(r for r in rep.layers if r.name == "tcja4.conv_time")
    assert conv_t.counts["steps"] == 1  # one call per sequence: not split into steps
    assert conv_t.counts["effective_mac"] > 0  # spatial means of spikes are graded
    assert any("TCJA" in n for n in rep.notes)
    res = create("resnet20", input_size=8, widths=[4] * 19)
    rep = profile(res, torch.rand(2, 2, 3, 8, 8))
    assert any("BasicBlock" in n for n in rep.notes) and not rep.uncounted
    assert rep.neurobench["SynapticOperations"]["Effective_MACs"] > 0  # analog first layer


def test_data_forms_and_limit() -> None:
    from torch.utils.data import DataLoader, TensorDataset

    model = nn.Sequential(nn.Linear(8, 4))
    xt = (torch.rand(10, 3, 8) < 0.5).float()  # [B, T, F]
    ds = TensorDataset(xt, torch.zeros(10))
    a = profile(model, ds, batch_size=4).exact()
    b = profile(model, DataLoader(ds, batch_size=3)).exact()
    c = profile(model, xt.transpose(0, 1)).exact()
    assert a == pytest.approx(b)
    assert a == pytest.approx(c)
    assert profile(model, ds, limit=4).samples == 4
    with pytest.raises(SpikeliteError, match="time-major"):
        profile(model, torch.rand(3, 8))


def test_graded_steps_decided_per_step() -> None:
    """NeuroBench's rule per step: binary iff every |x| ∈ {0, 1}; the cheap maximum test
    and the exact fallback together give the same split as the definition."""
    torch.manual_seed(0)
    T, B, Fi = 6, 3, 8
    x = (torch.rand(T, B, Fi) < 0.5).float()
    x[1, 0, 0] = 0.5  # ≤ 1 but graded
    x[2, 1, 3] = 2.0  # > 1
    x[3] = -x[3]  # ±1: binary
    x[4, 2, 1] = -0.25
    x[5, 0, 2] = -3.0  # only the minimum is outside [−1, 1]
    model = nn.Sequential(nn.Linear(Fi, 4))
    a = record_activity(model, x, time_major=True).synaptic["0"]
    graded = [bool(((s.abs() != 0) & (s.abs() != 1)).any()) for s in x]
    assert graded == [False, True, True, False, True, True]
    nz = (x != 0).float()
    assert a.events == float(nz.sum())
    assert a.events_graded == float(sum(nz[t].sum() for t in range(T) if graded[t]))
    assert a.dense_mac == Fi * 4 * B * sum(graded)
    assert a.fiber_events.tolist() == nz.sum((0, 1)).double().tolist()


def test_batchnorms_are_attached_to_the_layer_they_fold_into() -> None:
    from spikelite.hardware import classify
    from spikelite.hardware.energy import resolve_options
    from spikelite.hardware.presets import get_preset

    model = nn.Sequential(TimeDistributed(nn.Conv2d(2, 4, 3, bias=False)),
                          TimeDistributed(nn.BatchNorm2d(4)), LIF(),
                          TimeDistributed(nn.BatchNorm2d(4)))
    cl = classify(model)
    assert cl.synaptic["0.module"].batchnorm == "1.module"
    assert any("folds into 0.module's bias" in n for n in cl.notes)
    assert any(n.startswith("3.module") and "not costed" in n for n in cl.notes)
    with pytest.raises(SpikeliteError, match="batchnorm must be one of"):
        resolve_options(get_preset("horowitz45"), {"batchnorm": "merge"})
    x = (torch.rand(3, 2, 2, 6, 6) < 0.3).float()
    plain = profile(model, x, "horowitz45", membrane_updates=False)
    folded = plain.recost("horowitz45", "dense", batchnorm="fold")
    conv_plain = next(r for r in plain.layers if r.name == "0.module")
    conv_fold = next(r for r in folded.layers if r.name == "0.module")
    outputs = conv_fold.counts["outputs"]
    assert outputs == 4 * 4 * 4 * 3  # channels × positions × steps, per sample
    assert "compute.bias" not in conv_plain.components
    assert conv_fold.components["compute.bias"] == pytest.approx(
        outputs * get_preset("horowitz45").e_ac(16, float32=True))


def test_residual_additions_are_charged_only_when_asked() -> None:
    from spikelite.hardware.presets import get_preset

    torch.manual_seed(0)
    res = create("resnet20", input_size=8, widths=[4] * 19)
    rep = profile(res, torch.rand(2, 2, 3, 8, 8), "horowitz45", membrane_updates=False)
    counted = rep.recost("horowitz45", "dense", residual="count")
    e_add = get_preset("horowitz45").e_add(16)
    fed = {r.name: r for r in counted.layers if "compute.residual" in r.components}
    assert len(fed) == 9 and all(n.endswith(".lif2") for n in fed)  # one per basic block
    for r in fed.values():
        assert r.components["compute.residual"] == pytest.approx(
            r.counts["neuron_steps"] * e_add)
    extra = sum(r.components["compute.residual"] for r in fed.values())
    assert counted.total_pj - rep.total_pj == pytest.approx(extra)
    assert not any("compute.residual" in r.components for r in rep.layers)
    assert any("residual=count" in n for n in rep.notes)
