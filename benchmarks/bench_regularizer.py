"""Cost of an activity regularizer in a fine-tuning step (docs/lowbit.md): the csnn with
DuQ 2-bit fake-quantized weights, batch 32 of digits-dvs, T = 10, Adam, one torch thread;
the same step without and with ``ActivityRegularizer(model, NAME, WEIGHT)`` (every
spiking layer), interleaved round by round; process CPU time per step, medians.

    python benchmarks/bench_regularizer.py [--name l1] [--weight 1.0] [--rounds 11]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch


def make_step(name: str | None, weight: float) -> Callable[[], None]:
    from spikelite.data.spec import DataSpec, load_data
    from spikelite.models.registry import create
    from spikelite.quant.apply import quantize_
    from spikelite.regularize import ActivityRegularizer

    train = load_data(DataSpec(name="digits-dvs", time_steps=10, seed=0))[0]
    x = torch.stack([train[i][0] for i in range(32)]).transpose(0, 1).contiguous().float()
    y = torch.tensor([int(train[i][1]) for i in range(32)])
    torch.manual_seed(0)
    model = create("csnn")
    quantize_(model, "duq", 2)
    reg = ActivityRegularizer(model, name, weight) if name else None
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x).mean(0), y)
        if reg is not None:
            loss = loss + reg.penalty()
        loss.backward()
        opt.step()
    return step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="l1")
    ap.add_argument("--weight", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=11)
    a = ap.parse_args()
    from spikelite.core import memory

    memory.retain_freed_memory()  # as the spikelite command does
    torch.set_num_threads(1)
    steps = {"none": make_step(None, 0.0), a.name: make_step(a.name, a.weight)}
    for s in steps.values():
        for _ in range(3):
            s()
    ms: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(a.rounds):
        for k, s in steps.items():
            t0 = time.process_time()
            s()
            s()
            ms[k].append((time.process_time() - t0) / 2 * 1e3)
    med = {k: statistics.median(v) for k, v in ms.items()}
    for k, v in med.items():
        print(f"{k:>8}: {v:7.1f} ms per step (median of {a.rounds})")
    print(f"overhead of {a.name} {a.weight:g}: {med[a.name] / med['none'] - 1:+.1%}")


if __name__ == "__main__":
    main()
