"""Issue #13's acceptance, one test per peer: a network built in the peer with its defaults
is converted, profiled, quantized + pruned, fine-tuned, baked, exported and loaded back in
the peer, whose outputs must equal spikelite's on the same input.

* snnTorch: the default ``snn.Leaky`` (delayed subtract reset) in the tutorials' shape, in
  both orders (``Conv → MaxPool → Leaky`` and ``Conv → Leaky → MaxPool``). NeuroBench runs
  natively on the *original* snnTorch network (its ``SNNTorchModel``) before and after
  compression; its counts equal ``spikelite profile``'s of the converted model. No NIR
  importer rebuilds the delayed subtract reset (snnTorch's builds
  ``Leaky(reset_mechanism="zero", reset_delay=False)``), so the export is refused naming
  the routes, and the model goes back into the user's network with ``to_foreign``; the
  ``reset_mechanism="zero"`` variant exports ``--for snntorch`` and loads there.
* SpikingJelly: multi-step ``LIFNode()``/``IFNode()`` defaults, a BatchNorm (folded into
  the conv on export) and both pools; ``--for spikingjelly``.
* Norse: ``SequentialState`` of ``LIFBoxCell()`` defaults, called per step; ``--for norse``.

Compared outputs: the spikes of the last neuron layer at every time step (what the
converted model returns), ``torch.equal`` after ``to_foreign`` and within
``check_in_peer``'s 1e-5 (so spike for spike) after a NIR load.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from spikelite.errors import SpikeliteError
from spikelite.hardware.profiler import profile
from spikelite.interop import from_foreign, to_foreign
from spikelite.prune.unstructured import prune_unstructured_
from spikelite.quant import bake, quantize_
from spikelite.train.config import TrainConfig
from spikelite.train.engine import fit

from .nets import strong

pytest.importorskip("nir")
T, SHAPE = 4, (2, 34, 34)


@pytest.fixture(scope="module")
def data() -> tuple[object, object, torch.Tensor]:
    """digits-dvs (embedded, event counts up to 4 per bin): 16 train, 16 test samples,
    and a test batch ``[T, 8, 2, 34, 34]`` for the peer comparisons."""
    from spikelite.data import load

    train, test = load("digits-dvs", time_steps=T, limit=16)
    x = torch.stack([test[i][0] for i in range(8)], dim=1)
    return train, test, x


def _compress_and_finetune(model: nn.Module, train: object, test: object,
                           epochs: int = 1) -> tuple:
    quantize_(model, "rescaw", 4)
    prune_unstructured_(model, 0.5)
    if epochs:
        res = fit(model, train, test, TrainConfig(epochs=epochs, batch_size=8, lr=1e-3),
                  device="cpu", progress=False)
        assert len(res.history) == epochs
    plain, sidecars = bake(model)
    weights = [m.weight for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert sum(int((w == 0).sum()) for w in weights) >= 0.45 * sum(w.numel() for w in weights)
    return plain.eval(), sidecars


def _nir_roundtrip(plain: nn.Module, sidecars: dict, peer: str, x: torch.Tensor,
                   tmp_path) -> None:
    """Export ``--for peer``, read the file, load it in the peer: outputs equal."""
    import nir

    from spikelite.export import to_nir
    from spikelite.export.nir import write_nir
    from spikelite.export.peers import check_in_peer

    path = write_nir(to_nir(plain, sidecars=sidecars, peer=peer), tmp_path / f"{peer}.nir")
    graph = nir.read(str(path))
    for xs in (x, 16.0 * x):
        res = check_in_peer(plain, graph, peer, xs, dt=1e-4)
        assert res.loads and res.equal and res.batched, res.cell()
    with torch.no_grad():
        assert plain(16.0 * x).sum() > 0  # real output spikes were compared, not zeros


def _snntorch_net(order: str, reset: str = "subtract") -> nn.Module:
    import snntorch as snn

    def leaky(**kw: object) -> nn.Module:  # the default Leaky, as in the tutorials
        return snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism=reset, **kw)

    conv1, conv2 = nn.Conv2d(2, 4, 5), nn.Conv2d(4, 8, 5)
    if order == "pool-first":
        body = [conv1, nn.MaxPool2d(2), leaky(), conv2, nn.MaxPool2d(2), leaky()]
    else:
        body = [conv1, leaky(), nn.MaxPool2d(2), conv2, leaky(), nn.MaxPool2d(2)]
    return strong(nn.Sequential(*body, nn.Flatten(), nn.Linear(8 * 5 * 5, 10),
                                leaky(output=True)))


def _neurobench(net: nn.Module, loader: DataLoader) -> dict:
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, ParameterCount
    from neurobench.metrics.workload import (
        ActivationSparsity,
        MembraneUpdates,
        SynapticOperations,
    )
    from neurobench.models import SNNTorchModel

    return Benchmark(SNNTorchModel(net), loader, [], [],
                     [[ConnectionSparsity, ParameterCount],
                      [SynapticOperations, ActivationSparsity, MembraneUpdates]]).run(quiet=True)


def _assert_counts_equal(ours: dict, theirs: dict) -> None:
    """Every count NeuroBench and spikelite both define: equal to the last digit. The
    activation sparsity is a ratio both compute as a float; summed in another order it
    may differ in the last bits (1e-15 relative)."""
    for key in ("Effective_MACs", "Effective_ACs", "Dense"):
        assert ours["SynapticOperations"][key] == theirs["SynapticOperations"][key], key
    assert ours["MembraneUpdates"] == theirs["MembraneUpdates"]
    assert ours["ConnectionSparsity"] == theirs["ConnectionSparsity"]
    assert ours["ParameterCount"] == theirs["ParameterCount"]
    assert ours["ActivationSparsity"] == pytest.approx(theirs["ActivationSparsity"],
                                                       rel=1e-14, abs=0)


@pytest.mark.parametrize("order", ["pool-first", "pool-after"])
def test_snntorch_default_leaky(order: str, data, tmp_path) -> None:
    pytest.importorskip("snntorch")
    pytest.importorskip("neurobench")
    train, test, x = data
    torch.manual_seed(0)
    net = _snntorch_net(order)
    model = from_foreign(net, input_shape=SHAPE, time_steps=T)
    loader = DataLoader(TensorDataset(x.transpose(0, 1), torch.zeros(8, dtype=torch.long)),
                        batch_size=4)
    if order == "pool-first":  # the tutorials' order: NeuroBench before compression too
        before = profile(model, loader, membrane_updates=True).neurobench
        _assert_counts_equal(before, _neurobench(net, loader))
        assert before["SynapticOperations"]["Effective_MACs"] > 0  # event counts: graded

    plain, sidecars = _compress_and_finetune(model, train, test)
    to_foreign(plain, net, 4.0 * x)  # raises unless the user's network gives equal outputs
    after = profile(plain, loader, membrane_updates=True).neurobench
    _assert_counts_equal(after, _neurobench(net, loader))
    assert after["ConnectionSparsity"] >= 0.45 and after["MembraneUpdates"] > 0

    from spikelite.export import to_nir

    # the layer named as the user's network names it ('1'), not its wrapper ('1.module')
    refused = r"layer '1':.*pools currents" if order == "pool-first" else "resets by 'subtract'"
    with pytest.raises(SpikeliteError, match=refused):
        to_nir(plain, sidecars=sidecars, peer="snntorch")
    if order == "pool-after":  # the same network with reset_mechanism="zero" exports
        torch.manual_seed(0)
        zero = from_foreign(_snntorch_net(order, reset="zero"), input_shape=SHAPE,
                            time_steps=T)
        _nir_roundtrip(*_compress_and_finetune(zero, train, test, epochs=0), "snntorch", x,
                       tmp_path)


def test_spikingjelly_multistep(data, tmp_path) -> None:
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron

    train, test, x = data
    torch.manual_seed(0)
    net = nn.Sequential(
        layer.SeqToANNContainer(nn.Conv2d(2, 4, 5), nn.BatchNorm2d(4)), neuron.LIFNode(),
        layer.MaxPool2d(2), layer.Conv2d(4, 8, 5), neuron.IFNode(), layer.AvgPool2d(2),
        layer.Flatten(), layer.Linear(8 * 5 * 5, 10), neuron.LIFNode())
    functional.set_step_mode(net, "m")
    strong(net, 8.0)
    model = from_foreign(net, input_shape=SHAPE, time_steps=T)
    assert model.conversion_check["protocol"] == "sequence"
    assert profile(model, test, limit=8, batch_size=8).samples == 8
    plain, sidecars = _compress_and_finetune(model, train, test)
    _nir_roundtrip(plain, sidecars, "spikingjelly", x, tmp_path)
    to_foreign(plain, net, 4.0 * x)


def test_norse_cells(data, tmp_path) -> None:
    pytest.importorskip("norse")
    import norse.torch as norse

    train, test, x = data
    torch.manual_seed(0)
    net = norse.SequentialState(
        nn.Conv2d(2, 4, 5), norse.LIFBoxCell(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 5), norse.LIFBoxCell(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 5 * 5, 10), norse.LIFBoxCell())
    strong(net, 16.0)  # Norse's defaults (dt·τ_mem_inv = 0.1, θ = 1) integrate slowly
    model = from_foreign(net, input_shape=SHAPE, time_steps=T)
    assert model.conversion_check["protocol"] == "step"
    assert profile(model, test, limit=8, batch_size=8).samples == 8
    plain, sidecars = _compress_and_finetune(model, train, test)
    _nir_roundtrip(plain, sidecars, "norse", x, tmp_path)
    to_foreign(plain, net, 4.0 * x)
