"""Channels-last feature maps against the contiguous default on the demo model
(docs/training.md, "Feature-map layout"): the csnn on a batch of 32 digits-dvs samples,
T = 10, Adam, optionally with fake-quantized weights (``--quant duq2``: the demo's
fine-tuning step); one training step and one inference pass (BN in eval mode) of each
layout, interleaved round by round; process CPU time, medians. Before timing it checks
that inference gives the same logits in both layouts (exact here: these convolutions sum
in the same order) and prints the losses of the first training steps (not equal:
BatchNorm's NHWC batch statistics are summed in another order).

    python benchmarks/bench_layout.py [--rounds 11] [--threads 1] [--quant duq2]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch


def make(quant: str | None) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    from spikelite.data.spec import DataSpec, load_data
    from spikelite.models.registry import create

    train = load_data(DataSpec(name="digits-dvs", time_steps=10, seed=0))[0]
    x = torch.stack([train[i][0] for i in range(32)]).transpose(0, 1).contiguous().float()
    y = torch.tensor([int(train[i][1]) for i in range(32)])
    torch.manual_seed(0)
    model = create("csnn")
    if quant:
        from spikelite.quant.apply import quantize_

        scheme, bits = quant.rstrip("0123456789"), int(quant[len(quant.rstrip("0123456789")):])
        quantize_(model, scheme, bits)
    return model, x, y


def steps(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor
          ) -> tuple[Callable[[], float], Callable[[], torch.Tensor]]:
    from spikelite.core import reset_states

    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def train() -> float:
        model.train()
        reset_states(model)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x).mean(0), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    def infer() -> torch.Tensor:
        model.eval()
        reset_states(model)
        with torch.no_grad():
            return model(x)
    return train, infer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quant", default=None, help="e.g. duq2 (the demo's ternary points)")
    a = ap.parse_args()
    from spikelite.core import memory
    from spikelite.core.layout import channels_last

    memory.retain_freed_memory()  # as the spikelite command does
    torch.set_num_threads(a.threads)
    model, x, y = make(a.quant)
    runs = {"contiguous": steps(model, x, y),
            "channels_last": steps(channels_last(copy.deepcopy(model)), x, y)}
    same = torch.equal(runs["contiguous"][1](), runs["channels_last"][1]())
    print(f"inference logits identical in both layouts: {same}")
    for k, (train, _) in runs.items():
        print(f"{k:>14} losses of 3 steps: {[round(train(), 6) for _ in range(3)]}")
    ms: dict[str, dict[str, list[float]]] = {k: {"train": [], "infer": []} for k in runs}
    for r in range(a.rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for k in order:
            train, infer = runs[k]
            for what, fn in (("train", train), ("infer", infer)):
                t0 = time.process_time()
                fn()
                fn()
                ms[k][what].append((time.process_time() - t0) / 2 * 1e3)
    med = {k: {w: statistics.median(v) for w, v in d.items()} for k, d in ms.items()}
    for k, d in med.items():
        print(f"{k:>14}: train step {d['train']:7.1f} ms, inference {d['infer']:6.1f} ms "
              f"(CPU time, median of {a.rounds})")
    c, n = med["contiguous"], med["channels_last"]
    print(f"channels_last speed-up: train {c['train'] / n['train']:.2f}x, "
          f"inference {c['infer'] / n['infer']:.2f}x")


if __name__ == "__main__":
    main()
