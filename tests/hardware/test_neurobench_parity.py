"""Optional: NeuroBench (v2.3) gives the same numbers on a snnTorch-equivalent model.

Skipped when ``neurobench`` or ``snntorch`` is not installed. The models have plain,
baked weights with exact zeros (NeuroBench cannot read parametrized masks).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from spikelite.core import LIF
from spikelite.hardware import profile

snn = pytest.importorskip("snntorch")
pytest.importorskip("neurobench")


def _models() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(3)
    fc1, fc2 = nn.Linear(20, 30), nn.Linear(30, 5)
    with torch.no_grad():
        fc1.weight.mul_(3.0)
        fc2.weight.mul_(4.0)
        fc1.weight[fc1.weight.abs() < 0.3] = 0.0  # magnitude pruning, baked
        fc2.weight[:, ::3] = 0.0
    beta = 0.8
    snt = nn.Sequential(
        fc1, snn.Leaky(beta=beta, init_hidden=True, reset_mechanism="zero"),
        fc2, snn.Leaky(beta=beta, init_hidden=True, output=True, reset_mechanism="zero"),
    )
    ours = nn.Sequential(
        nn.Linear(20, 30), LIF(beta=beta, reset="zero", strict=True, surrogate="atan"),
        nn.Linear(30, 5), LIF(beta=beta, reset="zero", strict=True, surrogate="atan"),
    )
    ours.load_state_dict({k: v for k, v in snt.state_dict().items() if "." in k and
                          k.split(".")[0] in ("0", "2")}, strict=False)
    return snt, ours


def test_parity_with_neurobench() -> None:
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, ParameterCount
    from neurobench.metrics.workload import (
        ActivationSparsity,
        MembraneUpdates,
        SynapticOperations,
    )
    from neurobench.models import SNNTorchModel

    snt, ours = _models()
    torch.manual_seed(4)
    x = (torch.rand(12, 6, 20) < 0.3).float()  # [B, T, F] spikes
    x[::3, 2] *= torch.rand(20) * 2  # graded inputs at one step of some samples → MACs
    y = torch.zeros(12, dtype=torch.long)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    bench = Benchmark(SNNTorchModel(snt), loader, [], [],
                      [[ConnectionSparsity, ParameterCount],
                       [SynapticOperations, ActivationSparsity, MembraneUpdates]])
    nb = bench.run(quiet=True)
    rep = profile(ours, loader, membrane_updates=True).neurobench
    so = rep["SynapticOperations"]
    assert so["Effective_ACs"] == pytest.approx(nb["SynapticOperations"]["Effective_ACs"])
    assert so["Effective_MACs"] == pytest.approx(nb["SynapticOperations"]["Effective_MACs"])
    assert so["Effective_MACs"] > 0 and so["Effective_ACs"] > 0
    assert so["Dense"] == pytest.approx(nb["SynapticOperations"]["Dense"])
    assert rep["ActivationSparsity"] == pytest.approx(nb["ActivationSparsity"])
    assert rep["MembraneUpdates"] == pytest.approx(nb["MembraneUpdates"])
    assert rep["ConnectionSparsity"] == nb["ConnectionSparsity"]
    assert rep["ParameterCount"] == nb["ParameterCount"]
