"""Accuracy vs. simulation length of a converted digits MLP (the table in docs/convert.md).

Run: .venv/bin/python tests/convert/bench_digits.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _digits import accuracy, digits_split, train_digits_mlp

from spikelite.convert import ann_to_snn


def main() -> None:
    t0 = time.time()
    xtr, ytr, xte, yte = digits_split()
    ann = train_digits_mlp(xtr, ytr)
    with torch.no_grad():
        ann_acc = accuracy(ann(xte), yte)
    print(f"ANN test accuracy: {ann_acc:.2f}% (n={len(yte)}), trained in {time.time()-t0:.1f}s")
    steps = (1, 2, 5, 10, 20, 50, 100, 200, 500)
    cols = [
        ("percentile 99.9, direct, v0=0.5θ", "percentile", "direct", 0.5, "layer"),
        ("max, direct, v0=0.5θ", "max", "direct", 0.5, "layer"),
        ("percentile 99.9, direct, v0=0", "percentile", "direct", 0.0, "layer"),
        ("percentile 99.9, rate, v0=0.5θ", "percentile", "rate", 0.5, "layer"),
        ("channel-wise percentile 99.9, direct, v0=0.5θ", "percentile", "direct", 0.5,
         "channel"),
        ("channel-wise max, direct, v0=0.5θ", "max", "direct", 0.5, "channel"),
    ]
    print("| T | " + " | ".join(c[0] for c in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    snns = [ann_to_snn(ann, xtr, threshold=m, coding=c, v_init=v, granularity=g)
            for _, m, c, v, g in cols]
    for T in steps:
        row = []
        for snn in snns:
            g = torch.Generator().manual_seed(0)
            row.append(f"{accuracy(snn.simulate(xte, T, generator=g), yte):.2f}")
        print(f"| {T} | " + " | ".join(row) + " |")
    print(f"(ANN {ann_acc:.2f}%; total {time.time()-t0:.1f}s)")


if __name__ == "__main__":
    main()
