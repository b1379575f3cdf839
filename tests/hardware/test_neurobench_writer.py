"""``spikelite profile … --neurobench out.json``: the profile in NeuroBench's results layout.

The layout is that of NeuroBench 2.3's ``Benchmark.run()`` (what its
``save_benchmark_results`` writes as JSON); when ``neurobench`` is installed the file is
also compared with NeuroBench's own run of the same baked model on the same samples.
"""

from __future__ import annotations

import json

import pytest
import typer
from torch.utils.data import Subset
from typer.testing import CliRunner

from spikelite.cli.profile import profile_command
from spikelite.data.spec import DataSpec, load_data
from spikelite.hardware import neurobench_results, profile
from spikelite.models import create
from spikelite.quant import bake
from spikelite.train import evaluate, load_model, save_checkpoint


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("profile")(profile_command)
    app.command("noop")(lambda: None)
    return app


def test_cli_writes_neurobench_layout(tmp_path) -> None:
    model = create("mlp", input_shape=(2, 34, 34), hidden=(16,))
    data = {"name": "digits-dvs", "limit": 20}
    save_checkpoint(tmp_path / "ck", model, {"model": model.spikelite_config, "data": data})
    out = tmp_path / "nb.json"
    r = CliRunner().invoke(_app(), ["profile", str(tmp_path / "ck"), "--limit", "6",
                                    "--batch-size", "4", "--neurobench", str(out)])
    assert r.exit_code == 0, r.output
    got = json.loads(out.read_text())
    assert list(got) == ["Footprint", "ConnectionSparsity", "ParameterCount",
                         "ClassificationAccuracy", "ActivationSparsity", "SynapticOperations",
                         "MembraneUpdates"]
    assert list(got["SynapticOperations"]) == ["Effective_MACs", "Effective_ACs", "Dense"]

    loaded, _ = load_model(tmp_path / "ck")
    plain, sidecars = bake(loaded)
    _, test = load_data(DataSpec(**data))
    six = Subset(test, range(6))
    rep = profile(plain, six, layers=sidecars, batch_size=4, membrane_updates=True)
    acc = evaluate(plain, six, batch_size=4, device="cpu")["accuracy"]
    assert got == json.loads(json.dumps(neurobench_results(rep, accuracy=acc)))

    nb = pytest.importorskip("spikelite.hardware.neurobench_adapter")
    pytest.importorskip("neurobench")
    ref = nb.neurobench_benchmark(plain, six, batch_size=4)
    assert list(ref) == list(got)
    for key in ("Footprint", "ConnectionSparsity", "ParameterCount", "SynapticOperations",
                "MembraneUpdates"):
        assert got[key] == ref[key], key
    for key in ("ActivationSparsity", "ClassificationAccuracy"):  # batch-weighted mean
        assert got[key] == pytest.approx(ref[key], rel=1e-12)


def test_cli_neurobench_path_errors(tmp_path) -> None:
    model = create("mlp", input_shape=(2, 34, 34), hidden=(8,))
    save_checkpoint(tmp_path / "ck", model, {"model": model.spikelite_config,
                                              "data": {"name": "digits-dvs", "limit": 20}})
    bad = tmp_path / "missing" / "nb.json"
    r = CliRunner().invoke(_app(), ["profile", str(tmp_path / "ck"), "--limit", "2",
                                    "--neurobench", str(bad)])
    assert r.exit_code != 0 and "nb.json" in r.output and "Traceback" not in r.output
    assert not bad.exists()
