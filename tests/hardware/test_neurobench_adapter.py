"""NeuroBench (v2.3) itself, through the adapter, gives spikelite's numbers on zoo models.

For tiny ``csnn`` and ``mlp`` models — dense, fake-quantized, pruned (parametrized),
baked, and with fixed-point membranes — ``neurobench_benchmark`` (NeuroBench's
``Benchmark`` with its own metric classes) must equal ``profile(...).neurobench`` and
``evaluate``'s accuracy on the same data, and the JSON writer must equal
``Benchmark.run()``'s dict. Skipped when ``neurobench`` is not installed.

Exact equality for every count (integers divided by the same sample count) and for
ConnectionSparsity (both round to 4 decimals). ActivationSparsity and
ClassificationAccuracy: NeuroBench averages per-batch fractions weighted by batch size,
spikelite divides the totals once — equal in exact arithmetic, so compared to 1e-12.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader, TensorDataset

from spikelite.core import LIF
from spikelite.errors import MissingExtraError, SpikeliteError
from spikelite.hardware import (
    neurobench_benchmark,
    neurobench_results,
    profile,
    to_neurobench,
    write_neurobench_json,
)
from spikelite.models import create
from spikelite.prune import prune_unstructured_
from spikelite.quant import bake, quantize_, quantize_state_
from spikelite.train import evaluate

pytest.importorskip("neurobench")

T, N, BATCH = 5, 10, 4  # batches of 4, 4, 2: the weighting by batch size matters


def _data(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[N, T, *shape]`` spikes with adversarial steps: graded values at one step of some
    samples (MACs at that step only), −1 values at another (still ACs: NeuroBench's binary
    set is {−1, 0, 1}), and an all-zero sample (membranes at rest do not change)."""
    g = torch.Generator().manual_seed(7)
    x = (torch.rand(N, T, *shape, generator=g) < 0.3).float()
    x[1::3, 2] *= 1.0 + torch.rand(x[1::3, 2].shape, generator=g)  # graded at step 2
    x[::4, 3] = -x[::4, 3]  # −1 spikes at step 3
    x[5] = 0.0
    y = torch.randint(0, 4, (N,), generator=g)
    return x, y


def _model(name: str) -> tuple[torch.nn.Module, tuple[int, ...]]:
    torch.manual_seed(0)
    if name == "csnn":
        m = create("csnn", num_classes=4, input_size=8, widths=(4, 6))
        shape = (2, 8, 8)
    else:
        m = create("mlp", num_classes=4, input_shape=(2, 4, 4), hidden=(12, 8))
        shape = (2, 4, 4)
    with torch.no_grad():  # no bias into the first neurons: a silent input stays at rest
        first = next(mod for mod in m.modules() if isinstance(mod, (torch.nn.Linear,
                                                                    torch.nn.Conv2d)))
        if first.bias is not None:
            first.bias.zero_()
        for p in m.parameters():
            p.mul_(2.0)  # enough drive for spikes in every layer
    return m.eval(), shape


def _variant(m: torch.nn.Module, kind: str) -> torch.nn.Module:
    if kind == "quantized":
        quantize_(m, "uniform", 3)
    elif kind == "pruned":
        prune_unstructured_(m, 0.6)
    elif kind == "baked":
        quantize_(m, "uniform", 4)
        prune_unstructured_(m, 0.5)
        m, _ = bake(m)
    elif kind == "state-quantized":
        quantize_state_(m, 6)
    return m


@pytest.mark.parametrize("kind", ["dense", "quantized", "pruned", "baked", "state-quantized"])
@pytest.mark.parametrize("name", ["csnn", "mlp"])
def test_benchmark_equals_profile(name: str, kind: str, tmp_path) -> None:
    model, shape = _model(name)
    model = _variant(model, kind)
    x, y = _data(shape)
    data = TensorDataset(x, y)
    nb = neurobench_benchmark(model, data, batch_size=BATCH)

    # spikelite's profile of what it deploys: a parametrized model baked, with its sidecars
    # (as `spikelite profile` does)
    plain, sidecars = bake(model) if _parametrized(model) else (model, None)
    report = profile(plain, data, layers=sidecars, batch_size=BATCH, membrane_updates=True)
    rep = report.neurobench
    acc = evaluate(model, data, batch_size=BATCH, device="cpu")["accuracy"]
    so, nso = rep["SynapticOperations"], nb["SynapticOperations"]
    assert so == nso  # Effective_MACs, Effective_ACs, Dense: exact
    assert so["Effective_MACs"] > 0 and so["Effective_ACs"] > 0
    assert nb["MembraneUpdates"] == rep["MembraneUpdates"]
    neuron_steps = _neuron_steps(model, x)
    assert 0 < nb["MembraneUpdates"] < neuron_steps / N  # some membranes stayed unchanged
    assert nb["ConnectionSparsity"] == rep["ConnectionSparsity"]
    if kind in ("pruned", "baked"):
        assert nb["ConnectionSparsity"] > 0.4
    assert nb["ActivationSparsity"] == pytest.approx(rep["ActivationSparsity"], rel=1e-12)
    assert 0 < nb["ActivationSparsity"] < 1
    assert nb["ClassificationAccuracy"] == pytest.approx(acc, rel=1e-12)
    # of the model NeuroBench sees: the baked copy of a parametrized model (no latent
    # weights, no mask buffers)
    assert nb["Footprint"] == rep["Footprint"]
    assert nb["ParameterCount"] == rep["ParameterCount"]

    # the writer: spikelite's profile in Benchmark.run()'s layout, same keys and order
    out = neurobench_results(report, accuracy=acc)
    assert list(out) == list(nb)
    for key in ("Footprint", "ConnectionSparsity", "ParameterCount", "SynapticOperations",
                "MembraneUpdates"):
        assert out[key] == nb[key], key
    for key in ("ActivationSparsity", "ClassificationAccuracy"):
        assert out[key] == pytest.approx(nb[key], rel=1e-12)
    path = write_neurobench_json(report, tmp_path / "nb.json", accuracy=acc)
    assert json.loads(path.read_text()) == out


def _parametrized(m: torch.nn.Module) -> bool:
    return any(parametrize.is_parametrized(mod) for mod in m.modules())


def _neuron_steps(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Σ over neuron layers of neurons × T × samples (every membrane update possible)."""
    sizes: list[int] = []
    hooks = [m.register_forward_hook(lambda _m, _a, out: sizes.append(out.numel()))
             for m in model.modules() if isinstance(m, LIF)]
    try:
        with torch.no_grad():
            model(x.transpose(0, 1))
    finally:
        for h in hooks:
            h.remove()
        for m in model.modules():
            if isinstance(m, LIF):
                m.reset()
    return sum(sizes)


def test_wrapper_layouts_readouts_and_names() -> None:
    model, shape = _model("mlp")
    x, y = _data(shape)
    base = neurobench_benchmark(model, (x, y), ["synaptic_operations", "ActivationSparsity",
                                                "ClassificationAccuracy"], batch_size=BATCH)
    assert list(base) == ["SynapticOperations", "ActivationSparsity", "ClassificationAccuracy"]
    # a wrapped model and a DataLoader
    nb_model = to_neurobench(model)
    assert nb_model.__net__() is model and nb_model.sidecars is None
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH)
    again = neurobench_benchmark(nb_model, loader, ["SynapticOperations"])
    assert again["SynapticOperations"] == base["SynapticOperations"]
    # read-outs
    out = torch.tensor([[[0.0, 1.0], [2.0, 0.0]], [[3.0, 0.0], [0.0, 0.5]]])  # [T=2, B=2, C]
    from spikelite.hardware._neurobench_model import read_out

    assert read_out(out, "mean").tolist() == [0, 0]
    assert read_out(out, "sum").tolist() == [0, 0]
    assert read_out(out, "last").tolist() == [0, 1]
    assert read_out(out, "none").shape == (2, 2, 2)
    assert read_out(out, lambda o: o[0, :, 1]).tolist() == [1.0, 0.0]
    # a parametrized model is baked for NeuroBench; the model itself is unchanged
    quantize_(model, "uniform", 4)
    wrapped = to_neurobench(model)
    assert not _parametrized(wrapped.__net__()) and _parametrized(model)
    assert set(wrapped.sidecars) == {"fc1.module", "fc2.module", "fc.module"}


def test_errors_name_the_problem(monkeypatch) -> None:
    model, shape = _model("mlp")
    x, y = _data(shape)
    with pytest.raises(SpikeliteError, match="unknown readout"):
        to_neurobench(model, readout="max")
    with pytest.raises(SpikeliteError, match="unknown NeuroBench metric 'Energy'"):
        neurobench_benchmark(model, (x, y), ["Energy"])
    with pytest.raises(SpikeliteError, match="data must be"):
        neurobench_benchmark(model, x)
    # NeuroBench stores 0.0 for a failing metric; here it raises, naming it
    with pytest.raises(SpikeliteError, match="ClassificationAccuracy failed"):
        neurobench_benchmark(model, (x, y), ["ClassificationAccuracy"], readout="none")
    with pytest.raises(SpikeliteError, match="at least 3 dims"):
        neurobench_benchmark(model, (x[:, 0, 0, 0], y), ["ActivationSparsity"])

    class Silent(LIF):  # a neuron that does not report its membrane
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            obs, self.step_observer = self.step_observer, None
            try:
                return super().forward(x)
            finally:
                self.step_observer = obs

    model.lif1 = Silent(beta=0.9)
    with pytest.raises(SpikeliteError, match="MembraneUpdates cannot be counted.*lif1"):
        neurobench_benchmark(model, (x, y), ["MembraneUpdates"])
    assert neurobench_benchmark(model, (x, y), ["ActivationSparsity"])["ActivationSparsity"]
    with pytest.raises(SpikeliteError, match="Report or its .neurobench"):
        neurobench_results({"Footprint": 1})
    with pytest.raises(SpikeliteError, match="accuracy must be a fraction"):
        neurobench_results(profile(model, (x.transpose(0, 1))), accuracy=95.0)
    monkeypatch.setitem(sys.modules, "neurobench.models", None)
    with pytest.raises(MissingExtraError, match=r"spikelite\[neurobench\]"):
        to_neurobench(model)


@pytest.mark.parametrize("graph", [False, True])
def test_converted_model_equals_profile(graph: bool) -> None:
    """ANN→SNN conversions (IF neurons with a charged start; the graph converter runs its
    layers on folded ``[T·B, ...]`` tensors) with direct, graded input: MACs at the first
    layer, ACs after."""
    from torch import nn

    from spikelite.convert import ann_to_snn
    from spikelite.convert.graph import ann_to_snn_graph

    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 6 * 6, 5))
    snn = (ann_to_snn_graph if graph else ann_to_snn)(ann, torch.rand(16, 1, 6, 6),
                                                       time_steps=T)
    g = torch.Generator().manual_seed(1)
    data = TensorDataset(torch.rand(N, T, 1, 6, 6, generator=g),
                         torch.randint(0, 5, (N,), generator=g))
    nb = neurobench_benchmark(snn, data, batch_size=BATCH)
    rep = profile(snn, data, batch_size=BATCH, membrane_updates=True).neurobench
    acc = evaluate(snn, data, batch_size=BATCH, device="cpu")["accuracy"]
    assert nb["SynapticOperations"] == rep["SynapticOperations"]
    assert rep["SynapticOperations"]["Effective_MACs"] > 0
    assert rep["SynapticOperations"]["Effective_ACs"] > 0
    for key in ("MembraneUpdates", "ConnectionSparsity", "Footprint", "ParameterCount"):
        assert nb[key] == rep[key], key
    assert nb["ActivationSparsity"] == pytest.approx(rep["ActivationSparsity"], rel=1e-12)
    assert nb["ClassificationAccuracy"] == pytest.approx(acc, rel=1e-12)
