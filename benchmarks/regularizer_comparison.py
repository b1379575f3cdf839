"""Narduzzi et al.'s comparison on the embedded digits (a recipe run, not a test).

For each activity regularizer and strength: train the same ReLU MLP (64-128-64-10) on
sklearn's 8x8 digits, report ANN accuracy, dense MACs and effective MACs (zero inputs
skipped); convert it to an IF SNN (percentile thresholds, direct coding) and report its
accuracy and synaptic operations (SynOps = Σ input spikes × fan-out; the first layer
receives the analog image, counted as MACs) at several T, with the compute energy of the
`compute-only-fp32` constants (0.9 pJ per AC, 4.6 pJ per MAC). Then directly trained SNNs
(spikelite `mlp`, rate-coded input) with spike regularizers. Writes a table to stdout and
`OUT/activity_vs_accuracy.png`.

    .venv/bin/python benchmarks/regularizer_comparison.py --out runs/regularizers
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from spikelite.convert import ann_to_snn
from spikelite.core import TimeDistributed
from spikelite.regularize import ActivityRegularizer

E_AC, E_MAC = 0.9, 4.6  # pJ, compute-only-fp32 (Horowitz 45 nm)


def digits() -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    tr, te = train_test_split(range(len(x)), test_size=0.2, stratify=d.target, random_state=0)
    return x[tr], y[tr], x[te], y[te]


def train_ann(x: torch.Tensor, y: torch.Tensor, reg: str | None, weight: float,
              epochs: int) -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                          nn.Linear(64, 10))
    r = ActivityRegularizer(model, reg, weight) if reg else None
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
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


@torch.no_grad()
def ann_macs(model: nn.Sequential, x: torch.Tensor) -> tuple[float, float]:
    """Dense and effective (non-zero input) MACs per sample."""
    dense = eff = 0.0
    h = x
    for m in model:
        if isinstance(m, nn.Linear):
            dense += m.in_features * m.out_features
            eff += float((h != 0).sum(1).float().mean()) * m.out_features
        h = m(h)
    return dense, eff


@torch.no_grad()
def snn_metrics(snn: nn.Module, x: torch.Tensor, y: torch.Tensor, T: int) -> tuple[float, ...]:
    """Accuracy, SynOps and first-layer MACs per sample, and compute energy (pJ)."""
    counts: list[tuple[int, float]] = []
    linears = [m for m in snn.modules()
               if isinstance(m, TimeDistributed) and isinstance(m.module, nn.Linear)]
    hooks = [m.register_forward_hook(
        lambda mod, inp, out, i=i: counts.append((i, float((inp[0] != 0).sum())
                                                  * mod.module.out_features)))
        for i, m in enumerate(linears)]
    out = snn.simulate(x, T, "direct")
    for h in hooks:
        h.remove()
    b = x.shape[0]
    macs = sum(c for i, c in counts if i == 0) / b
    synops = sum(c for i, c in counts if i > 0) / b
    acc = float((out.argmax(-1) == y).float().mean())
    return acc, synops, macs, synops * E_AC + macs * E_MAC


@torch.no_grad()
def direct_snn_rows(epochs: int, steps: int) -> list[tuple[str, float, float]]:
    """Directly trained SNNs (spikelite ``mlp`` 64-128-64-10, rate-coded digits) with spike
    regularizers: (label, accuracy, SynOps per sample over all layers)."""
    from spikelite.data import load
    from spikelite.models import create
    from spikelite.train import TrainConfig, evaluate, fit, to_time_major

    train, test = load("digits", time_steps=steps, encoding="rate", seed=0)
    rows = []
    for reg, w in ((None, 0.0), ("l1", 1.0), ("hoyer", 1e-2), ("synops", 1e-4),
                   ("synops", 1e-3)):
        torch.manual_seed(0)
        model = create("mlp", input_shape=[1, 8, 8], hidden=[128, 64], num_classes=10)
        r = ActivityRegularizer(model, reg, w) if reg else None
        with torch.enable_grad():
            fit(model, train, None, TrainConfig(epochs=epochs, lr=2e-3, batch_size=32),
                device="cpu", progress=False, regularizer=r)
        if r is not None:
            r.remove()
        acc = evaluate(model, test, device="cpu")["accuracy"]
        linears = [m for m in model.modules()
                   if isinstance(m, TimeDistributed) and isinstance(m.module, nn.Linear)]
        counts: list[float] = []
        hooks = [m.register_forward_hook(lambda mod, inp, out, c=counts: c.append(
            float((inp[0] != 0).sum()) * mod.module.out_features)) for m in linears]
        model.eval()
        for x, _ in torch.utils.data.DataLoader(test, batch_size=256):
            model(to_time_major(x))
        for h in hooks:
            h.remove()
        ops = sum(counts) / len(test)
        label = "none" if reg is None else f"{reg} {w:g}"
        rows.append((label, acc, ops))
        print(f"direct SNN {label:14s} acc {acc:.4f}  SynOps {ops:,.0f}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/regularizers")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--steps", default="10,25,50", help="SNN time steps")
    ap.add_argument("--direct-epochs", type=int, default=15,
                    help="epochs of the directly trained SNNs (0 = skip them)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    steps = [int(s) for s in args.steps.split(",")]
    xtr, ytr, xte, yte = digits()
    grid = [(None, 0.0)] + [(n, w) for n, ws in (
        ("l1", (1e-3, 1e-2)), ("l2", (1e-3, 1e-2)), ("hoyer", (1e-3, 1e-2)),
        ("hoyer_square", (1e-4, 1e-3)), ("synops", (1e-5, 1e-4))) for w in ws]
    rows = []
    for reg, w in grid:
        ann = train_ann(xtr, ytr, reg, w, args.epochs)
        with torch.no_grad():
            ann_acc = float((ann(xte).argmax(-1) == yte).float().mean())
        dense, eff = ann_macs(ann, xte)
        snn = ann_to_snn(ann, xtr, threshold="percentile", percentile=99.9)
        snn_rows = [snn_metrics(snn, xte, yte, t) for t in steps]
        label = "none" if reg is None else f"{reg} {w:g}"
        rows.append((label, ann_acc, dense, eff, snn_rows))
        print(f"{label:20s} ANN {ann_acc:.4f}  eff MACs {eff:,.0f}/{dense:,.0f}  " + "  ".join(
            f"T={t}: {a:.4f} {s:,.0f} SynOps" for t, (a, s, _, _) in zip(steps, snn_rows,
                                                                         strict=True)),
              flush=True)
    head = "| regularizer | ANN acc | ANN dense MACs | ANN effective MACs | " + " | ".join(
        f"SNN acc T={t} | SynOps T={t} | energy T={t} (nJ)" for t in steps) + " |"
    print("\n" + head)
    print("|" + "---|" * (4 + 3 * len(steps)))
    for label, acc, dense, eff, snn_rows in rows:
        cells = " | ".join(f"{a:.4f} | {s:,.0f} | {e / 1e3:.1f}" for a, s, _, e in snn_rows)
        print(f"| {label} | {acc:.4f} | {dense:,.0f} | {eff:,.0f} | {cells} |")
    if args.direct_epochs > 0:
        direct = direct_snn_rows(args.direct_epochs, steps[0])
        print(f"\n| directly trained SNN (rate-coded, T={steps[0]}) | accuracy | SynOps | "
              "energy (nJ) |\n|---|---|---|---|")
        for label, acc, ops in direct:
            print(f"| {label} | {acc:.4f} | {ops:,.0f} | {ops * E_AC / 1e3:.1f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ti = steps.index(25) if 25 in steps else len(steps) - 1
    for label, acc, _, eff, snn_rows in rows:
        axes[0].scatter(eff, acc * 100)
        axes[0].annotate(label, (eff, acc * 100), fontsize=7)
        a, s, _, _ = snn_rows[ti]
        axes[1].scatter(s, a * 100)
        axes[1].annotate(label, (s, a * 100), fontsize=7)
    axes[0].set(xlabel="ANN effective MACs per sample", ylabel="test accuracy (%)",
                title="ANN")
    axes[1].set(xlabel=f"SNN SynOps per sample (T={steps[ti]})", ylabel="test accuracy (%)",
                title="converted SNN (direct coding)")
    fig.tight_layout()
    fig.savefig(out / "activity_vs_accuracy.png", dpi=150)
    print(f"\nplot: {out / 'activity_vs_accuracy.png'}")


if __name__ == "__main__":
    main()
