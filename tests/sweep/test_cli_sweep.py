"""`spikelite sweep / pareto / report / recipes` on a tiny recipe file."""

from __future__ import annotations

import csv

import pytest
import yaml
from typer.testing import CliRunner

from spikelite.cli import app

from ._tiny import tiny_recipe

runner = CliRunner()


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELITE_CACHE", str(tmp_path / "cache"))


def test_sweep_pareto_report_from_a_recipe_file(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny_recipe(tmp_path / "ignored").model_dump(
        mode="json")))
    out = tmp_path / "sweep"
    res = runner.invoke(app, ["sweep", str(recipe), "--out", str(out), "--no-progress",
                              "--set", "hardware.samples=8"])
    assert res.exit_code == 0, res.output
    assert "Pareto front" in res.output and "4 points (4 run now, 0 reused)" in res.output
    assert (out / "report.html").is_file() and (out / "results.csv").is_file()
    assert yaml.safe_load((out / "recipe.yaml").read_text())["hardware"]["samples"] == 8
    res = runner.invoke(app, ["pareto", str(out), "--x", "size", "--y", "accuracy",
                              "--plot", str(tmp_path / "front")])
    assert res.exit_code == 0, res.output
    assert "Pareto front: accuracy / size" in res.output
    assert (tmp_path / "front.png").is_file() and (tmp_path / "front.svg").is_file()
    (out / "report.html").unlink()
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report.html").is_file()
    # any finished point exports by name from the sweep folder
    name = next(csv.DictReader((out / "results.csv").open()))["name"]
    res = runner.invoke(app, ["export", str(out), "--point", name, "--to", "package",
                              "--out", str(tmp_path / "pkg")])
    assert res.exit_code == 0, res.output
    assert "100.0000% of output values equal" in res.output
    res = runner.invoke(app, ["export", str(out), "--out", str(tmp_path / "x.nir")])
    assert res.exit_code == 2 and "--point" in res.output and name in res.output


def test_bad_recipe_key_is_a_one_line_error(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("name: x\nfinetune: {epochs: 1, lr: -1}\ngrid: [{bitz: 4}]\n")
    res = runner.invoke(app, ["sweep", str(recipe)])
    assert res.exit_code == 2
    assert "finetune.lr" in res.output and "grid.0.bitz: unknown key" in res.output
    assert "Traceback" not in res.output


def test_report_on_a_folder_without_results_says_what_to_do(tmp_path):
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "spikelite sweep" in res.output


def test_recipes_lists_the_builtins():
    res = runner.invoke(app, ["recipes"])
    assert res.exit_code == 0
    for name in ("demo", "schaefer-isolation-cumulative-joint", "qpsnn-small",
                 "narduzzi-regularizers"):
        assert name in res.output
