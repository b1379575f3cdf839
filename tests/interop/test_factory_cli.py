"""``--model module:function [--checkpoint net.pt]``: the CLI, recipes' ModelSpec, errors."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from typer.testing import CliRunner

from spikelite.cli import app
from spikelite.errors import SpikeliteError
from spikelite.interop import build_foreign, load_factory, load_foreign_weights
from spikelite.models.spec import ModelSpec, build_model

runner = CliRunner()


class Opaque:
    """A Python object in a checkpoint: refused, never unpickled."""

MODULE = textwrap.dedent('''
    import snntorch as snn
    from torch import nn

    def build(num_classes=10, in_channels=2, beta=0.8):
        def leaky(**kw):
            return snn.Leaky(beta=beta, threshold=0.5, init_hidden=True,
                             reset_mechanism="zero", **kw)
        return nn.Sequential(
            nn.Conv2d(in_channels, 4, 5, stride=2), leaky(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(4 * 7 * 7, num_classes), leaky(output=True))
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    pytest.importorskip("snntorch")
    name = f"user_nets_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    net = load_factory(f"{name}:build")()
    torch.save(net.state_dict(), tmp_path / "net.pt")
    return name, net


def test_cli_profile_eval_export_with_a_factory(user_module, tmp_path) -> None:
    name, _ = user_module
    common = ["--model", f"{name}:build", "--checkpoint", "net.pt", "--time-steps", "2"]
    res = runner.invoke(app, ["profile", *common, "--dataset", "digits-dvs", "--limit", "4",
                              "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output[res.output.index("{"):])
    assert report["samples"] == 4
    res = runner.invoke(app, ["eval", *common, "--dataset", "digits-dvs", "--limit", "4",
                              "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output[res.output.index("{"):])["samples"] == 4
    res = runner.invoke(app, ["export", *common, "--input-shape", "2,34,34", "--out",
                              str(tmp_path / "net.nir")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "net.nir").is_file()


def test_checkpoint_weights_are_loaded(user_module, tmp_path) -> None:
    name, net = user_module
    model = build_foreign(f"{name}:build", {}, tmp_path / "net.pt", input_shape=(2, 34, 34),
                          time_steps=3)
    assert torch.equal(model[0].module.weight, net[0].weight)
    assert model.spikelite_config["factory"] == f"{name}:build"
    # the recipe record: data-dependent factory arguments filled in like a zoo model's
    spec = ModelSpec(factory=f"{name}:build", checkpoint=str(tmp_path / "net.pt"),
                     input_shape=[2, 34, 34], time_steps=3)
    assert torch.equal(build_model(spec, None)[0].module.weight, net[0].weight)


def test_model_spec_dump_of_a_zoo_model_is_unchanged() -> None:
    assert ModelSpec(name="csnn").model_dump() == {"name": "csnn", "kwargs": {}}
    with pytest.raises(SpikeliteError, match="either name .* or factory"):
        ModelSpec(name="csnn", factory="a:b")
    with pytest.raises(SpikeliteError, match="add factory"):
        ModelSpec(checkpoint="net.pt")
    with pytest.raises(SpikeliteError, match="must look like 'module:function'"):
        ModelSpec(factory="nets.build")


def test_factory_errors(user_module, tmp_path) -> None:
    name, net = user_module
    with pytest.raises(SpikeliteError, match="no module named 'no_such_nets'"):
        load_factory("no_such_nets:build")
    with pytest.raises(SpikeliteError, match=f"'{name}' has no attribute 'buld'.*build"):
        load_factory(f"{name}:buld")
    with pytest.raises(SpikeliteError, match="does not exist"):
        load_foreign_weights(net, tmp_path / "missing.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SpikeliteError, match="not a state_dict spikelite can read"):
        load_foreign_weights(net, tmp_path / "garbage.pt")
    torch.save({"0.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(SpikeliteError, match="does not fit the network"):
        load_foreign_weights(net, tmp_path / "other.pt")
    torch.save({"obj": Opaque()}, tmp_path / "pickled.pt")
    with pytest.raises(SpikeliteError, match="never unpickles"):
        load_foreign_weights(net, tmp_path / "pickled.pt")
    res = runner.invoke(app, ["profile", "--model", "no_such_nets:build", "--dataset",
                              "digits-dvs"])
    assert res.exit_code != 0 and "no module named 'no_such_nets'" in res.output
    res = runner.invoke(app, ["eval", "--checkpoint", "net.pt"])
    assert res.exit_code != 0 and "need(s) --model" in res.output


def test_cli_compress_saves_a_checkpoint_that_loads_again(user_module, tmp_path) -> None:
    name, _ = user_module
    res = runner.invoke(app, ["compress", "--model", f"{name}:build", "--checkpoint",
                              "net.pt", "--dataset", "digits-dvs", "--limit", "8",
                              "--time-steps", "3", "--quant", "rescaw:4", "--epochs", "0",
                              "--calibrate-batches", "1", "--out", str(tmp_path / "c"),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    from spikelite.train import load_model

    model, cfg = load_model(tmp_path / "c" / "final")  # rebuilt by the factory, no net.pt
    assert cfg["model"]["factory"] == f"{name}:build"
    assert cfg["parent"] == "net.pt"
    from torch.nn.utils import parametrize

    assert parametrize.is_parametrized(model[0].module, "weight")  # its 4-bit quantizer
    res = runner.invoke(app, ["eval", str(tmp_path / "c" / "final"), "--json"])
    assert res.exit_code == 0, res.output


def test_recipe_with_a_trained_network(user_module, tmp_path) -> None:
    from spikelite.sweep.recipe import Recipe, baseline_key

    name, net = user_module
    model = {"factory": f"{name}:build", "checkpoint": "net.pt"}
    recipe = Recipe(model=model)
    key = baseline_key(recipe)
    torch.save({k: v + 1 for k, v in net.state_dict().items()}, tmp_path / "net.pt")
    assert baseline_key(recipe) != key  # retrained weights: another baseline
    with pytest.raises(SpikeliteError, match="drop baseline.train"):
        Recipe(model=model, baseline={"train": {"epochs": 3}})
    assert baseline_key(Recipe()) == baseline_key(Recipe(model={"name": "csnn"}))
