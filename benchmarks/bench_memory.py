"""Training step and inference of the demo network with and without retained freed memory.

:func:`spikelite.core.memory.retain_freed_memory` changes glibc ``malloc`` for the whole
process and cannot be undone to glibc's dynamic default, so the two settings run in
separate processes, alternated: ``--rounds`` pairs of child processes (``off`` then
``on``, the order swapped every round). Each child builds the zoo's ``csnn`` (seeded),
takes a fixed batch of ``--batch-size`` ``digits-dvs`` training samples (T = 10), runs
``--warmup`` Adam training steps, then times ``--steps`` training steps and ``--steps``
``no_grad`` eval forwards, and prints the medians of both process CPU time
(``time.process_time``: user + system, what the page faults cost shows up in, and less
sensitive to other jobs on a shared machine) and wall time. The parent reports the median
over rounds of each child median, and checks that both settings computed the same loss
bit for bit (the setting changes where memory comes from, never a value).

``--quant duq2``: the weights fake-quantized first (DuQ, 2 bits), as in the demo's
fine-tuning of compressed points.

Usage: ``python benchmarks/bench_memory.py [--rounds 7] [--threads 1] [--steps 9]
[--quant duq2]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def child(setting: str, threads: int, steps: int, warmup: int, batch_size: int,
          quant: str | None = None) -> dict:
    """Run in a child process: time training steps and inference; return medians in ms."""
    from spikelite.core import memory

    applied = memory.retain_freed_memory() if setting == "on" else False
    import torch

    from spikelite.data.spec import DataSpec, load_data
    from spikelite.models.registry import create

    torch.set_num_threads(threads)
    train = load_data(DataSpec(name="digits-dvs", time_steps=10, seed=0))[0]
    x = torch.stack([train[i][0] for i in range(batch_size)]).transpose(0, 1)
    x = x.contiguous().float()
    y = torch.tensor([int(train[i][1]) for i in range(batch_size)])
    torch.manual_seed(0)
    model = create("csnn")
    if quant:  # fake-quantized weights, as in the demo's fine-tuning of compressed points
        from spikelite.quant.apply import quantize_

        scheme, bits = quant.rstrip("0123456789"), int(quant.lstrip("abcdefghijklmnopqrstuvwxyz"))
        quantize_(model, scheme, bits)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    losses: list[float] = []

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x).mean(0), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))

    def timed(fn: object, n: int) -> tuple[float, float]:
        cpu, wall = [], []
        for _ in range(n):
            c0, w0 = time.process_time(), time.perf_counter()
            fn()  # type: ignore[operator]
            cpu.append((time.process_time() - c0) * 1e3)
            wall.append((time.perf_counter() - w0) * 1e3)
        return statistics.median(cpu), statistics.median(wall)

    model.train()
    for _ in range(warmup):
        step()
    tr_cpu, tr_wall = timed(step, steps)
    model.eval()
    with torch.no_grad():
        inf_cpu, inf_wall = timed(lambda: model(x), steps)
    return {"applied": applied, "train_cpu": tr_cpu, "train_wall": tr_wall,
            "infer_cpu": inf_cpu, "infer_wall": inf_wall, "losses": losses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="pairs of child processes")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--steps", type=int, default=9, help="timed steps per child")
    ap.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--quant", default=None,
                    help="fake-quantize the weights first, e.g. duq2 (scheme + bits)")
    ap.add_argument("--child", choices=("off", "on"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.threads, args.steps, args.warmup,
                               args.batch_size, args.quant)))
        return
    print(f"load before: {os.getloadavg()}", flush=True)
    res: dict[str, list[dict]] = {"off": [], "on": []}
    for r in range(args.rounds):
        for setting in (("off", "on") if r % 2 == 0 else ("on", "off")):
            out = subprocess.run(
                [sys.executable, __file__, "--child", setting, "--threads", str(args.threads),
                 "--steps", str(args.steps), "--warmup", str(args.warmup),
                 "--batch-size", str(args.batch_size)]
                + (["--quant", args.quant] if args.quant else []),
                check=True, capture_output=True, text=True).stdout
            res[setting].append(json.loads(out.strip().splitlines()[-1]))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{s} train {res[s][-1]['train_cpu']:.1f} ms cpu" for s in ("off", "on")),
            flush=True)
    if res["off"][0]["losses"] != res["on"][0]["losses"]:
        raise SystemExit("the losses differ between the settings: not the same computation")
    if not all(d["applied"] for d in res["on"]):
        print("note: retain_freed_memory() did not apply here (not Linux/glibc)")
    print(f"load after: {os.getloadavg()}")
    print(f"\ncsnn{' ' + args.quant if args.quant else ''}, batch {args.batch_size}, T=10, "
          f"{args.threads} thread(s): medians over "
          f"{args.rounds} rounds of per-process medians ({args.steps} steps), ms")
    print(f"{'':24}{'off':>9}{'on':>9}{'off/on':>8}")
    for key in ("train_cpu", "train_wall", "infer_cpu", "infer_wall"):
        off = statistics.median(d[key] for d in res["off"])
        on = statistics.median(d[key] for d in res["on"])
        print(f"{key:<24}{off:9.1f}{on:9.1f}{off / on:8.2f}")


if __name__ == "__main__":
    main()
