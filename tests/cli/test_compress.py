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
    model, cfg = load_model(out / "final")
    assert cfg["quant"]["conv1.module"] == {"scheme": "duq", "bits": 2}
    assert fake_quant_of(model.conv1.module) is not None
    ev = runner.invoke(app, ["eval", str(out / "final"), "--json"])
    assert ev.exit_code == 0, ev.output
    assert _acc(ev.output) == cfg["metrics"]["test_accuracy"]


def test_ptq_only_with_qpsnn_layer_selection(trained):
    out = trained / "rescaw4"
    res = runner.invoke(app, ["compress", str(trained / "fp" / "best"), "--quant", "rescaw",
                              "--bits", "4", "--quant-opt", "gamma=max", "--skip-first",
                              "--skip-last", "--epochs", "0", "--out", str(out),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    _, cfg = load_model(out / "final")
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
    assert (tmp_path / "u8" / "final" / "model.safetensors").is_file()


@pytest.mark.parametrize("schedule", ["joint", "cumulative"])
def test_prune_and_quantize_schedules_reload(trained, schedule):
    out = trained / f"pq-{schedule}"
    res = runner.invoke(app, ["compress", str(trained / "fp" / "best"), "--quant", "duq:4",
                              "--prune", "magnitude:0.8", "--scope", "layer", "--schedule",
                              schedule, "--epochs", "2", "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    model, cfg = load_model(out / "final")
    assert cfg["parametrizations"]["conv1.module"] == [
        {"kind": "quant", "scheme": "duq", "bits": 4}, {"kind": "mask"}]
    assert cfg["schedule"]["masked_fraction"] == pytest.approx(0.8, abs=0.01)
    ev = runner.invoke(app, ["eval", str(out / "final"), "--json"])
    assert _acc(ev.output) == cfg["metrics"]["test_accuracy"]
    w = model.fc.module.weight
    assert float((w == 0).float().mean()) >= 0.8


@pytest.mark.parametrize("schedule", ["qp", "pq"])
def test_qpsnn_channel_pruning_schedules(trained, schedule):
    out = trained / f"qp-{schedule}"
    res = runner.invoke(app, ["compress", str(trained / "fp" / "best"), "--quant", "rescaw:4",
                              "--skip-first", "--skip-last", "--prune", "svs:0.5",
                              "--schedule", schedule, "--epochs", "2", "--out", str(out),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    model, cfg = load_model(out / "final")
    assert cfg["model"]["kwargs"]["widths"] == [8, 32]  # conv1 halved, last conv kept
    assert model.conv1.module.weight.shape[0] == 8
    assert set(cfg["parametrizations"]) == {"conv2.module"}  # first and last stay FP
    assert cfg["parametrizations"]["conv2.module"][0]["scheme"] == "rescaw"
    ev = runner.invoke(app, ["eval", str(out / "final"), "--json"])
    assert _acc(ev.output) == cfg["metrics"]["test_accuracy"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--quant", "fp4"], "unknown quantizer 'fp4'"),
        (["--quant", "binary:4"], "bits"),
        (["--quant", "rescaw:x"], "SCHEME:BITS"),
        (["--quant", "rescaw", "--quant-opt", "gama=max"], "gama"),
        (["--prune", "lots"], "METHOD:SPARSITY"),
        (["--prune", "1.0"], "prune.sparsity"),
        (["--prune", "taylor:0.5"], "prune.method"),
        (["--prune", "svs:0.5", "--schedule", "joint"], "runs with schedule qp or pq"),
        (["--prune", "magnitude:0.5", "--schedule", "qp"], "QP-SNN's channel pruning"),
    ],
)
def test_compress_errors(trained, args, message):
    res = runner.invoke(app, ["compress", str(trained / "fp" / "best"), *args, "--epochs", "0",
                              "--out", str(trained / "err"), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert message in res.output


def test_profile_reads_the_compressed_checkpoint(trained):
    out = trained / "prof"
    res = runner.invoke(app, ["compress", str(trained / "fp" / "best"), "--quant", "duq:4",
                              "--prune", "magnitude:0.5", "--epochs", "1", "--out", str(out),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    reports = {}
    for name, ck in (("fp", trained / "fp" / "best"), ("q", out / "final")):
        r = runner.invoke(app, ["profile", str(ck), "--preset", "horowitz45-derived",
                                "--format", "dense", "--limit", "8", "--json"])
        assert r.exit_code == 0, r.output
        reports[name] = json.loads(r.output[r.output.index("{"):])
    fp_w = reports["fp"]["footprint"]["by_component_bits"]["weights"]
    q_w = reports["q"]["footprint"]["by_component_bits"]["weights"]
    assert q_w == fp_w / 8  # 4-bit codes instead of fp32 for the same shapes (dense format)
    assert reports["q"]["total_pj_per_sample"] < reports["fp"]["total_pj_per_sample"]


def test_flags_complete_a_job_file_before_it_is_validated(trained):
    job = trained / "ptq.yaml"
    job.write_text("finetune: {epochs: 0}\n")
    out = trained / "from-yaml"
    res = runner.invoke(app, ["compress", str(trained / "fp" / "best"), "--config", str(job),
                              "--quant", "duq:4", "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    _, cfg = load_model(out / "final")
    assert cfg["compression"]["schedule"] == "ptq" and cfg["compression"]["bits"] == 4
