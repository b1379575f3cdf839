"""Quantization-aware fine-tuning grid on the embedded demo data (a recipe run, not a test).

Trains (or loads) the full-precision demo model, then for every configuration quantizes a
copy, calibrates it (PTQ, no training) and fine-tunes it with fake quantization (QAT),
reporting test accuracy. QP-SNN's quantizers (uniform, ReScaW) keep the first and last
synaptic layer in full precision as the paper does; DuQ quantizes every layer as Schaefer
et al. do. The full-precision row is fine-tuned for the same number of epochs.

    .venv/bin/python benchmarks/quant_accuracy.py --epochs 3 [--checkpoint runs/demo/baseline/best]
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from spikelite.data.spec import load_data
from spikelite.quant import calibrate_, quantize_
from spikelite.train import TrainConfig, evaluate, fit, load_model
from spikelite.train.run import RunConfig, run_training

GRID: list[tuple[str, str, int, dict, bool]] = (
    [("FP32", "fp", 32, {}, False)]
    + [(f"uniform {b}b", "uniform", b, {}, True) for b in (8, 4, 2)]
    + [(f"ReScaW-{g} {b}b", "rescaw", b, {"gamma": g}, True)
       for g in ("mean", "max", "percentile") for b in (8, 4, 2)]
    + [(f"DuQ {b}b" + (" (ternary)" if b == 2 else ""), "duq", b, {}, False)
       for b in (8, 6, 4, 3, 2)]
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="trained FP checkpoint (else train one)")
    ap.add_argument("--out", default="runs/quant_accuracy")
    ap.add_argument("--epochs", type=int, default=3, help="QAT fine-tuning epochs")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--only", default=None, help="comma-separated row-name filter")
    ap.add_argument("--all-layers", action="store_true",
                    help="quantize every layer for uniform/ReScaW too (not QP-SNN's choice)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.checkpoint is None:
        cfg = RunConfig(out=str(Path(args.out) / "baseline"))
        run_training(cfg, resume=True, progress=False)
        args.checkpoint = str(Path(args.out) / "baseline" / "best")
    base, ck = load_model(args.checkpoint)
    from spikelite.data.spec import DataSpec

    train, test = load_data(DataSpec(**ck["data"]))
    fp0 = evaluate(base, test)["accuracy"]
    rows = []
    for name, scheme, bits, opts, qpsnn in GRID:
        if args.only and not any(k in name for k in args.only.split(",")):
            continue
        t0 = time.perf_counter()
        model = copy.deepcopy(base)
        ptq = fp0
        if scheme != "fp":
            skip = qpsnn and not args.all_layers
            quantize_(model, scheme, bits, skip_first=skip, skip_last=skip, **opts)
            calibrate_(model, train, batches=8)
            ptq = evaluate(model, test)["accuracy"]
        res = fit(model, train, test, TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=32),
                  progress=False)
        if args.all_layers and qpsnn:
            name += " (all layers)"
        rows.append((name, ptq, res.final_accuracy, res.best_accuracy, time.perf_counter() - t0))
        print(f"{name:24s} PTQ {ptq:.4f}  QAT final {res.final_accuracy:.4f}  "
              f"best {res.best_accuracy:.4f}  ({rows[-1][-1]:.0f} s)", flush=True)
    print(f"\nbaseline {args.checkpoint}: {fp0:.4f} ({len(test)} test samples)\n")
    print("| configuration | PTQ (no training) | QAT final | QAT best |")
    print("|---|---:|---:|---:|")
    for name, ptq, fin, best, _ in rows:
        print(f"| {name} | {ptq:.4f} | {fin:.4f} | {best:.4f} |")


if __name__ == "__main__":
    main()
