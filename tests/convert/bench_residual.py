"""A residual CNN on sklearn digits, converted with ann_to_snn_graph (docs/convert.md).

Run: .venv/bin/python tests/convert/bench_residual.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _digits import accuracy, digits_split, train_digits_resnet

from spikelite.convert import ann_to_snn_graph


def main() -> None:
    t0 = time.time()
    xtr, ytr, xte, yte = digits_split()
    ann = train_digits_resnet(xtr, ytr)
    with torch.no_grad():
        ann_acc = accuracy(ann(xte), yte)
    print(f"ANN test accuracy {ann_acc:.2f} % ({time.time() - t0:.1f} s to train)")
    snn = ann_to_snn_graph(ann, xtr)
    print("| T | SNN acc. % | SynOps (effective ACs) / sample | effective MACs / sample |")
    print("|---|---|---|---|")
    for T in (5, 10, 20, 50, 100, 200):
        ex = snn.profile(xte, T).exact()
        print(f"| {T} | {accuracy(snn.simulate(xte, T), yte):.2f} | "
              f"{ex['effective_ac']:,.0f} | {ex['effective_mac']:,.0f} |")
    print(f"(total {time.time() - t0:.1f} s)")


if __name__ == "__main__":
    main()
