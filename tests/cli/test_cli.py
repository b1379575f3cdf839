"""The command line, end to end on a few dozen embedded samples."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from spikelite.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELITE_CACHE", str(tmp_path / "cache"))


def test_train_then_eval(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--limit", "20", "--epochs", "1", "--time-steps", "4",
                              "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "checkpoint:" in res.output
    assert (out / "best" / "model.safetensors").is_file()
    assert (out / "run.yaml").is_file()
    res = runner.invoke(app, ["eval", str(out / "best"), "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output[res.output.index("{"):])
    assert payload["samples"] == 20 and 0.0 <= payload["accuracy"] <= 1.0


def test_same_seed_same_checkpoint(tmp_path):
    from safetensors.torch import load_file

    weights = []
    for run in ("a", "b"):
        res = runner.invoke(app, ["train", "--limit", "20", "--epochs", "2", "--time-steps", "3",
                                  "--out", str(tmp_path / run), "--no-progress"])
        assert res.exit_code == 0, res.output
        weights.append(load_file(str(tmp_path / run / "last" / "model.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


def test_train_from_yaml_config(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "model: {name: mlp, kwargs: {hidden: [32]}}\n"
        "data: {name: digits, time_steps: 3, encoding: direct, limit: 20}\n"
        f"train: {{epochs: 1, batch_size: 8}}\nout: {tmp_path / 'out'}\n"
    )
    res = runner.invoke(app, ["train", "--config", str(cfg), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "last" / "trainer.pt").is_file()


def test_train_with_regularizer(tmp_path):
    out = tmp_path / "reg"
    res = runner.invoke(app, ["train", "--limit", "20", "--epochs", "1", "--time-steps", "3",
                              "--regularizer", "hoyer:0.001", "--out", str(out),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "hoyer" in (out / "run.yaml").read_text()
    bad = runner.invoke(app, ["train", "--regularizer", "hoyer:lots"])
    assert bad.exit_code == 2 and "NAME:WEIGHT" in bad.output


def test_train_with_a_membrane_regularizer(tmp_path):
    out = tmp_path / "mem"
    res = runner.invoke(app, ["train", "--limit", "20", "--epochs", "1", "--time-steps", "3",
                              "--regularizer", "l2:0.01", "--regularizer-source", "membrane",
                              "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "source: membrane" in (out / "run.yaml").read_text()
    bad = runner.invoke(app, ["train", "--regularizer", "synops:1", "--regularizer-source",
                              "membrane", "--limit", "20", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "counts spikes/events" in bad.output
    lone = runner.invoke(app, ["train", "--regularizer-source", "membrane"])
    assert lone.exit_code == 2 and "needs a regularizer" in lone.output


def test_unknown_config_key_is_named(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train: {epochs: 1, learning_rate: 0.1}\n")
    res = runner.invoke(app, ["train", "--config", str(cfg)])
    assert res.exit_code == 2
    assert "train.learning_rate: unknown key" in res.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--model", "resnet99"], "unknown model 'resnet99'"),
        (["train", "--dataset", "cifar11"], "unknown dataset 'cifar11'"),
        (["train", "--epochs", "0"], "train.epochs"),
        (["train", "--model-arg", "oops"], "must look like key=value"),
        (["eval", "/nonexistent/ckpt"], "not a spikelite checkpoint"),
    ],
)
def test_bad_input_gives_clear_error(args, message):
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_models_lists_the_zoo():
    res = runner.invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    for name in ("mlp", "csnn", "vgg16", "vggsnn", "resnet20", "tcja-dvsgesture"):
        assert name in res.output


def test_datasets_lists_embedded_sets():
    res = runner.invoke(app, ["datasets"])
    assert res.exit_code == 0
    assert "digits-dvs" in res.output


def test_demo_smoke_and_resume(tmp_path):
    """The demo end to end on 20 samples: baseline, the whole grid, report; then resume."""
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--epochs", "1", "--limit", "20", "--no-progress"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Pareto front" in res.output
    for name in ("report.html", "pareto.png", "results.csv", "summary.md"):
        assert (out / name).is_file(), name
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 23 and rows[0].startswith("name,schedule,scheme,bits")
    again = runner.invoke(app, args)  # rerun resumes: nothing is trained again
    assert again.exit_code == 0, again.output
    assert "23 points (0 run now, 23 reused)" in again.output


def test_quantizers_lists_the_registry():
    res = runner.invoke(app, ["quantizers"])
    assert res.exit_code == 0
    for name in ("uniform", "rescaw", "duq", "symmetric", "ternary", "binary", "lsq"):
        assert name in res.output


def test_schedules_lists_the_registry():
    from spikelite.compress import SCHEDULES

    res = runner.invoke(app, ["schedules"])
    assert res.exit_code == 0
    for name in SCHEDULES.names():
        assert f"{name}  {SCHEDULES.get(name).summary}" in res.output


def test_every_command_is_wrapped_by_the_one_error_path():
    # a bad value for each command's first argument ends in one line, exit 2, no traceback
    for args in (["eval", "/nonexistent"], ["profile", "/nonexistent"],
                 ["export", "/nonexistent", "--out", "/tmp/x.nir"],
                 ["report", "/nonexistent"], ["pareto", "/nonexistent"],
                 ["compress", "/nonexistent", "--quant", "duq:4"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert res.output.startswith("error: ") and "Traceback" not in res.output, args


def test_train_channels_last(tmp_path):
    out = tmp_path / "nhwc"
    res = runner.invoke(app, ["train", "--model", "csnn", "--dataset", "digits-dvs", "--limit",
                              "16", "--epochs", "1", "--time-steps", "2",
                              "--memory-format", "channels_last", "--out", str(out),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "last" / "config.json").read_text())["train"][
        "memory_format"] == "channels_last"
    bad = runner.invoke(app, ["train", "--memory-format", "nhwc", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2
    assert "'contiguous' or 'channels_last'" in bad.output
