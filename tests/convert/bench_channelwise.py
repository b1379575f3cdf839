"""Layer-wise vs channel-wise thresholds: accuracy and SynOps vs T (docs/convert.md).

Run: .venv/bin/python tests/convert/bench_channelwise.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _digits import accuracy, digits_split, train_digits_mlp

from spikelite.convert import ann_to_snn


def main() -> None:
    xtr, ytr, xte, yte = digits_split()
    ann = train_digits_mlp(xtr, ytr)
    print("| T | layer-wise acc. % | layer-wise SynOps/sample | channel-wise acc. % "
          "| channel-wise SynOps/sample |")
    print("|---|---|---|---|---|")
    for T in (1, 2, 5, 10, 20):
        row = []
        for granularity in ("layer", "channel"):
            snn = ann_to_snn(ann, xtr, granularity=granularity, time_steps=T)
            synops = snn.profile(xte).exact()["effective_ac"]
            row += [f"{accuracy(snn.simulate(xte), yte):.2f}", f"{synops:,.0f}"]
        print(f"| {T} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
