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
    snns = {g: ann_to_snn_graph(ann, xtr, granularity=g) for g in ("layer", "channel")}
    print("| T | layer-wise acc. % | SynOps / sample | MACs / sample | channel-wise acc. % "
          "| SynOps / sample | MACs / sample |")
    print("|---|---|---|---|---|---|---|")
    for T in (1, 2, 3, 5, 10, 20, 50, 100):
        row = []
        for snn in snns.values():
            ex = snn.profile(xte, T).exact()
            row += [f"{accuracy(snn.simulate(xte, T), yte):.2f}",
                    f"{ex['effective_ac']:,.0f}", f"{ex['effective_mac']:,.0f}"]
        print(f"| {T} | " + " | ".join(row) + " |")
    print(f"(total {time.time() - t0:.1f} s)")


if __name__ == "__main__":
    main()
