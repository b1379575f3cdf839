"""Pruning and schedule grid on the embedded demo data (a recipe run, not a test).

From the trained full-precision demo model, for every row: apply one of Schaefer et al.'s
schedules (global magnitude masks from the pretrained weights; DuQ weights), fine-tune,
and report test accuracy and the fraction of weights removed.

    .venv/bin/python benchmarks/prune_accuracy.py --epochs 4 --checkpoint runs/demo/baseline/best
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from spikelite.compress import QPSNNConfig, ScheduleConfig, run_qpsnn, run_schedule
from spikelite.data.spec import DataSpec, load_data
from spikelite.train import TrainConfig, evaluate, load_model
from spikelite.train.run import RunConfig, run_training


def channel_grid(epochs: int) -> list[tuple[str, QPSNNConfig]]:
    rows = [(f"channels {c} {r:.0%}",
             QPSNNConfig(order="pq", scheme=None, ratios=r, criterion=c, first_epochs=0,
                         finetune_epochs=epochs))
            for r in (0.25, 0.5, 0.75) for c in ("svs", "sca", "l1", "random")]
    rows += [(f"channels {c} {r:.0%}, last conv too",
              QPSNNConfig(order="pq", scheme=None, ratios=r, criterion=c, keep_last=False,
                          first_epochs=0, finetune_epochs=epochs))
             for r in (0.25, 0.5, 0.75) for c in ("svs", "sca", "l1", "random")]
    rows.append(("QP-SNN: ReScaW 4b + SVS 50% (qp)",
                 QPSNNConfig(order="qp", scheme="rescaw", bits=4, ratios=0.5, criterion="svs",
                             first_epochs=epochs // 2, finetune_epochs=epochs - epochs // 2)))
    rows.append(("ReScaW 4b + SVS 50%, prune first (pq)",
                 QPSNNConfig(order="pq", scheme="rescaw", bits=4, ratios=0.5, criterion="svs",
                             first_epochs=epochs // 2, finetune_epochs=epochs - epochs // 2)))
    return rows


def grid(epochs: int) -> list[tuple[str, ScheduleConfig]]:
    rows = [(f"pruning only (8-bit DuQ), {p:.0%}",
             ScheduleConfig("isolation", "duq", 8, sparsity=p, epochs=epochs))
            for p in (0.5, 0.75, 0.8, 0.9, 0.95)]
    for bits in (4, 2):
        rows.append((f"quantization only, DuQ {bits}b",
                     ScheduleConfig("isolation", "duq", bits, sparsity=0.0, epochs=epochs)))
        for p in (0.5, 0.8, 0.9):
            for sched in ("joint", "cumulative"):
                rows.append((f"{sched}, DuQ {bits}b, {p:.0%}",
                             ScheduleConfig(sched, "duq", bits, sparsity=p, epochs=epochs)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="trained FP checkpoint (else train one)")
    ap.add_argument("--out", default="runs/prune_accuracy")
    ap.add_argument("--epochs", type=int, default=4, help="fine-tuning epochs per row")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--only", default=None, help="comma-separated row-name filter")
    ap.add_argument("--part", choices=["schedules", "channels", "all"], default="all")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.checkpoint is None:
        run_training(RunConfig(out=str(Path(args.out) / "baseline")), resume=True,
                     progress=False)
        args.checkpoint = str(Path(args.out) / "baseline" / "best")
    base, ck = load_model(args.checkpoint)
    train, test = load_data(DataSpec(**ck["data"]))
    fp = evaluate(base, test)["accuracy"]
    print(f"baseline {args.checkpoint}: {fp:.4f} ({len(test)} test samples)", flush=True)
    tcfg = TrainConfig(lr=args.lr, batch_size=32)
    n_params = sum(p.numel() for p in base.parameters())
    rows = []
    todo: list = []
    if args.part in ("schedules", "all"):
        todo += grid(args.epochs)
    if args.part in ("channels", "all"):
        todo += channel_grid(args.epochs)
    for name, cfg in todo:
        if args.only and not any(k in name for k in args.only.split(",")):
            continue
        t0 = time.perf_counter()
        if isinstance(cfg, ScheduleConfig):
            _, rec = run_schedule(copy.deepcopy(base), train, test, cfg, tcfg)
            removed, acc, best = rec.sparsity, rec.accuracy, rec.best_accuracy
            what = "weights"
        else:
            _, rec = run_qpsnn(copy.deepcopy(base), train, test, cfg, tcfg)
            removed = 1 - rec["pruning"]["params_after"] / n_params
            acc, best, what = rec["accuracy"], rec["best"], "parameters"
        rows.append((name, removed, what, acc, best))
        print(f"{name:38s} removed {removed:6.1%} of {what}  final {acc:.4f}  best {best:.4f}"
              f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    print("\n| configuration | removed | final accuracy | best accuracy |")
    print("|---|---:|---:|---:|")
    print(f"| full precision (baseline, {n_params:,} parameters) | – | {fp:.4f} | – |")
    for name, removed, what, acc, best in rows:
        print(f"| {name} | {removed:.1%} of {what} | {acc:.4f} | {best:.4f} |")


if __name__ == "__main__":
    main()
