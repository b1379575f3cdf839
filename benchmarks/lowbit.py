"""Low-bit fine-tuning measurements (docs/lowbit.md): csnn, T = 10, the demo's baseline
(8 epochs, adam, lr 2e-3, batch 32); per seed one baseline (cached under OUT), then each
point × fine-tuning variant from a copy of it. One JSON line per (point, variant, seed) is
appended to OUT/results.jsonl; ``--summary`` prints mean ± sd of the drops. ``--energy``
also costs every point as the demo does (sparseloop-eyeriss45, cheapest of dense / bitmask
/ rle, first 360 test samples) and records ``energy_ratio`` = baseline energy / point's.

    OMP_NUM_THREADS=1 python benchmarks/lowbit.py --dataset mnist5k-dvs --seeds 0,1,2 \\
        --points ternary,joint-ternary50 --variants before,kd --out runs/lowbit-mnist
    python benchmarks/lowbit.py --out runs/lowbit-mnist --summary
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

#: compression points (CompressionSpec fields)
POINTS: dict[str, dict[str, Any]] = {
    "ternary": {"schedule": "isolation", "scheme": "duq", "bits": 2},
    "joint-ternary50": {"schedule": "joint", "scheme": "duq", "bits": 2,
                        "method": "magnitude", "sparsity": 0.5},
    "joint-ternary80": {"schedule": "joint", "scheme": "duq", "bits": 2,
                        "method": "magnitude", "sparsity": 0.8},
    "duq8": {"schedule": "isolation", "scheme": "duq", "bits": 8},
    "duq8-mag80": {"schedule": "isolation", "scheme": "duq", "bits": 8,
                   "method": "magnitude", "sparsity": 0.8},
    "qp-rescaw4-svs50": {"schedule": "qp", "scheme": "rescaw", "bits": 4, "method": "svs",
                         "sparsity": 0.5, "skip_first": True, "skip_last": True},
}
#: fine-tuning variants (FinetuneSpec fields on top of the demo's adam, lr 1e-3, batch 32)
VARIANTS: dict[str, dict[str, Any]] = {
    "before": {"epochs": 3},
    "kd": {"epochs": 3, "distill": {"temperature": 4, "alpha": 0.5}},
    "bn": {"epochs": 3, "bn_reestimate": True},
    "init": {"epochs": 3, "quant_init": "mse"},
    "init-bn": {"epochs": 3, "quant_init": "mse", "bn_reestimate": True},
    "init-kd": {"epochs": 3, "quant_init": "mse", "distill": {"temperature": 4, "alpha": 0.5}},
    "init-kd-bn": {"epochs": 3, "quant_init": "mse", "bn_reestimate": True,
                   "distill": {"temperature": 4, "alpha": 0.5}},
    "progressive": {"epochs": 3, "bit_schedule": [8, 4]},
    "progressive-kd": {"epochs": 3, "bit_schedule": [8, 4],
                       "distill": {"temperature": 4, "alpha": 0.5}},
    "freeze": {"epochs": 3, "freeze_quantizers": 0.67},
    "lowbit": {"epochs": 3, "quant_init": "mse", "bn_reestimate": True,
               "distill": {"temperature": 4, "alpha": 0.5}},
    # an activity regularizer on the spikes during fine-tuning (Narduzzi et al.): fewer
    # spikes, so fewer synaptic operations and spike transfers (``regularizer`` goes into
    # the CompressionSpec, the rest into the FinetuneSpec)
    "l1": {"epochs": 3, "regularizer": {"name": "l1", "weight": 1.0}},
    "init-l1": {"epochs": 3, "quant_init": "mse", "regularizer": {"name": "l1", "weight": 1.0}},
    "init-l1x3": {"epochs": 3, "quant_init": "mse",
                  "regularizer": {"name": "l1", "weight": 3.0}},
}


def energy_pj(model: torch.nn.Module, test: Any) -> float:
    """The demo's costing: pJ per sample on sparseloop-eyeriss45, cheapest weight format."""
    from spikelite.hardware import cost_activity, record_activity
    from spikelite.quant import bake

    plain, layers = bake(model)
    act = record_activity(plain, test, layers, batch_size=64, limit=360,
                          membrane_updates=False, device=torch.device("cpu"))
    return min(cost_activity(plain, act, "sparseloop-eyeriss45", fmt, layers=layers).total_pj
               for fmt in ("dense", "bitmask", "rle"))


def baseline(dataset: str, seed: int, epochs: int, out: Path) -> tuple[Path, float]:
    from spikelite.train.run import RunConfig, run_training

    folder = out / f"baseline-{dataset}-s{seed}"
    marker = folder / "baseline.json"
    if marker.is_file():
        info = json.loads(marker.read_text())
        return Path(info["checkpoint"]), info["accuracy"]
    cfg = RunConfig.model_validate({
        "model": {"name": "csnn"}, "data": {"name": dataset, "time_steps": 10, "seed": 0},
        "train": {"epochs": epochs, "batch_size": 32, "optimizer": "adam", "lr": 0.002,
                  "seed": seed},
        "out": str(folder), "device": "cpu"})
    t0 = time.perf_counter()
    res = run_training(cfg, resume=True, progress=False)
    info = {"checkpoint": str(folder / "last"), "accuracy": res.accuracy,
            "seconds": time.perf_counter() - t0}
    marker.write_text(json.dumps(info))
    return folder / "last", res.accuracy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="digits-dvs")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--points", default="ternary,joint-ternary50")
    ap.add_argument("--variants", default="before")
    ap.add_argument("--baseline-epochs", type=int, default=8)
    ap.add_argument("--out", default="runs/lowbit")
    ap.add_argument("--summary", action="store_true")
    ap.add_argument("--energy", action="store_true",
                    help="cost each point as the demo does and record energy_ratio")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    if a.summary:
        summarize(results)
        return
    torch.set_num_threads(1)
    from spikelite.compress import CompressionSpec, compress_model
    from spikelite.data.spec import DataSpec, load_data
    from spikelite.train import load_model
    from spikelite.train.config import FinetuneSpec

    data = load_data(DataSpec(name=a.dataset, time_steps=10, seed=0))
    done = set()
    if results.is_file():
        for line in results.read_text().splitlines():
            r = json.loads(line)
            done.add((r["dataset"], r["point"], r["variant"], r["seed"]))
    for seed in [int(s) for s in a.seeds.split(",")]:
        ckpt, base_acc = baseline(a.dataset, seed, a.baseline_epochs, out)
        teacher_model, _ = load_model(ckpt)
        base_pj = energy_pj(teacher_model, data[1]) if a.energy else None
        for pname in a.points.split(","):
            for vname in a.variants.split(","):
                if (a.dataset, pname, vname, seed) in done:
                    continue
                variant = dict(VARIANTS[vname])
                reg = variant.pop("regularizer", None)
                ft = FinetuneSpec.model_validate({"batch_size": 32, "optimizer": "adam",
                                                  "lr": 0.001, "seed": seed, **variant})
                model = copy.deepcopy(teacher_model)
                t0 = time.perf_counter()
                spec = CompressionSpec(**POINTS[pname], regularizer=reg)
                res = compress_model(model, *data, spec, ft, seed=seed, device="cpu")
                row = {"dataset": a.dataset, "point": pname, "variant": vname, "seed": seed,
                       "baseline": base_acc, "accuracy": res.accuracy,
                       "best_accuracy": res.best_accuracy,
                       "delta_pt": round((res.accuracy - base_acc) * 100, 2),
                       "seconds": round(time.perf_counter() - t0, 1), "stages": res.stages}
                if base_pj is not None:
                    row["energy_ratio"] = round(base_pj / energy_pj(res.model, data[1]), 2)
                with results.open("a") as f:
                    f.write(json.dumps(row, default=str) + "\n")
                print(json.dumps({k: v for k, v in row.items() if k != "stages"}), flush=True)


def summarize(results: Path) -> None:
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["point"], r["variant"]), []).append(r)
    print("| dataset | point | variant | seeds | Δ accuracy (pt) mean ± sd | per seed "
          "| energy saved (× less) | s/point |")
    print("|---|---|---|---:|---:|---|---|---:|")
    for (ds, p, v), rs in sorted(groups.items()):
        d = [r["delta_pt"] for r in sorted(rs, key=lambda r: r["seed"])]
        sd = statistics.stdev(d) if len(d) > 1 else 0.0
        secs = statistics.mean(r["seconds"] for r in rs)
        e = [r["energy_ratio"] for r in sorted(rs, key=lambda r: r["seed"]) if "energy_ratio" in r]
        es = (f"{statistics.mean(e):.1f} ({', '.join(f'{x:.1f}' for x in e)})"
              if len(e) == len(rs) else "—")
        print(f"| {ds} | {p} | {v} | {len(d)} | {statistics.mean(d):+.2f} ± {sd:.2f} | "
              f"{', '.join(f'{x:+.2f}' for x in d)} | {es} | {secs:.0f} |")


if __name__ == "__main__":
    main()
