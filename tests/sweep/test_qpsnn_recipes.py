"""The QP-SNN paper recipes for CIFAR-100 and Tiny-ImageNet: each validates without data,
and a smoke version (a handful of format-exact fake samples, 1–2 epochs, CPU) runs end to
end; the pruned checkpoint's QP-SNN-convention size (Eq. 16) is Table 1's for VGG-16 and
the documented non-reproducing value for ResNet20 (docs/models.md, papers.md §1.14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from torch import nn

from spikelite.data import encode_cifar100_bin, list_datasets, write_jpeg
from spikelite.records import read_yaml
from spikelite.sweep.recipe import builtin_recipes, load_recipe

# recipe → {point label: QP-SNN Eq. 16 size in MB (convention="qpsnn")}; VGG-16: Table 1
PAPER = {
    "qpsnn-vgg16-cifar100": {
        "qp-rescaw8-table9a": 2.48, "qp-rescaw4-table9a": 1.35, "qp-rescaw2-table9a": 0.79,
        "qp-rescaw8-table9b": 1.85, "qp-rescaw4-table9b": 1.04, "qp-rescaw2-table9b": 0.63,
    },
    "qpsnn-vgg16-tinyimagenet": {
        "qp-rescaw8-table9a": 5.90, "qp-rescaw4-table9a": 3.78, "qp-rescaw2-table9a": 2.72,
        "qp-rescaw8-table9b": 4.67, "qp-rescaw4-table9b": 3.17, "qp-rescaw2-table9b": 2.41,
    },
    # Table 1 says 6.45 / 3.35 / 1.79 (a) and 4.10 / 2.17 / 1.20 (b): NOT reproduced by the
    # zoo's option-A ResNet20 with Table 10's ratios (docs/models.md); these are its sizes.
    "qpsnn-resnet20-cifar100": {
        "qp-rescaw8-table10a": 5.96, "qp-rescaw4-table10a": 3.10, "qp-rescaw2-table10a": 1.67,
        "qp-rescaw8-table10b": 3.69, "qp-rescaw4-table10b": 1.96, "qp-rescaw2-table10b": 1.10,
    },
}
RESNET20_PAPER = {"qp-rescaw4-table10a": 3.35, "qp-rescaw2-table10b": 1.20}
SMOKE = {  # recipe → the point run end to end
    "qpsnn-vgg16-cifar100": "qp-rescaw4-table9a",
    "qpsnn-vgg16-tinyimagenet": "qp-rescaw4-table9a",
    "qpsnn-resnet20-cifar100": "qp-rescaw2-table10b",
}


def qpsnn_mb(model: nn.Module, layers: dict[str, Any] | None) -> float:
    from spikelite.hardware import model_size

    return model_size(model, layers, convention="qpsnn").mb


def write_cifar100(base: Path) -> Path:
    """cifar-100-binary/ with 8 train and 4 test images (fine labels 0…3)."""
    folder = base / "cifar-100-binary"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in (("train.bin", 8), ("test.bin", 4)):
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        fine = np.arange(n) % 4
        (folder / name).write_bytes(encode_cifar100_bin(images, fine // 2, fine))
    return base


def write_tiny(base: Path) -> Path:
    """tiny-imagenet-200/ with 2 classes × 2 train JPEGs and 2 val JPEGs."""
    root = base / "tiny-imagenet-200"
    rng = np.random.default_rng(0)
    wnids = ["n01443537", "n02124075"]
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    lines = []
    for k, w in enumerate(wnids):
        for i in range(2):
            write_jpeg(root / "train" / w / "images" / f"{w}_{i}.JPEG",
                       rng.integers(0, 256, (3, 64, 64), dtype=np.uint8))
        write_jpeg(root / "val" / "images" / f"val_{k}.JPEG",
                   rng.integers(0, 256, (3, 64, 64), dtype=np.uint8))
        lines.append(f"val_{k}.JPEG\t{w}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return base


def test_datasets_are_registered_and_listed() -> None:
    from typer.testing import CliRunner

    from spikelite.cli import app

    assert {"cifar100", "tiny-imagenet"} <= set(list_datasets())
    out = CliRunner().invoke(app, ["datasets"])
    assert out.exit_code == 0 and "cifar100" in out.output and "tiny-imagenet" in out.output


@pytest.mark.parametrize("name", sorted(PAPER))
def test_recipe_validates_with_the_paper_settings(name: str) -> None:
    assert name in builtin_recipes()
    recipe = load_recipe(name)
    points = {p.label: p for p in recipe.expand()}
    assert set(points) == {"fp32", *PAPER[name]}
    train, ft = recipe.baseline.train, recipe.finetune
    assert (train.epochs, train.batch_size, train.optimizer, train.lr) == (300, 256, "sgd", 0.1)
    assert (ft.epochs, ft.optimizer, ft.lr) == (450, "adam", 0.001)
    # the paper's augmentation: AutoAugment + Cutout on CIFAR, crop + flip on Tiny-ImageNet
    augment = True if "tinyimagenet" in name else "autoaugment"
    assert recipe.data.encoding == "direct" and recipe.data.kwargs == {"augment": augment}
    assert recipe.data.time_steps == (2 if "resnet20" in name else 4)
    for label, p in points.items():
        if label != "fp32":
            assert (p.schedule, p.scheme, p.method, p.prune_epochs) == ("qp", "rescaw", "svs",
                                                                        300)
            assert p.skip_first and p.skip_last and p.bits == int(label[9])


def _smoke(name: str, root: Path, out: Path) -> Any:
    from spikelite.sweep import run_sweep

    raw = read_yaml(builtin_recipes()[name])
    point = next(p for p in raw["points"] if p["name"] == SMOKE[name])
    overrides = {
        "out": str(out), "device": "cpu", "data.root": str(root), "data.limit": 2,
        "data.time_steps": 1,
        "baseline.train.epochs": 1, "baseline.train.batch_size": 4,
        "finetune.epochs": 2, "finetune.batch_size": 4, "hardware.samples": 2,
        "points": [{**point, "prune_epochs": 1}],
    }
    return run_sweep(load_recipe(name, overrides), progress=False, report=False)


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_smoke_run_and_table1_size(name: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from spikelite.quant import bake
    from spikelite.train import load_model

    monkeypatch.setenv("SPIKELITE_CACHE", str(tmp_path / "cache"))
    fixture = write_tiny if "tiny" in name else write_cifar100
    res = _smoke(name, fixture(tmp_path / "data"), tmp_path / "run")
    assert not res.failed and res.ran == 1, res.failed
    (row,) = [r for r in res.rows if r["name"] == SMOKE[name]]
    assert 0.0 <= row["accuracy"] <= 1.0 and row["removed_fraction"] > 0.5
    model, _ = load_model(res.run_dir / row["artifacts"] / "model")
    plain, layers = bake(model)
    quantized = {n for n, lq in layers.items() if lq.codes is not None}
    convs = [n for n, m in plain.named_modules() if isinstance(m, nn.Conv2d)]
    assert convs[0] not in quantized and len(quantized) == len(convs) - 1  # App. G
    assert {layers[n].bits for n in quantized} == {int(SMOKE[name][9])}
    mb = qpsnn_mb(plain, layers)
    assert round(mb, 2) == PAPER[name][SMOKE[name]], mb
    if "resnet20" in name:  # documented: the paper's ResNet20 sizes do not reproduce
        assert round(mb, 2) != RESNET20_PAPER[SMOKE[name]]
