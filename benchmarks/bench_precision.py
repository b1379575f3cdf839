"""Training speed of mixed precision: one epoch of the demo's baseline training in fp32 vs
bf16 (``torch.autocast``), interleaved.

Model and data: the demo recipe's (``csnn`` on the embedded ``digits-dvs``, T = 10) and its
baseline training settings (batch 32, Adam, lr 0.002); ``--samples`` limits the training
set. Each round trains one epoch with :func:`spikelite.train.fit` (no evaluation) from the
same seeded weights, once per precision, the starting precision alternating. Reports the
median over ``--rounds`` rounds (after ``--warmup``) of the CPU time
(``time.process_time``, robust on a shared machine) and the wall time, with
``torch.set_num_threads(--threads)``. Usage:
``python benchmarks/bench_precision.py [--rounds 5] [--threads 1]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import Subset

from spikelite.data.spec import load_data
from spikelite.models.spec import build_model
from spikelite.sweep.recipe import load_recipe
from spikelite.train import fit, seed_everything

PRECISIONS = ("fp32", "bf16")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=None, help="training samples (all)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = load_recipe("demo")
    train, _ = load_data(recipe.data)
    if args.samples is not None:
        train = Subset(train, range(min(args.samples, len(train))))
    base = recipe.baseline.train
    times: dict[str, list[tuple[float, float]]] = {p: [] for p in PRECISIONS}
    for r in range(args.warmup + args.rounds):
        order = PRECISIONS if r % 2 == 0 else PRECISIONS[::-1]
        for prec in order:
            seed_everything(base.seed)
            model = build_model(recipe.model, train if args.samples is None else train.dataset)
            cfg = base.model_copy(update={"epochs": 1, "precision": prec})
            c0, w0 = time.process_time(), time.perf_counter()
            res = fit(model, train, None, cfg, device="cpu", progress=False)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            if r >= args.warmup:
                times[prec].append((cpu, wall))
            print(f"round {r + 1} {prec}: cpu {cpu:.2f} s, wall {wall:.2f} s, "
                  f"train acc {res.history[-1]['train_accuracy']:.4f}", flush=True)
    print(f"\n{len(train)} samples, batch {base.batch_size}, {args.threads} thread(s), "
          f"median of {args.rounds} interleaved epochs")
    ref = statistics.median(c for c, _ in times["fp32"])
    for prec in PRECISIONS:
        cpu = statistics.median(c for c, _ in times[prec])
        wall = statistics.median(w for _, w in times[prec])
        print(f"{prec}: cpu {cpu:.2f} s/epoch, wall {wall:.2f} s/epoch, "
              f"speed-up (cpu) {ref / cpu:.2f}x")


if __name__ == "__main__":
    main()
