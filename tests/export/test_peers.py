"""NIR exports in the peers' importers: the main cells of benchmarks/nir_peers.py's matrix,
max-pool patterns, notes before writing, ``spikelite export --for``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from spikelite.core import TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.models import create

nir = pytest.importorskip("nir")
from spikelite.export import export_model, from_nir, to_nir  # noqa: E402
from spikelite.export.nir import write_nir  # noqa: E402
from spikelite.export.peers import PEERS, export_notes  # noqa: E402

from ._helpers import spikes, train_tiny  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "nir_peers.py"


def _matrix():
    spec = importlib.util.spec_from_file_location("nir_peers", _BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("nir_peers", mod)  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _need_all_peers() -> None:
    for p in ("snntorch", "spikingjelly", "norse", "nirtorch"):
        pytest.importorskip(p)


@pytest.fixture(scope="module")
def rows():
    _need_all_peers()
    m = _matrix()
    return {n: m.evaluate(n) for n in ("mlp", "csnn", "csnn pool=avg",
                                       "demo joint-duq2-magnitude80", "resnet20")}, m


def test_default_max_pool_export_loads_in_no_peer_but_each_peer_export_loads_equal(rows):
    rows, m = rows
    for name in ("csnn", "demo joint-duq2-magnitude80"):
        r = rows[name]
        assert r.readback is not None and r.readback <= 1e-5
        for p in (*PEERS, "nirtorch"):
            assert not r.checks[(None, p)].loads, (name, p)  # nir.Threshold: nowhere
        for p in PEERS:  # --for P: loads in P, equal, a whole batch at once
            c = r.checks[(p, p)]
            assert (c.loads, c.equal, c.batched) == (True, True, True), (name, p, c)
    table = m.markdown(list(rows.values()))
    assert "| `csnn` | ✓ equal | ✗ load" in table and "not exported" in table


def test_mlp_and_avg_pool_cells(rows):
    rows, _ = rows
    mlp, avg = rows["mlp"], rows["csnn pool=avg"]
    sj, snt, norse = (mlp.checks[(None, p)] for p in ("spikingjelly", "snntorch", "norse"))
    assert (sj.equal, sj.batched) == (True, True)
    assert (snt.equal, snt.batched) == (True, False)  # Flatten(0, −1) eats the batch axis
    assert norse.loads and not norse.equal  # it ignores r: needs lif_gain="weights"
    assert avg.checks[(None, "spikingjelly")].equal  # AvgPool2d loads as it is
    assert not avg.checks[(None, "norse")].loads  # Norse has no AvgPool2d
    for p in PEERS:
        assert avg.checks[(p, p)].equal and avg.checks[(p, p)].batched, p
        assert mlp.checks[(p, p)].equal and mlp.checks[(p, p)].batched, p
    assert rows["resnet20"].refused


def _maxpool_net() -> nn.Module:
    torch.manual_seed(0)
    model = create("csnn", input_size=6, widths=(3, 4)).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(4)
    return model


@pytest.mark.parametrize("peer", [None, *PEERS])
def test_every_max_pool_pattern_is_an_or_and_reads_back_as_a_max_pool(peer, tmp_path):
    # adversarial input: all-zero and all-one frames, single spikes, dense bursts
    model = _maxpool_net()
    x = spikes(8, 4, 2, 6, 6, rate=0.5, seed=1)
    x[0] = 0
    x[1] = 1
    x[2] = 0
    x[2, :, :, 0, 0] = 1
    graph = to_nir(model, peer=peer)
    write_nir(graph, tmp_path / "m.nir")
    back = from_nir(nir.read(str(tmp_path / "m.nir"))).eval()
    assert [type(m.module).__name__ for n, m in back.named_children()
            if n.startswith("pool")] == ["MaxPool2d", "MaxPool2d"]
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x), rtol=0, atol=1e-5)
    if peer is not None:
        kinds = [type(n).__name__ for n in graph.nodes.values()]
        pool, neuron = kinds[kinds.index("Conv2d") + 2: kinds.index("Conv2d") + 4]
        assert (pool, neuron) == {"snntorch": ("AvgPool2d", "LIF"),
                                  "spikingjelly": ("AvgPool2d", "IF"),
                                  "norse": ("SumPool2d", "LIF")}[peer]
        assert graph.nodes["flatten"].start_dim == (0 if peer == "spikingjelly" else -3)
        or_node = graph.nodes["pool1_or"]
        theta = 0.5 / 4 if pool == "AvgPool2d" else 0.5
        np.testing.assert_allclose(or_node.v_threshold, theta)
        if neuron == "LIF":  # τ = dt: Euler gives h = x (β = 0)
            np.testing.assert_allclose(or_node.tau, 1e-4)
            np.testing.assert_allclose(or_node.r, 1.0)


def test_the_or_neuron_alone_equals_max_pooling_of_spikes():
    """OR semantics of each pattern's neuron, run in spikelite's own neuron on pooled
    spikes: membrane is 0 at every step's start, so it fires iff the window holds a spike."""
    from spikelite.core import LIF

    x = spikes(20, 5, 3, 8, 8, rate=0.1, seed=2)
    x[3] = 1
    want = TimeDistributed(nn.MaxPool2d(2))(x)
    avg = TimeDistributed(nn.AvgPool2d(2))(x)
    for neuron in (LIF(beta=0.0, threshold=0.125), LIF(beta=1.0, threshold=0.125)):
        torch.testing.assert_close(neuron(avg), want, rtol=0, atol=0)


def test_notes_name_the_layer_the_peers_and_the_route():
    model = _maxpool_net()
    notes = export_notes(to_nir(model), 1e-4)
    first = notes[0]
    assert "pool1" in first and "snnTorch, SpikingJelly or Norse" in first
    assert "--for snntorch|spikingjelly|norse" in first and "pool=avg" in first
    assert any("Norse ignores r" in n and "--for norse" in n for n in notes)
    assert export_notes(to_nir(model, peer="norse"), 1e-4, "norse") == []
    # a --for export of an IF network says snnTorch will not reproduce it
    if_net = create("csnn", input_size=6, widths=(3, 4), neuron="if")
    lines = export_notes(to_nir(if_net, peer="snntorch"), 1e-4, "snntorch")
    assert lines and "leaky neuron" in lines[0]
    with pytest.raises(SpikeliteError, match="unknown NIR peer"):
        to_nir(model, peer="lava")
    with pytest.raises(SpikeliteError, match="lif_gain='weights'"):
        to_nir(model, peer="norse", lif_gain="r")


def test_export_model_notifies_before_writing(tmp_path):
    model = _maxpool_net()
    seen: list[tuple[str, bool]] = []
    out = tmp_path / "m.nir"
    done = export_model(model, {}, out, to="nir",
                        notify=lambda line: seen.append((line, out.exists())))
    assert seen and not any(written for _, written in seen)
    assert done.notes and done.agreement == 1.0


def test_cli_export_for_a_peer_checks_the_load_there(tmp_path):
    pytest.importorskip("spikingjelly")
    from spikelite.cli import app

    runner = CliRunner()
    ckpt = train_tiny(runner, app, tmp_path / "run", limit=8)
    res = runner.invoke(app, ["export", str(ckpt), "--out", str(tmp_path / "a.nir")])
    assert res.exit_code == 0, res.output
    assert "note: layer 'pool1" in res.output and "--for" in res.output
    res = runner.invoke(app, ["export", str(ckpt), "--out", str(tmp_path / "b.nir"),
                              "--for", "spikingjelly"])
    assert res.exit_code == 0, res.output
    assert "loads in SpikingJelly" in res.output and "outputs equal, batched" in res.output
    assert "read back: 100.0000%" in res.output
    res = runner.invoke(app, ["export", str(ckpt), "--out", str(tmp_path / "c"),
                              "--to", "package", "--for", "norse"])
    assert res.exit_code != 0 and "--for applies to --to nir" in res.output


def test_avg_pool_variant_of_the_zoo_models():
    for name, kw in (("csnn", {"input_size": 8, "widths": (2, 2)}),
                     ("vggsnn", {"input_size": 16, "widths": [2] * 8})):
        model = create(name, pool="avg", **kw)
        assert model.spikelite_config["kwargs"]["pool"] == "avg"
        pools = [m.module for n, m in model.named_children() if n.startswith("pool")]
        assert pools and all(isinstance(p, nn.AvgPool2d) for p in pools)
        assert all(isinstance(p.module, nn.MaxPool2d)
                   for n, p in create(name, **kw).named_children() if n.startswith("pool"))
    with pytest.raises(SpikeliteError, match="pool must be one of max, avg"):
        create("csnn", pool="min")
