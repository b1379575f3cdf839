"""Export targets: the registry, dispatch by name (library and CLI), the shared chain walker."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.export import EXPORT_TARGETS, ExportTarget, export_model, get_target
from spikelite.export.chain import (
    FlattenStep,
    NeuronStep,
    PoolStep,
    SynapseStep,
    walk_chain,
)
from spikelite.models import create


@dataclass(frozen=True)
class _Layers(ExportTarget):
    """A test target: the layer kinds as JSON (one file, written atomically)."""

    name: ClassVar[str] = "layers-test"
    description: ClassVar[str] = "the layer kinds as JSON"
    suffix: ClassVar[str] = ".json"

    def export(self, plain: nn.Module, sidecars: Any, path: Path, *, source: Any = None,
               tag: str = "") -> str:
        chain = walk_chain(plain, label="layers-test export")
        doc = {"tag": tag, "source": source,
               "steps": [type(s).__name__ for s in chain.steps]}
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)
        return f"wrote {path} ({len(chain.steps)} steps)"

    def check(self, plain: nn.Module, path: Path) -> float:
        return 1.0 if json.loads(path.read_text())["steps"] else 0.0


@pytest.fixture
def layers_target(monkeypatch: pytest.MonkeyPatch) -> type[ExportTarget]:
    """``_Layers`` registered for one test (the registry has no public removal)."""
    monkeypatch.setitem(EXPORT_TARGETS._entries, _Layers.name, _Layers)
    return _Layers


def test_the_registry_lists_nir_and_package_with_their_records():
    assert {"nir", "package"} <= set(EXPORT_TARGETS.names())
    nir, pkg = get_target("nir"), get_target("package")
    assert (nir.name, nir.suffix, nir.extra) == ("nir", ".nir", "nir")
    assert (pkg.name, pkg.suffix, pkg.extra) == ("package", "", None)
    assert nir.options() == ("dt", "lif_gain", "allow_reset_mismatch", "peer")
    assert pkg.options() == ("pack",)
    for name in EXPORT_TARGETS:
        target = get_target(name)
        assert target.description and "\n" not in target.description


def test_a_registered_target_is_dispatched_by_export_model(tmp_path, layers_target):
    model = create("mlp", input_shape=(6,), hidden=(4,), num_classes=2)
    done = export_model(model, {}, tmp_path / "m.json", to=layers_target.name, tag="x",
                        source={"model": "mlp"})
    assert done.summary == f"wrote {tmp_path / 'm.json'} (4 steps)"
    assert done.agreement == 1.0 and done.target == "layers-test"
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["tag"] == "x" and doc["source"] == {"model": "mlp"}
    assert doc["steps"] == ["FlattenStep", "SynapseStep", "NeuronStep", "SynapseStep"]
    with pytest.raises(SpikeliteError, match="has no option pack; its options: tag"):
        export_model(model, {}, tmp_path / "n.json", to=layers_target.name, pack=True)
    with pytest.raises(SpikeliteError, match="Valid export target names: .*layers-test"):
        export_model(model, {}, tmp_path / "o", to="onnx")


def test_the_cli_dispatches_to_a_registered_target(tmp_path, layers_target):
    from spikelite.cli import app
    from spikelite.train import save_checkpoint

    torch.manual_seed(0)
    model = create("mlp", input_shape=(6,), hidden=(4,), num_classes=2)
    save_checkpoint(tmp_path / "ck", model, {"model": {"name": "mlp", "kwargs": {
        "input_shape": [6], "hidden": [4], "num_classes": 2}}})
    runner = CliRunner()
    res = runner.invoke(app, ["export", str(tmp_path / "ck"), "--to", "layers-test",
                              "--out", str(tmp_path / "m.json"), "--pack"])
    assert res.exit_code == 0, res.output
    assert "(4 steps); read back: 100.0000% of output values equal" in res.output
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["source"]["checkpoint"] == str(tmp_path / "ck")  # --pack is not its option
    bad = runner.invoke(app, ["export", str(tmp_path / "ck"), "--to", "onnx", "--out", "x"])
    assert bad.exit_code == 2 and "layers-test, nir or package" in bad.output


def test_the_chain_walker_normalises_a_conv_snn():
    torch.manual_seed(0)
    model = create("csnn").eval()
    chain = walk_chain(model, label="test export")
    kinds = [type(s) for s in chain.steps]
    assert kinds == [SynapseStep, NeuronStep, PoolStep, SynapseStep, NeuronStep, PoolStep,
                     FlattenStep, SynapseStep]
    conv1, lif1, pool1 = chain.steps[:3]
    assert conv1.bn_name == "bn1.module" and conv1.feeds_neuron and conv1.key == "conv1"
    assert lif1.synapse is conv1 and lif1.in_shape == conv1.out_shape
    assert pool1.spikes_in and pool1.kind == "max"
    assert not chain.steps[-1].feeds_neuron and chain.output_shape == (10,)
    assert chain.input_shape == (2, 34, 34)
    # the folded map equals the layer followed by its BatchNorm
    x = torch.rand(3, 2, 34, 34)
    w, b = conv1.deployed()
    with torch.no_grad():
        ref = conv1.bn(conv1.module(x))
        got = nn.functional.conv2d(x, w, b, conv1.module.stride, conv1.module.padding)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_the_chain_walker_refuses_clearly():
    bn = nn.BatchNorm1d(3, track_running_stats=False)
    with pytest.raises(SpikeliteError, match="track_running_stats"):
        walk_chain(nn.Sequential(TimeDistributed(nn.Linear(4, 3)), TimeDistributed(bn)),
                   (4,), label="x export")
    with pytest.raises(SpikeliteError, match="'0.module' \\(Linear\\) cannot take one sample"):
        walk_chain(nn.Sequential(TimeDistributed(nn.Linear(5, 3)), LIF()), (4,),
                   label="x export")
    with pytest.raises(SpikeliteError, match="only a full flatten"):
        walk_chain(nn.Sequential(TimeDistributed(nn.Flatten(2))), (1, 2, 2),
                   label="x export")
    with pytest.raises(SpikeliteError, match="'1' \\(GELU\\) has no x export"):
        walk_chain(nn.Sequential(Flatten(), nn.GELU()), (4,), label="x export")

    def no_neurons(name: str, m: nn.Module, spikes_in: bool) -> None:
        if isinstance(m, LIF):
            raise SpikeliteError(f"layer '{name}': no neurons here")

    with pytest.raises(SpikeliteError, match="'1': no neurons"):
        walk_chain(nn.Sequential(TimeDistributed(nn.Linear(4, 3)), LIF()), (4,),
                   label="x export", refuse=no_neurons)


def test_read_nir_for_profile_returns_model_sidecars_and_dataset(tmp_path):
    pytest.importorskip("nir")
    from spikelite.export.nir import read_nir_for_profile
    from spikelite.quant import bake, quantize_

    torch.manual_seed(0)
    model = create("mlp", input_shape=(6,), hidden=(4,), num_classes=2)
    quantize_(model, "duq", 2)
    plain, sidecars = bake(model)
    done = export_model(plain.eval(), sidecars, tmp_path / "m.nir",
                        source={"data": {"name": "digits"}})
    assert done.agreement == 1.0
    back, side, spec = read_nir_for_profile(tmp_path / "m.nir")
    assert spec == {"name": "digits"}
    assert set(side) == set(sidecars) == {"fc1.module", "fc.module"}
    assert side["fc1.module"].bits == 2
    assert not back.training
    with pytest.raises(SpikeliteError, match="no NIR file"):
        read_nir_for_profile(tmp_path / "none.nir")
