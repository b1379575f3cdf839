"""Accuracy of integer packages against their checkpoints on the full test split.

Usage (after `make demo` and `spikelite export runs/demo/artifacts/KEY/model --to package
--out runs/export/pkg-KEY`):

    .venv/bin/python benchmarks/package_accuracy.py KEY [KEY ...]
"""

from __future__ import annotations

import sys

import torch

from spikelite.data.spec import DataSpec, load_data
from spikelite.export.package import run_package
from spikelite.quant import bake
from spikelite.train import load_model


def main(keys: list[str]) -> None:
    for key in keys:
        model, cfg = load_model(f"runs/demo/artifacts/{key}/model")
        plain, _ = bake(model)
        plain.eval()
        _, test = load_data(DataSpec(**cfg["data"]))
        n = len(test)
        xs = torch.stack([test[i][0] for i in range(n)], 1).float()
        ys = torch.tensor([test[i][1] for i in range(n)])
        with torch.no_grad():
            ref = plain(xs)
        got = run_package(f"runs/export/pkg-{key}", xs)
        acc_model = float((ref.mean(0).argmax(1) == ys).float().mean())
        acc_pkg = float((got.mean(0).argmax(1) == ys).float().mean())
        diff = float((ref.double() - got).abs().max())
        print(f"{key}: {n} samples, model {acc_model:.4f}, package {acc_pkg:.4f}, "
              f"max |output difference| {diff:.2g}")


if __name__ == "__main__":
    main(sys.argv[1:])
