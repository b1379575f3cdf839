"""Graph (torch.fx) conversion of residual ReLU networks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from spikelite.convert import ConvertedIF, ann_to_snn, ann_to_snn_graph
from spikelite.errors import SpikeliteError

sys.path.insert(0, str(Path(__file__).parent))
from _digits import (
    ResidualNet,
    accuracy,
    digits_split,
    train_digits_resnet,
)


def _randomized(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) * 0.7 + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=g) * 0.2)
    return model.eval()


def test_residual_net_time_mean_converges_to_the_ann() -> None:
    torch.manual_seed(0)
    ann = _randomized(ResidualNet(c=8))
    x = torch.rand(24, 64)
    snn = ann_to_snn_graph(ann, x, threshold="max")
    ifs = [m for m in snn.modules() if isinstance(m, ConvertedIF)]
    assert len(ifs) == 5  # stem + 2 per block: the block's shared ReLU module became 2 IFs
    assert sum(getattr(m, "residual_input", False) for m in ifs) == 2  # fed by the sums
    assert set(snn.thresholds) == {v for v in snn.neuron_names.values()}
    code = snn.graph_module.code
    assert "mul" in code and "add" in code  # shortcut spikes rescaled before the addition
    with torch.no_grad():
        ref = ann(x)
    errs = [float((snn.simulate(x, T) - ref).abs().max() / ref.abs().max())
            for T in (25, 100, 400)]
    assert errs[2] < errs[0] and errs[2] < 0.01
    rates = snn.firing_rates(x, 50)
    assert set(rates) == set(snn.thresholds)
    assert all(float(r.max()) <= 1.0 for r in rates.values())


def test_a_sequential_ann_converts_identically_either_way() -> None:
    torch.manual_seed(1)
    ann = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 16, 12), nn.ReLU(),
                        nn.Linear(12, 3))
    _randomized(ann)
    x = torch.rand(20, 1, 8, 8)
    seq, graph = ann_to_snn(ann, x), ann_to_snn_graph(ann, x)
    assert sorted(seq.thresholds.values()) == pytest.approx(sorted(graph.thresholds.values()))
    torch.testing.assert_close(graph.simulate(x, 30), seq.simulate(x, 30), rtol=1e-5,
                               atol=1e-5)
    a, b = seq.profile(x, 10).exact(), graph.profile(x, 10).exact()
    for k in ("effective_ac", "effective_mac", "events", "dense"):
        assert b[k] == pytest.approx(a[k]), k
    assert b["effective_ac"] > 0


def test_trained_residual_digits_net_converts_within_one_point() -> None:
    xtr, ytr, xte, yte = digits_split()
    ann = train_digits_resnet(xtr, ytr, epochs=6)
    with torch.no_grad():
        ann_acc = accuracy(ann(xte), yte)
    assert ann_acc > 95
    snn = ann_to_snn_graph(ann, xtr)
    assert abs(accuracy(snn.simulate(xte, 100), yte) - ann_acc) <= 1.0
    report = snn.profile(xte[:32], 10)
    assert report.exact()["effective_ac"] > 0 and not report.to_dict()["uncounted"]
    # channel-wise thresholds: per-channel θ and per-channel shortcut scales
    chan = ann_to_snn_graph(ann, xtr, granularity="channel")
    assert "_channel_mul" in chan.graph_module.code
    assert all(t.shape == (16,) for t in chan.thresholds.values())
    assert abs(accuracy(chan.simulate(xte, 100), yte) - ann_acc) <= 1.0
    # measured with 15 epochs (bench_residual.py): T = 2: 95.17 → 97.99 %
    assert accuracy(chan.simulate(xte, 2), yte) > accuracy(snn.simulate(xte, 2), yte)


class _Cat(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(x), x], 1)


class _Branchy(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) if x.sum() > 0 else x


class _Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.fc(x)))


@pytest.mark.parametrize("model,needle", [
    (_Cat(), "node 'cat'"),
    (_Branchy(), "cannot trace"),
    (_Twice(), "called more than once"),
    (nn.Sequential(nn.Linear(4, 4), nn.Sigmoid()), "Sigmoid"),
    (nn.Sequential(nn.ReLU(), nn.BatchNorm1d(4)), "does not directly follow"),
])
def test_unconvertible_graphs_are_refused_by_name(model: nn.Module, needle: str) -> None:
    with pytest.raises(SpikeliteError, match=needle):
        ann_to_snn_graph(model, torch.rand(8, 4))


def test_sequential_converter_points_to_the_graph_converter() -> None:
    with pytest.raises(SpikeliteError, match="ann_to_snn_graph"):
        ann_to_snn(ResidualNet(), torch.rand(4, 64))


def test_linear_batchnorm_pairs_are_fused() -> None:
    torch.manual_seed(2)
    ann = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    g = torch.Generator().manual_seed(5)
    ann[1].running_mean.copy_(torch.rand(8, generator=g) * 0.2)
    ann[1].running_var.copy_(torch.rand(8, generator=g) + 0.5)
    ann.eval()
    x = torch.rand(30, 6)
    snn = ann_to_snn_graph(ann, x, threshold="max")
    assert "BatchNorm" not in str(snn.graph_module)
    with torch.no_grad():
        ref = ann(x)
    assert float((snn.simulate(x, 400) - ref).abs().max() / ref.abs().max()) < 0.01
