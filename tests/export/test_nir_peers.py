"""Reading the NIR graphs that snnTorch, SpikingJelly and Norse write: each network is built
and exported by the peer itself to a file, read by ``from_nir`` and run on the same input.

Adversarial inputs: weights on a grid of 1/4 with β = 0.5 or τ = 2 keep every membrane
exact in binary floating point, so membranes land *on* the threshold and the comparison
(``>`` for snnTorch/Norse and NIR, ``≥`` for SpikingJelly) decides spikes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from spikelite.core.neurons import reset_states
from spikelite.errors import SpikeliteError

nir = pytest.importorskip("nir")
from spikelite.export import from_nir  # noqa: E402

from ._helpers import spikes  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]


def _grid(net: nn.Module, scale: float = 1.0, seed: int = 0) -> None:
    """Weights and biases on a grid of 1/4 (times ``scale``): exact membranes, ties."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.copy_(torch.randint(-2, 5, m.weight.shape, generator=g) * 0.25 * scale)
                if m.bias is not None:
                    m.bias.copy_(torch.randint(-1, 2, m.bias.shape, generator=g) * 0.25)


def _through_file(graph, path, **kw):
    nir.write(str(path), graph)
    return from_nir(str(path), **kw).eval()


def _ours(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    reset_states(model)
    with torch.no_grad():
        return model(x)


# -- snnTorch ------------------------------------------------------------------------------
def _snn_run(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    from snntorch import utils

    utils.reset(net)
    with torch.no_grad():
        return torch.stack([net(xt)[0] for xt in x.unbind(0)])


def _leaky(shape: tuple[int, ...], beta: float, **kw: object) -> nn.Module:
    import snntorch as snn  # snnTorch 1.0.0's exporter needs per-neuron tensors

    return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.ones(shape),
                     reset_mechanism=kw.pop("reset_mechanism", "zero"), init_hidden=True,
                     **kw)


def _snn_export(net: nn.Module, sample: torch.Tensor):
    from snntorch.export_nir import export_to_nir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return export_to_nir(net, sample, ignore_dims=[0])


SNN_NETS = {
    "mlp": (lambda: nn.Sequential(nn.Linear(12, 10), _leaky((10,), 0.5),
                                  nn.Linear(10, 4, bias=False), _leaky((4,), 0.5, output=True)),
            (12,)),
    "conv-avg-conv-avg-linear": (lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), _leaky((4, 8, 8), 0.5), nn.AvgPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1, bias=False), _leaky((4, 4, 4), 0.5),
        nn.AvgPool2d((2, 2)), nn.Flatten(), nn.Linear(16, 5),
        _leaky((5,), 0.5, output=True)), (2, 8, 8)),
}


@pytest.mark.parametrize("name", sorted(SNN_NETS))
def test_snntorch_networks_read_back_spike_for_spike(name, tmp_path):
    pytest.importorskip("snntorch")
    make, shape = SNN_NETS[name]
    torch.manual_seed(0)
    net = make()
    _grid(net, 2.0)
    model = _through_file(_snn_export(net, torch.zeros(1, *shape)), tmp_path / "g.nir")
    x = spikes(8, 3, *shape, rate=0.4)
    theirs, ours = _snn_run(net, x), _ours(model, x)
    assert float(theirs.sum()) > 5
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    # the grid makes membranes land on θ: reading with ≥ (SpikingJelly's) would differ
    if name == "mlp":
        assert not torch.equal(_ours(from_nir(str(tmp_path / "g.nir"), strict=False), x),
                               theirs)


def test_snntorch_synaptic_reads_as_nir_cubalif_up_to_its_late_reset(tmp_path):
    """snnTorch's ``Synaptic`` resets one step late (and its zero reset also drops that
    step's input), NIR's ``CubaLIF`` at the spike: equal up to each neuron's first spike."""
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(12, 6), _leaky((6,), 0.5),
                        nn.Linear(6, 3), snn.Synaptic(alpha=torch.full((3,), 0.5),
                                                      beta=torch.full((3,), 0.75),
                                                      threshold=torch.ones(3),
                                                      reset_mechanism="zero",
                                                      init_hidden=True, output=True))
    _grid(net, 2.0)
    g = _snn_export(net, torch.zeros(1, 12))
    assert type(g.nodes["3"]).__name__ == "CubaLIF"
    model = _through_file(g, tmp_path / "s.nir")
    x = spikes(8, 3, 12, rate=0.5)
    theirs, ours = _snn_run(net, x), _ours(model, x)
    fired = theirs.cumsum(0)
    until_first = (fired - theirs) == 0  # steps up to and including the first spike
    assert float(theirs.sum()) > 3 and bool((fired[-1] > 0).any())
    torch.testing.assert_close(ours[until_first], theirs[until_first], rtol=0, atol=0)
    assert not torch.equal(ours, theirs)  # after a spike the resets differ


def test_snntorch_subtract_reset_is_not_in_the_graph(tmp_path):
    """snnTorch writes its default (delayed) subtractive reset as NIR's reset to 0: the graph
    is the one a zero-reset network writes, and reads back as that network."""
    pytest.importorskip("snntorch")

    def make(reset: str) -> nn.Module:
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(12, 8), _leaky((8,), 0.5, reset_mechanism=reset),
                            nn.Linear(8, 3), _leaky((3,), 0.5, reset_mechanism=reset,
                                                    output=True))
        _grid(net, 3.0)
        return net

    sub, zero = make("subtract"), make("zero")
    g_sub, g_zero = (_snn_export(n, torch.zeros(1, 12)) for n in (sub, zero))
    for k in ("1", "3"):
        for a in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
            np.testing.assert_array_equal(getattr(g_sub.nodes[k], a), getattr(g_zero.nodes[k], a))
    model = _through_file(g_sub, tmp_path / "sub.nir")
    x = spikes(8, 4, 12, rate=0.6)
    ours = _ours(model, x)
    torch.testing.assert_close(ours, _snn_run(zero, x), rtol=0, atol=0)
    assert not torch.equal(ours, _snn_run(sub, x))  # the information is lost at export


# -- SpikingJelly --------------------------------------------------------------------------
def _sj():
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.nir_exchange.to_nir import export_to_nir

    return functional, layer, neuron, export_to_nir


def _sj_nets():
    _, layer, neuron, _ = _sj()
    m = {"step_mode": "m"}
    return {
        "mlp-lif-if": (lambda: nn.Sequential(
            layer.Linear(12, 10, **m), neuron.LIFNode(tau=2.0, **m),
            layer.Linear(10, 4, bias=False, **m), neuron.IFNode(**m)), (12,), 1.0),
        "conv-avg-conv-avg-linear": (lambda: nn.Sequential(
            layer.Conv2d(2, 4, 3, padding=1, **m), neuron.LIFNode(tau=2.0, **m),
            layer.AvgPool2d(2, **m), layer.Conv2d(4, 4, 3, padding=1, bias=False, **m),
            neuron.IFNode(**m), layer.AvgPool2d(2, **m), layer.Flatten(**m),
            layer.Linear(16, 5, **m), neuron.LIFNode(tau=2.0, **m)), (2, 8, 8), 1.0),
        "decay-input-false-v-reset": (lambda: nn.Sequential(
            layer.Linear(12, 10, **m),
            neuron.LIFNode(tau=2.0, decay_input=False, v_reset=0.25, **m),
            layer.Linear(10, 4, **m), neuron.LIFNode(tau=4.0, decay_input=False, **m)),
            (12,), 1.0),
    }


@pytest.mark.parametrize("name", ["mlp-lif-if", "conv-avg-conv-avg-linear",
                                  "decay-input-false-v-reset"])
def test_spikingjelly_networks_read_back_spike_for_spike(name, tmp_path):
    functional, _, _, export_to_nir = _sj()
    make, shape, scale = _sj_nets()[name]
    torch.manual_seed(0)
    net = make()
    _grid(net, 2.0 * scale)
    x = spikes(8, 3, *shape, rate=0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(net, x[:, :1])
    model = _through_file(graph, tmp_path / "g.nir", strict=False)  # SpikingJelly: h ≥ θ
    functional.reset_net(net)
    with torch.no_grad():
        theirs = net(x)
    ours = _ours(model, x)
    assert float(theirs.sum()) > 5
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    if name == "mlp-lif-if":  # with NIR's strict comparison, the ties go the other way
        assert not torch.equal(_ours(from_nir(str(tmp_path / "g.nir")), x), theirs)


def test_spikingjelly_cubalif_reads_as_current_then_lif():
    functional, layer, neuron, export_to_nir = _sj()
    torch.manual_seed(0)
    net = nn.Sequential(layer.Linear(12, 6), neuron.CUBALIFNode(c_decay=0.5, v_decay=0.75,
                                                                v_threshold=0.5))
    _grid(net, 2.0)
    x = spikes(8, 3, 12, rate=0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(net, x[0])  # CUBALIFNode is built single-step
    assert type(graph.nodes["_1"]).__name__ == "CubaLIF"
    functional.set_step_mode(net, "m")
    functional.reset_net(net)
    with torch.no_grad():
        theirs = net(x)
    ours = _ours(from_nir(graph, strict=False).eval(), x)
    assert float(theirs.sum()) > 5
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


# -- Norse ---------------------------------------------------------------------------------
def _norse_run(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    state, outs = None, []
    with torch.no_grad():
        for xt in x.unbind(0):
            out, state = net(xt, state)
            outs.append(out)
    return torch.stack(outs)


def _norse_export(net: nn.Module, sample: torch.Tensor, dt: float):
    norse = pytest.importorskip("norse.torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return norse.to_nir(net, sample, dt=dt)


def test_norse_lif_mlp_reads_back_when_exported_with_dt_1(tmp_path):
    norse = pytest.importorskip("norse.torch")
    torch.manual_seed(0)
    p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(500.0))  # τ = 2 steps of 1 ms
    net = norse.SequentialState(nn.Linear(12, 10), norse.LIFBoxCell(p, dt=1e-3),
                                nn.Linear(10, 4), norse.LIFBoxCell(p, dt=1e-3))
    _grid(net, 2.0)
    x = spikes(8, 3, 12, rate=0.4)
    theirs = _norse_run(net, x)
    # Norse 1.1.0 writes τ = dt/τ_inv: with its default dt = 1e-3 that is 2e-6 s, shorter
    # than a step; with dt = 1 it writes the true τ = 1/τ_inv
    bad = _norse_export(net, torch.zeros(1, 12), dt=1e-3)
    with pytest.raises(SpikeliteError, match="shorter than dt"):
        from_nir(bad, dt=1e-3)
    good = _norse_export(net, torch.zeros(1, 12), dt=1.0)
    with pytest.raises(TypeError, match="Scalar datasets"):  # nir.write fails on Norse's
        nir.write(str(tmp_path / "n.nir"), good)           # 0-dim parameters: read in memory
    model = from_nir(good, dt=1e-3).eval()
    assert model.input_shape == (12,)  # Norse's Input node keeps the batch axis of 1
    ours = _ours(model, x)
    assert float(theirs.sum()) > 5
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_norse_iaf_and_leaky_integrator_read_out():
    """Norse's IAF adds its input unscaled (``r = 1``, dt ignored), NIR's IF adds ``r·dt·x``:
    read at dt = 1 they agree; the ``LI`` read-out's membrane is the output."""
    norse = pytest.importorskip("norse.torch")
    torch.manual_seed(0)
    net = norse.SequentialState(nn.Linear(12, 8), norse.IAFCell(), nn.Linear(8, 3),
                                norse.LIBoxCell(norse.LIBoxParameters(
                                    tau_mem_inv=torch.tensor(0.5)), dt=1.0))
    _grid(net, 2.0)
    x = spikes(8, 3, 12, rate=0.4)
    theirs = _norse_run(net, x)
    model = from_nir(_norse_export(net, torch.zeros(1, 12), dt=1.0), dt=1.0).eval()
    ours = _ours(model, x)
    assert float(theirs.abs().sum()) > 1
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


def test_norse_layers_it_cannot_export_are_named():
    norse = pytest.importorskip("norse.torch")
    net = norse.SequentialState(nn.Conv2d(2, 4, 3, padding=1), norse.LIFBoxCell(),
                                nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 5))
    g = _norse_export(net, torch.zeros(1, 2, 8, 8), dt=1.0)
    with pytest.raises(SpikeliteError, match="node '2' is empty"):
        from_nir(g)


# -- graphs that are not chains, unsupported nodes, the CLI ------------------------------
def _g(nodes: dict, edges: list) -> object:
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _inp(n: int = 2):
    return nir.Input(input_type={"input": np.array([n])})


def _out(n: int = 2):
    return nir.Output(output_type={"output": np.array([n])})


@pytest.mark.parametrize("graph,needle", [
    (lambda: _g({"input": _inp(), "a": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
                 "b": nir.Affine(weight=np.eye(2), bias=np.zeros(2)), "output": _out()},
                [("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")]),
     "'a' \\(Affine\\) has 2 inputs"),
    (lambda: _g({"input": _inp(), "a": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
                 "b": nir.Affine(weight=np.eye(2), bias=np.zeros(2)), "output": _out()},
                [("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")]),
     "'output' \\(Output\\) has 2 inputs"),
    (lambda: _g({"input": _inp(), "d": nir.Delay(delay=np.ones(2)), "output": _out()},
                [("input", "d"), ("d", "output")]), "'d' \\(Delay\\) has no spikelite import"),
    (lambda: _g({"input": nir.Input(input_type={"input": np.array([2, 2])}),
                 "f": nir.Flatten(input_type={"input": np.array([2, 2])}, start_dim=1,
                                  end_dim=-1),
                 "output": nir.Output(output_type={"output": np.array([2, 2])})},
                [("input", "f"), ("f", "output")]), "whole sample"),
    (lambda: _g({"input": _inp(), "l": nir.LIF(tau=np.full(2, 1e-5), r=np.ones(2),
                                               v_leak=np.zeros(2), v_threshold=np.ones(2)),
                 "output": _out()}, [("input", "l"), ("l", "output")]), "shorter than dt"),
    (lambda: _g({"input": _inp(), "p": nir.AvgPool2d(kernel_size=np.array([2, 2, 2]),
                                                     stride=2, padding=0),
                 "output": _out()}, [("input", "p"), ("p", "output")]), "kernel_size"),
])
def test_unreadable_graphs_end_in_one_line_naming_the_node(graph, needle):
    with pytest.raises(SpikeliteError, match=needle) as err:
        from_nir(graph())
    assert "\n" not in str(err.value)


def test_profile_of_a_spikingjelly_graph_and_of_an_unreadable_one(tmp_path):
    """The crash this file started from: SpikingJelly's scalar AvgPool2d kernel."""
    from spikelite.cli import app

    _, _, _, export_to_nir = _sj()
    make, shape, _ = _sj_nets()["conv-avg-conv-avg-linear"]
    torch.manual_seed(0)
    net = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(net, torch.zeros(2, 1, *shape))
    assert np.asarray(graph.nodes["_2"].kernel_size).shape == ()  # a scalar kernel
    path = tmp_path / "sj.nir"
    nir.write(str(path), graph)
    from spikelite.export.nir import read_nir_for_profile

    model, sidecars, data = read_nir_for_profile(path)
    assert (sidecars, data) == ({}, {}) and model.input_shape == shape
    runner = CliRunner()
    bad = tmp_path / "bad.nir"
    nir.write(str(bad), _g({"input": _inp(), "d": nir.Delay(delay=np.ones(2)),
                            "output": _out()}, [("input", "d"), ("d", "output")]))
    res = runner.invoke(app, ["profile", str(bad), "--dataset", "nmnist"])
    assert res.exit_code == 2, res.output
    assert "'d' (Delay) has no spikelite import" in res.output
    assert "Traceback" not in res.output
