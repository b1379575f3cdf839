"""NIR export/import: exact round trips, a cross-load into snnTorch, clear refusals."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.core.neurons import reset_states
from spikelite.errors import SpikeliteError
from spikelite.models import SpikingSequential, create
from spikelite.quant import bake, quantize_

nir = pytest.importorskip("nir")
from spikelite.export import from_nir, to_nir  # noqa: E402
from spikelite.export.nir import write_nir  # noqa: E402

from ._helpers import spikes, train_tiny, two_layer_mlp  # noqa: E402


def _randomize_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)


def _roundtrip(model: nn.Module, path, **kw):
    write_nir(to_nir(model, **kw), path)
    return from_nir(nir.read(str(path))).eval()


def test_csnn_roundtrip_through_a_file_is_exact(tmp_path):
    torch.manual_seed(0)
    model = create("csnn").eval()
    _randomize_bn(model)
    graph = to_nir(model)
    kinds = [type(n).__name__ for n in graph.nodes.values()]
    assert kinds == ["Input", "Conv2d", "LIF", "SumPool2d", "Threshold", "Conv2d", "LIF",
                     "SumPool2d", "Threshold", "Flatten", "Affine", "Output"]
    assert graph.nodes["conv1"].metadata["spikelite.folded_batchnorm"] == "bn1.module"
    back = _roundtrip(model, tmp_path / "csnn.nir")
    x = spikes(10, 3, 2, 34, 34, rate=0.15)
    with torch.no_grad():
        ref, got = model(x), back(x)
        reset_states(model)
        reset_states(back)
        lif_ref = nn.Sequential(*list(model.children())[:3])(x)
        lif_got = nn.Sequential(*list(back.children())[:2])(x)
    assert float(lif_ref.sum()) > 100  # the neurons do fire
    torch.testing.assert_close(lif_got, lif_ref, rtol=0, atol=0)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_neuron_parameters_map_onto_nir_euler_steps(tmp_path):
    dt = 1e-3
    beta = torch.tensor([0.5, 0.75, 0.9, 0.95])
    layers = OrderedDict(
        fc1=TimeDistributed(nn.Linear(6, 4)), lif1=LIF(beta=beta, threshold=0.8),
        fc2=TimeDistributed(nn.Linear(4, 5)), lif2=LIF(tau=2.0, v_reset=-0.1),
        fc3=TimeDistributed(nn.Linear(5, 3)), if3=LIF(beta=1.0, threshold=1.5))
    torch.manual_seed(1)
    model = SpikingSequential(layers, num_classes=3, input_shape=(6,))
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.weight.data *= 3
    g = to_nir(model, dt=dt)
    lif1, lif2, if3 = g.nodes["lif1"], g.nodes["lif2"], g.nodes["if3"]
    # β-form: τ = dt/(1−β), r = τ/dt, so that v + dt/τ·(−v + r·x) = β·v + x
    np.testing.assert_allclose(1 - dt / lif1.tau, beta.numpy(), rtol=1e-12)
    np.testing.assert_allclose(lif1.r * dt / lif1.tau, 1.0, rtol=1e-12)
    np.testing.assert_allclose(lif1.v_threshold, 0.8)
    # τ-form: τ_NIR = τ·dt, r = 1, v_leak = v_reset
    np.testing.assert_allclose(lif2.tau, 2.0 * dt)
    np.testing.assert_allclose(lif2.v_leak, -0.1)
    assert type(if3).__name__ == "IF"
    np.testing.assert_allclose(if3.r, 1 / dt)
    back = _roundtrip(model, tmp_path / "n.nir", dt=dt)
    x = spikes(30, 8, 6, rate=0.5, seed=4)
    with torch.no_grad():
        ref, got = model(x), back(x)
    assert float(ref.sum()) > 20
    torch.testing.assert_close(got, ref, rtol=0, atol=0)


def test_exported_mlp_runs_identically_in_snntorch():
    pytest.importorskip("snntorch")
    from snntorch.import_nir import import_from_nir

    model = two_layer_mlp({"beta": 0.9, "strict": True}, {"beta": 0.8, "strict": True})
    net = import_from_nir(to_nir(model, input_shape=(20,)))  # snnTorch assumes dt = 1e-4
    x = spikes(25, 4, 20, rate=0.3)
    with torch.no_grad():
        ours = model(x)
        theirs = torch.stack([net(x[t])[0] for t in range(x.shape[0])])
    assert float(ours.sum()) > 30
    torch.testing.assert_close(theirs, ours, rtol=0, atol=0)


@pytest.mark.parametrize("first,second,gain", [
    ({"beta": 0.9}, {"beta": 0.75}, 3.0),               # → LIFNode(decay_input=False)
    ({"tau": 2.0}, {"tau": 4.0, "v_reset": 0.0}, 8.0),  # → LIFNode(decay_input=True)
])
def test_exported_mlp_runs_identically_in_spikingjelly(first, second, gain):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based.nir_exchange.from_nir import import_from_nir

    model = two_layer_mlp(first, second, (gain, gain + 1))
    net = import_from_nir(to_nir(model, input_shape=(20,)), step_mode="m")
    x = spikes(25, 4, 20, rate=0.3)
    with torch.no_grad():
        ours = model(x)
        theirs = net(x)[0]
    assert float(ours.sum()) > 30
    torch.testing.assert_close(theirs, ours, rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:nirtorch.load is being deprecated:DeprecationWarning")
def test_gain_in_weights_loads_identically_in_norse_and_back_into_spikelite(tmp_path):
    model = two_layer_mlp({"beta": 0.9}, {"beta": 0.8})
    g = to_nir(model, input_shape=(20,), lif_gain="weights")
    np.testing.assert_allclose(g.nodes["1"].r, 1.0)
    np.testing.assert_allclose(g.nodes["0"].weight,
                               model[0].module.weight.detach().numpy() / (1 - 0.9), rtol=1e-6)
    x = spikes(25, 4, 20, rate=0.3)
    with torch.no_grad():
        ours = model(x)
    assert float(ours.sum()) > 30
    back = _roundtrip(model, tmp_path / "w.nir", input_shape=(20,), lif_gain="weights")
    with torch.no_grad():
        torch.testing.assert_close(back(x), ours, rtol=0, atol=0)
    norse = pytest.importorskip("norse.torch")
    net = norse.from_nir(g, dt=1e-4)  # Norse ignores r: it needs the gain in the weights
    state, outs = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            out, state = net(x[t], state)
            outs.append(out)
    torch.testing.assert_close(torch.stack(outs), ours, rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph:DeprecationWarning")
def test_a_graph_exported_by_snntorch_imports_identically():
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)

    def leaky(n: int, beta: float, **kw: object) -> nn.Module:  # snnTorch needs tensors here
        return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.ones(n),
                         reset_mechanism="zero", init_hidden=True, **kw)

    net = nn.Sequential(nn.Linear(20, 32), leaky(32, 0.9), nn.Linear(32, 5),
                        leaky(5, 0.8, output=True))
    net[0].weight.data *= 3
    net[2].weight.data *= 4
    model = from_nir(export_to_nir(net, torch.randn(20)))  # snnTorch's exporter, dt = 1e-4
    x = spikes(25, 4, 20, rate=0.3)
    with torch.no_grad():
        ours = model(x)
        theirs = torch.stack([net(x[t])[0] for t in range(x.shape[0])])
    assert float(theirs.sum()) > 30
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_a_conv_snn_runs_identically_in_spikingjelly():
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based.nir_exchange.from_nir import import_from_nir

    torch.manual_seed(0)
    model = nn.Sequential(TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), LIF(beta=0.9),
                          TimeDistributed(nn.AvgPool2d(2)), Flatten(),
                          TimeDistributed(nn.Linear(4 * 4 * 4, 5)), LIF(beta=0.8))
    model[0].module.weight.data *= 3
    model[4].module.weight.data *= 6
    net = import_from_nir(to_nir(model, input_shape=(2, 8, 8)), step_mode="m")
    x = spikes(12, 3, 2, 8, 8, rate=0.3)
    with torch.no_grad():
        ours = model(x)
        theirs = net(x)[0]
    assert float(ours.sum()) > 10
    torch.testing.assert_close(theirs, ours, rtol=0, atol=0)


def test_quantized_layers_carry_their_integer_description(tmp_path):
    torch.manual_seed(0)
    model = create("mlp", input_shape=(16,), hidden=(12,), num_classes=3)
    quantize_(model, "duq", 2)
    with pytest.raises(SpikeliteError, match="bake it first"):
        to_nir(model)
    plain, sidecars = bake(model)
    graph = to_nir(plain, sidecars=sidecars)
    node = graph.nodes["fc1"]
    side = sidecars["fc1.module"]
    assert node.metadata["spikelite.bits"] == 2
    np.testing.assert_array_equal(node.metadata["spikelite.codes"], side.codes.numpy())
    np.testing.assert_array_equal(node.weight, side.dequantize().numpy())
    assert len(np.unique(node.weight)) <= 3  # ternary weights, as deployed
    write_nir(graph, tmp_path / "q.nir")
    again = nir.read(str(tmp_path / "q.nir")).nodes["fc1"]
    assert int(again.metadata["spikelite.bits"]) == 2


def test_subtractive_reset_is_refused_unless_allowed_then_kept_in_metadata(tmp_path):
    model = nn.Sequential(TimeDistributed(nn.Linear(4, 3)), LIF(beta=0.9, reset="subtract"))
    model[0].module.weight.data.fill_(0.7)
    with pytest.raises(SpikeliteError, match="allow_reset_mismatch"):
        to_nir(model, input_shape=(4,))
    g = to_nir(model, input_shape=(4,), allow_reset_mismatch=True)
    assert g.nodes["1"].metadata["spikelite.reset"] == "subtract"
    back = _roundtrip(model, tmp_path / "s.nir", input_shape=(4,), allow_reset_mismatch=True)
    x = spikes(12, 2, 4, rate=0.6)
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("model,needle", [
    (lambda: nn.Sequential(TimeDistributed(nn.Linear(4, 3)), nn.GELU()), "'1' \\(GELU\\)"),
    (lambda: nn.Sequential(TimeDistributed(nn.MaxPool2d(2)), Flatten()), "follow a spiking"),
    (lambda: create("resnet20", num_classes=10), "no NIR export"),
    (lambda: nn.Linear(2, 2), "sequential models"),
    (lambda: nn.Sequential(TimeDistributed(nn.Conv2d(1, 2, 3, padding=1,
                                                     padding_mode="reflect"))), "zero padding"),
    (lambda: nn.Sequential(TimeDistributed(nn.Conv2d(1, 2, 3)), LIF(),
                           TimeDistributed(nn.MaxPool2d(2, ceil_mode=True))), "ceil_mode"),
])
def test_unsupported_models_are_refused_by_name(model, needle):
    shape = {"no NIR export": None, "zero padding": (1, 4, 4),
             "ceil_mode": (1, 5, 5)}.get(needle, (4,))
    with pytest.raises(SpikeliteError, match=needle):
        to_nir(model(), input_shape=shape)


def test_import_refuses_branching_graphs_and_unknown_nodes():
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                            "a": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
                            "b": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
                            "output": nir.Output(output_type={"output": np.array([2])})},
                     edges=[("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")])
    with pytest.raises(SpikeliteError, match="chains"):
        from_nir(g)
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                            "d": nir.Delay(delay=np.ones(2)),
                            "output": nir.Output(output_type={"output": np.array([2])})},
                     edges=[("input", "d"), ("d", "output")])
    with pytest.raises(SpikeliteError, match="'d' \\(Delay\\)"):
        from_nir(g)


def test_cli_exports_a_trained_checkpoint_and_checks_it(tmp_path):
    from spikelite.cli import app

    runner = CliRunner()
    best = train_tiny(runner, app, tmp_path / "run")
    target = tmp_path / "nir" / "model.nir"
    res = runner.invoke(app, ["export", str(best), "--out", str(target)])
    assert res.exit_code == 0, res.output
    assert "100.0000% of output values equal" in res.output
    assert target.is_file() and not list(target.parent.glob(".*.tmp"))
    bad = runner.invoke(app, ["export", str(tmp_path / "nothing"), "--out", str(target)])
    assert bad.exit_code == 2 and "error" in bad.output


def test_profiling_an_exported_graph_counts_what_the_checkpoint_counts(tmp_path):
    import json

    from spikelite.cli import app

    runner = CliRunner()
    best = train_tiny(runner, app, tmp_path / "run", limit=30)
    comp = tmp_path / "j"
    res = runner.invoke(app, ["compress", str(best), "--quant", "duq:2", "--prune",
                              "magnitude:0.7", "--schedule", "joint", "--epochs", "1",
                              "--out", str(comp), "--no-progress"])
    assert res.exit_code == 0, res.output
    graph = tmp_path / "j.nir"
    assert runner.invoke(app, ["export", str(comp / "final"), "--out", str(graph)]).exit_code == 0

    def prof(target, *extra: str) -> dict:
        r = runner.invoke(app, ["profile", str(target), "--json", "--limit", "16",
                                "--format", "rle", "--preset", "sparseloop-eyeriss45",
                                *extra])
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)

    a, b = prof(comp / "final"), prof(graph)  # the .nir names its dataset itself
    # in the graph the BatchNorms are folded into conv biases, which are costed; the
    # checkpoint costs the same only when asked to fold its BatchNorms
    folded = prof(comp / "final", "--option", "batchnorm=fold")
    assert b["total_pj_per_sample"] > a["total_pj_per_sample"]
    assert folded["total_pj_per_sample"] == pytest.approx(b["total_pj_per_sample"], rel=1e-9)
    assert any("batchnorm=fold" in n for n in a["notes"])
    assert b["neurobench"]["SynapticOperations"] == pytest.approx(
        a["neurobench"]["SynapticOperations"])
    assert b["neurobench"]["SynapticOperations"]["Effective_ACs"] > 0
    for part in ("weights", "metadata", "scales"):  # 2-bit codes and 70 % zeros, not fp32
        assert b["footprint"]["by_component_bits"][part] == \
            a["footprint"]["by_component_bits"][part]
    missing = runner.invoke(app, ["profile", str(tmp_path / "none.nir")])
    assert missing.exit_code == 2 and "no NIR file" in missing.output


def test_a_missing_extra_is_named_in_full_on_the_command_line(tmp_path, monkeypatch):
    # rich would swallow "[nir]" as a markup tag: the CLI escapes error messages
    from spikelite.cli import app
    from spikelite.errors import MissingExtraError
    from spikelite.export import nir as nir_mod

    def missing() -> None:
        raise MissingExtraError("nir", "nir", "NIR export and import")

    monkeypatch.setattr(nir_mod, "_nir", missing)
    torch.manual_seed(0)
    model = create("mlp", input_shape=(6,), hidden=(4,), num_classes=2)
    from spikelite.train import save_checkpoint

    save_checkpoint(tmp_path / "ck", model, {"model": {"name": "mlp", "kwargs": {
        "input_shape": [6], "hidden": [4], "num_classes": 2}}})
    res = CliRunner().invoke(app, ["export", str(tmp_path / "ck"), "--out",
                                   str(tmp_path / "m.nir")])
    assert res.exit_code == 2
    assert "pip install 'spikelite[nir]'" in res.output


def test_a_converted_snn_round_trips_only_with_its_reset_and_start_in_metadata(tmp_path):
    from spikelite.convert import ConvertedIF, ann_to_snn

    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    x = torch.rand(40, 10)
    snn = ann_to_snn(ann, x, threshold="max", time_steps=20)
    with pytest.raises(SpikeliteError, match="starts its membrane at 0.5"):
        to_nir(snn, input_shape=(10,))
    back = _roundtrip(snn, tmp_path / "c.nir", input_shape=(10,), allow_reset_mismatch=True)
    assert isinstance(back[1], ConvertedIF) and back[1].v_init == 0.5
    xt = snn.encode(x)
    with torch.no_grad():
        torch.testing.assert_close(back(xt), snn(xt), rtol=1e-6, atol=1e-6)
