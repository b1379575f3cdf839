"""Training cost of a membrane regularizer: fused kernel (with the membrane trace) vs the
eager path (what `source: membrane` used before the trace existed), next to plain training.

Model: the demo network (``csnn`` for ``digits-dvs``, seeded weights); data: the first
``--samples`` training samples in batches of ``--batch-size``, prepared time-major once.
Each round times, in rotating order, one pass of forward + loss + backward + SGD step over
the batches for:

* **plain**: cross-entropy only (fused LIF);
* **membrane, fused**: + ``hoyer`` on the pre-reset membranes (``source="membrane"``), the
  fused kernel returning the membrane;
* **membrane, eager**: the same with ``fused=False`` neurons.

CPU time (``time.process_time``) with ``torch.set_num_threads(--threads)``; the median over
``--rounds`` rounds after ``--warmup``. Usage:
``python benchmarks/bench_membrane_reg.py [--rounds 7] [--samples 256]``
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from spikelite.core import LIF, reset_states
from spikelite.data import load
from spikelite.models.spec import ModelSpec, build_model
from spikelite.regularize import ActivityRegularizer


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train, _ = load("digits-dvs", time_steps=10)
    n = min(args.samples, len(train))
    xs = [train[i][0] for i in range(n)]
    ys = torch.tensor([train[i][1] for i in range(n)])
    batches = [(torch.stack(xs[i:i + args.batch_size], 1).float().contiguous(),
                ys[i:i + args.batch_size]) for i in range(0, n, args.batch_size)]
    base = build_model(ModelSpec(), train)

    def setup(kind: str) -> tuple[torch.nn.Module, ActivityRegularizer | None]:
        model = copy.deepcopy(base).train()
        if kind == "membrane, eager":
            for m in model.modules():
                if isinstance(m, LIF):
                    m.fused = False
        reg = None if kind == "plain" else ActivityRegularizer(model, "hoyer", 1e-3,
                                                               source="membrane")
        return model, reg

    kinds = ["plain", "membrane, fused", "membrane, eager"]
    runs = {k: setup(k) for k in kinds}
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(args.warmup + args.rounds):
        order = kinds[r % 3:] + kinds[:r % 3]
        for k in order:
            model, reg = runs[k]
            opt = torch.optim.SGD(model.parameters(), lr=1e-3)
            t0 = time.process_time()
            for x, y in batches:
                reset_states(model)
                loss = torch.nn.functional.cross_entropy(model(x).mean(0), y)
                if reg is not None:
                    loss = loss + reg.penalty()
                opt.zero_grad()
                loss.backward()
                opt.step()
            if r >= args.warmup:
                times[k].append(time.process_time() - t0)
    plain = statistics.median(times["plain"])
    print(f"{n} samples, batch {args.batch_size}, {args.threads} thread(s), "
          f"median of {args.rounds} rounds (CPU s per pass):")
    for k in kinds:
        med = statistics.median(times[k])
        print(f"  {k:<16} {med:7.3f} s  ({med / plain:.2f}× plain)")


if __name__ == "__main__":
    main()
