"""Cost of hardware profiling against a plain forward pass (CPU, one thread).

Model: the demo network (``spikelite.models.spec.build_model(ModelSpec(), train)``, the zoo's
``csnn`` sized for ``digits-dvs``; seeded initial weights, or ``--checkpoint``). Data: the
first ``--samples`` test samples in batches of ``--batch-size``, prepared time-major once.

Each round times, in rotating order:

* **forward**: ``model(x)`` under ``torch.no_grad()`` over the batches (eval mode, states
  reset per batch, as :func:`~spikelite.hardware.record_activity` does);
* **count (default)**: ``record_activity(...)`` (``membrane_updates=False``, what
  ``profile`` does unless NeuroBench's ``MembraneUpdates`` is asked for);
* **count + MembraneUpdates**: ``record_activity(..., membrane_updates=True)``;
* **cost**: ``cost_activity(model, activity, "sparseloop-eyeriss45", "rle")`` from the
  counts (no model run).

Timing is process CPU time (``time.process_time``) with ``torch.set_num_threads(1)``: the
machine is shared, so wall time is too noisy. Reported: the median over ``--rounds`` rounds
(after ``--warmup``), the overhead over the plain forward, ``median / forward − 1``, and the
*paired* overhead: the median (and quartiles) over rounds of ``run / forward − 1`` with both
timed in the same round, which cancels most of a shared machine's slowly varying load.

Usage: ``python benchmarks/bench_profile.py [--rounds 9] [--samples 256]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from spikelite.core import reset_states
from spikelite.data import load
from spikelite.hardware import cost_activity, record_activity
from spikelite.models.spec import ModelSpec, build_model


def _batches(test: object, samples: int, batch_size: int) -> list[torch.Tensor]:
    """Time-major ``[T, B, ...]`` float batches of the first ``samples`` items."""
    n = min(samples, len(test))  # type: ignore[arg-type]
    xs = [test[i][0] for i in range(n)]  # type: ignore[index]
    return [torch.stack(xs[i:i + batch_size], 1).float().contiguous()
            for i in range(0, n, batch_size)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9, help="timed rounds (median)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    ap.add_argument("--samples", type=int, default=256, help="test samples profiled")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", default=None,
                    help="a saved run (spikelite train --out DIR → DIR/best) instead of the "
                         "seeded untrained demo model")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    train, test = load("digits-dvs")
    if args.checkpoint:
        from spikelite.train import load_model

        model, _ = load_model(args.checkpoint)
    else:
        model = build_model(ModelSpec(), train)
    model.eval()
    batches = _batches(test, args.samples, args.batch_size)

    def forward() -> None:
        with torch.no_grad():
            for x in batches:
                reset_states(model)
                model(x)
        reset_states(model)

    activity = record_activity(model, batches, time_major=True)

    def count(mu: bool) -> Callable[[], None]:
        return lambda: record_activity(model, batches, time_major=True, membrane_updates=mu)

    runs: dict[str, Callable[[], object]] = {
        "plain forward (no_grad)": forward,
        "counting (default, membrane_updates=False)": count(False),
        "counting + NeuroBench MembraneUpdates (opt-in)": count(True),
        "costing one preset from the counts": lambda: cost_activity(
            model, activity, "sparseloop-eyeriss45", "rle"),
    }
    names = list(runs)
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(args.warmup + args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for k in order:
            t0 = time.process_time()
            runs[k]()
            dt = time.process_time() - t0
            if r >= args.warmup:
                times[k].append(dt)

    med = {k: statistics.median(v) for k, v in times.items()}
    base = med[names[0]]
    paired = {k: sorted(t / f - 1 for t, f in zip(times[k], times[names[0]], strict=True))
              for k in names[1:-1]}
    shape = tuple(batches[0].shape)
    print(f"{sum(b.shape[1] for b in batches)} samples in {len(batches)} batches of "
          f"{shape}, torch {torch.__version__}, {args.threads} thread(s), "
          f"median of {args.rounds} rounds (+{args.warmup} warm-up), process CPU time")
    print("| run | median ms | min ms | overhead vs forward | paired overhead, median "
          "[quartiles] |\n|---|---:|---:|---:|---:|")
    for k in names:
        ov = pov = "—"
        if k == names[-1]:
            ov = f"+{100 * med[k] / base:.1f} %"
        elif k != names[0]:
            ov = f"{100 * (med[k] / base - 1):+.1f} %"
            q = statistics.quantiles(paired[k], n=4) if len(paired[k]) > 1 else paired[k] * 3
            pov = (f"{100 * statistics.median(paired[k]):+.1f} % "
                   f"[{100 * q[0]:+.1f}, {100 * q[2]:+.1f}]")
        print(f"| {k} | {1e3 * med[k]:.1f} | {1e3 * min(times[k]):.1f} | {ov} | {pov} |")


if __name__ == "__main__":
    main()
