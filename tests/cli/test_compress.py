"""`spikelite compress`: quantize a checkpoint, fine-tune, and evaluate the result."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from spikelite.cli import app
from spikelite.quant import fake_quant_of
from spikelite.train import load_model

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("compress")
    mp = pytest.MonkeyPatch()
    mp.setenv("SPIKELITE_CACHE", str(root / "cache"))
    res = runner.invoke(app, ["train", "--limit", "20", "--epochs", "1", "--time-steps", "4",
                              "--out", str(root / "fp"), "--no-progress"])
    assert res.exit_code == 0, res.output
    yield root
    mp.undo()


def _acc(output: str) -> float:
    return json.loads(output[output.index("{"):])["accuracy"]


def test_qat_checkpoint_reloads_quantized_and_evaluates_the_same(trained):
    out = trained / "duq2"
    res = runner.invoke(app, ["compress", str(trained / "fp" / "best"), "--quant", "duq:2",
                              "--epochs", "1", "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "fine-tuned" in res.output and (out / "compress.yaml").is_file()
    model, cfg = load_model(out / "last")
    assert cfg["quant"]["conv1.module"] == {"scheme": "duq", "bits": 2}
    assert fake_quant_of(model.conv1.module) is not None
    ev = runner.invoke(app, ["eval", str(out / "last"), "--json"])
    assert ev.exit_code == 0, ev.output
    assert _acc(ev.output) == cfg["metrics"]["test_accuracy"]


def test_ptq_only_with_qpsnn_layer_selection(trained):
    out = trained / "rescaw4"
    res = runner.invoke(app, ["compress", str(trained / "fp" / "best"), "--quant", "rescaw",
                              "--bits", "4", "--quant-opt", "gamma=max", "--skip-first",
                              "--skip-last", "--epochs", "0", "--out", str(out),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    _, cfg = load_model(out / "best")
    assert set(cfg["quant"]) == {"conv2.module"}
    assert cfg["quant"]["conv2.module"]["gamma"] == "max"


def test_compress_from_yaml(trained, tmp_path):
    recipe = tmp_path / "q.yaml"
    recipe.write_text(
        f"checkpoint: {trained / 'fp' / 'best'}\n"
        "quant: {scheme: uniform, bits: 8, skip_first: true}\n"
        f"finetune: {{epochs: 0}}\nout: {tmp_path / 'u8'}\n"
    )
    res = runner.invoke(app, ["compress", "--config", str(recipe), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "u8" / "best" / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--quant", "fp4"], "unknown quantizer 'fp4'"),
        (["--quant", "binary:4"], "bits"),
        (["--quant", "rescaw:x"], "SCHEME:BITS"),
        (["--quant", "rescaw", "--quant-opt", "gama=max"], "gama"),
    ],
)
def test_compress_errors(trained, args, message):
    res = runner.invoke(app, ["compress", str(trained / "fp" / "best"), *args, "--epochs", "0",
                              "--out", str(trained / "err"), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert message in res.output
