"""Speed of spikelite against snnTorch, SpikingJelly and Norse on CPU, in one process.

Two workloads, each timed as a training step (forward + backward + SGD step) and as
inference (``no_grad`` forward, BN in eval mode):

* **A** (conv SNN): ``[T=16, B=16, 2, 32, 32]`` binary events at 5 % density;
  conv 2→32, 32→64, 64→128 (k3 p1), each followed by BN + LIF + maxpool2; linear 2048→11 +
  LIF; cross-entropy on the mean over T of the output layer's spikes.
* **B** (MLP): ``[T=25, B=128, 64]`` rate-coded (Bernoulli) input; 64→256→256→10, each
  linear followed by LIF; same loss.

The same LIF equation everywhere, β-form hard reset: ``h = 0.5·v + x``, spike if
``h > 1`` (SpikingJelly: ``h ≥ 1``), ``v = 0`` after a spike, reset path detached (Norse
cannot detach it), arctan surrogate α = 2 (Norse: its SuperSpike). Per library:

* spikelite: ``TimeDistributed`` stateless layers + ``LIF(beta=0.5, strict=True,
  detach_reset=True)`` (fused multi-step kernel).
* snnTorch: folded stateless layers + ``Leaky(beta=0.5, reset_mechanism="zero")`` called
  once per time step over ``unbind(0)`` (its users' per-step loop).
* SpikingJelly: ``layer.*`` + ``LIFNode(tau=2, decay_input=False, v_reset=0,
  detach_reset=True, ATan())``, ``functional.set_step_mode(net, "m")`` (its registered
  multi-step CPU operator; ``h = v − v/2 + x`` is bit-identical to ``0.5·v + x``).
* Norse: folded stateless layers + ``LIFBoxCell(dt·τ_inv = 0.5)`` per time step. Its
  τ-form ``h = v + 0.5·(x' − v)`` equals the β-form for ``x' = 2x``, so the BN affine
  weights/biases and the output linear layer are scaled by 2 (exact in floating point);
  rounding of ``h`` can differ in the last bit, so spike counts agree only nearly.

Stateless layers fold T into the batch in every library so that BatchNorm sees the same
``T·B`` batch (a per-step BN would compute different statistics and different spikes).
Every library starts from the same weights and zero membranes; before timing, the script
checks that the spike counts of every LIF layer agree.

Timing: ``torch.set_num_threads(--threads)`` (default 2); warm-up rounds, then ``--rounds``
rounds; in each round every library runs one training step and then one inference pass, in
round-robin order (the starting library rotates each round). Reported: median ms per
library and the ratio peer / spikelite (> 1: spikelite is faster).

``--baseline`` adds ``spikelite-base`` to the rotation: the same spikelite network with the
speed settings off (``loop_threads=None``: the LIF time loops use all threads;
``nn.MaxPool2d``), so the gain of those settings is measured in the same interleaved run.
``--channels-last`` adds ``spikelite-cl``: the spikelite network with its weights stored
channels-last (:func:`spikelite.core.layout.channels_last`), so every feature map is NHWC;
oneDNN's NHWC convolutions and BatchNorm's NHWC statistics sum in another order, so its
spikes are not bit-identical to spikelite's (its total spike count must agree within 1 %).
``--retain-memory`` calls :func:`spikelite.core.memory.retain_freed_memory` first (what
the ``spikelite`` command does); it holds for the whole process, so every library gets it.
``--hog`` keeps a busy-loop process pinned to the last CPU while timing (the contention
case: one of the two threads' cores is taken). ``--bf16-conv`` runs every library's
forward under ``torch.autocast("cpu", torch.bfloat16)`` (convolutions and linear layers
in bf16; spikes are then no longer bit-identical, the agreement check runs in fp32 first).

Usage: ``python benchmarks/bench_core.py [--rounds 11] [--which A|B|all] [--threads 2]
[--baseline] [--channels-last] [--hog] [--bf16-conv] [--retain-memory] [--quick]``
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

import spikelite.core as slc

BETA = 0.5
THRESHOLD = 1.0
LIBS = ("spikelite", "snntorch", "spikingjelly", "norse")
PEERS = LIBS[1:]
BASE = "spikelite-base"
CL = "spikelite-cl"


# ---------------------------------------------------------------------------------------
# reference weights
# ---------------------------------------------------------------------------------------
def reference_layers(which: str, seed: int = 0) -> nn.ModuleList:
    """The stateless layers (with their initial weights) every library copies."""
    torch.manual_seed(seed)
    if which == "A":
        layers = [nn.Conv2d(2, 32, 3, padding=1), nn.BatchNorm2d(32),
                  nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64),
                  nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128),
                  nn.Linear(2048, 11)]
        # BN γ/β not at their (1, 0) defaults so the scaled Norse copy is a real check
        for bn in layers[1:6:2]:
            with torch.no_grad():
                bn.weight.uniform_(0.8, 1.6)
                bn.bias.uniform_(0.0, 0.3)
        with torch.no_grad():
            layers[-1].weight.mul_(8.0)  # enough drive for the output layer to spike
    else:
        layers = [nn.Linear(64, 256), nn.Linear(256, 256), nn.Linear(256, 10)]
        with torch.no_grad():
            for lin in layers:
                lin.weight.mul_(3.0)
    return nn.ModuleList(layers)


def copy_of(layer: nn.Module, scale: float = 1.0) -> nn.Module:
    """A deep copy of ``layer``; ``scale`` multiplies its affine output (weight and bias)."""
    new = copy.deepcopy(layer)
    if scale != 1.0:
        with torch.no_grad():
            new.weight.mul_(scale)
            if new.bias is not None:
                new.bias.mul_(scale)
    return new


def into(dst: nn.Module, src: nn.Module, scale: float = 1.0) -> nn.Module:
    """Load ``src``'s state (weights, BN statistics) into ``dst`` (a library's own class)."""
    dst.load_state_dict(src.state_dict())
    if scale != 1.0:
        with torch.no_grad():
            dst.weight.mul_(scale)
            if dst.bias is not None:
                dst.bias.mul_(scale)
    return dst


# ---------------------------------------------------------------------------------------
# spikelite
# ---------------------------------------------------------------------------------------
def spikelite_lif(fast: bool = True) -> nn.Module:
    return slc.LIF(beta=BETA, threshold=THRESHOLD, reset="zero", strict=True,
                   detach_reset=True, surrogate="atan", loop_threads=1 if fast else None)


class SpikeliteNet(nn.Module):
    """``fast=False``: the speed settings off (``spikelite-base``)."""

    def __init__(self, which: str, ref: nn.ModuleList, fast: bool = True) -> None:
        super().__init__()
        td = slc.TimeDistributed
        pool = slc.MaxPool2d if fast else nn.MaxPool2d
        if which == "A":
            mods: list[nn.Module] = []
            for i in range(3):
                mods += [td(copy_of(ref[2 * i])), td(copy_of(ref[2 * i + 1])),
                         spikelite_lif(fast), td(pool(2))]
            mods += [slc.Flatten(), td(copy_of(ref[6])), spikelite_lif(fast)]
        else:
            mods = []
            for lin in ref:
                mods += [td(copy_of(lin)), spikelite_lif(fast)]
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slc.reset_states(self)
        return self.net(x).mean(0)


# ---------------------------------------------------------------------------------------
# snnTorch / Norse: cells called once per time step; stateless layers folded over T·B
# ---------------------------------------------------------------------------------------
class Fold(nn.Module):
    """Apply a stateless layer to ``[T, B, ...]`` as one ``[T·B, ...]`` batch."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B = x.shape[:2]
        y = self.module(x.flatten(0, 1))
        return y.view(T, B, *y.shape[1:])


class FlattenTB(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2)


class SnnTorchLoop(nn.Module):
    """``snntorch.Leaky`` over time, as its users write it (one call per step)."""

    def __init__(self) -> None:
        super().__init__()
        import snntorch as snn

        self.cell = snn.Leaky(beta=BETA, threshold=THRESHOLD, reset_mechanism="zero")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem = torch.zeros_like(x[0])
        spk_rec = []
        for xt in x.unbind(0):
            spk, mem = self.cell(xt, mem)
            spk_rec.append(spk)
        return torch.stack(spk_rec)


class NorseLoop(nn.Module):
    """``norse.torch.LIFBoxCell`` over time (τ-form with dt·τ_inv = 0.5, input doubled)."""

    def __init__(self) -> None:
        super().__init__()
        import norse.torch as norse

        p = norse.LIFBoxParameters(
            tau_mem_inv=torch.as_tensor(0.5), v_leak=torch.as_tensor(0.0),
            v_th=torch.as_tensor(THRESHOLD), v_reset=torch.as_tensor(0.0),
        )
        self.cell = norse.LIFBoxCell(p, dt=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = None
        out = []
        for xt in x.unbind(0):
            z, state = self.cell(xt, state)
            out.append(z)
        return torch.stack(out)


class LoopNet(nn.Module):
    def __init__(self, which: str, ref: nn.ModuleList, lib: str) -> None:
        super().__init__()
        cell = SnnTorchLoop if lib == "snntorch" else NorseLoop
        # Norse's τ-form needs the doubled input 2x for h = 0.5·v + x
        s = 2.0 if lib == "norse" else 1.0
        if which == "A":
            mods: list[nn.Module] = []
            for i in range(3):
                mods += [Fold(copy_of(ref[2 * i])), Fold(copy_of(ref[2 * i + 1], s)), cell(),
                         Fold(nn.MaxPool2d(2))]
            mods += [FlattenTB(), Fold(copy_of(ref[6], s)), cell()]
        else:
            mods = []
            for lin in ref:
                mods += [Fold(copy_of(lin, s)), cell()]
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).mean(0)


# ---------------------------------------------------------------------------------------
# SpikingJelly
# ---------------------------------------------------------------------------------------
class SJNet(nn.Module):
    def __init__(self, which: str, ref: nn.ModuleList) -> None:
        super().__init__()
        from spikingjelly.activation_based import functional, layer, neuron, surrogate

        def lif() -> nn.Module:
            return neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_threshold=THRESHOLD,
                                  v_reset=0.0, detach_reset=True,
                                  surrogate_function=surrogate.ATan(alpha=2.0))

        if which == "A":
            mods: list[nn.Module] = []
            chans = [(2, 32), (32, 64), (64, 128)]
            for i, (ci, co) in enumerate(chans):
                mods += [into(layer.Conv2d(ci, co, 3, padding=1), ref[2 * i]),
                         into(layer.BatchNorm2d(co), ref[2 * i + 1]), lif(), layer.MaxPool2d(2)]
            mods += [layer.Flatten(), into(layer.Linear(2048, 11), ref[6]), lif()]
        else:
            mods = []
            for lin in ref:
                mods += [into(layer.Linear(lin.in_features, lin.out_features), lin), lif()]
        self.net = nn.Sequential(*mods)
        functional.set_step_mode(self.net, "m")
        self._reset = functional.reset_net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._reset(self.net)
        return self.net(x).mean(0)


# ---------------------------------------------------------------------------------------
# workloads
# ---------------------------------------------------------------------------------------
@dataclass
class Workload:
    name: str
    x: torch.Tensor
    y: torch.Tensor
    ref: nn.ModuleList


def make_workload(which: str) -> Workload:
    g = torch.Generator().manual_seed(1234)
    if which == "A":
        T, B = 16, 16
        x = (torch.rand(T, B, 2, 32, 32, generator=g) < 0.05).float()
        y = torch.randint(0, 11, (B,), generator=g)
    else:
        T, B = 25, 128
        rates = torch.rand(B, 64, generator=g)
        x = (torch.rand(T, B, 64, generator=g) < rates).float()
        y = torch.randint(0, 10, (B,), generator=g)
    return Workload(which, x, y, reference_layers(which))


def build(lib: str, w: Workload) -> nn.Module:
    if lib == CL:  # channels-last feature maps (spikelite.core.layout)
        from spikelite.core.layout import channels_last

        return channels_last(SpikeliteNet(w.name, w.ref))
    if lib in ("spikelite", BASE):
        return SpikeliteNet(w.name, w.ref, fast=lib == "spikelite")
    if lib in ("snntorch", "norse"):
        return LoopNet(w.name, w.ref, lib)
    return SJNet(w.name, w.ref)


def lif_modules(lib: str, net: nn.Module) -> list[nn.Module]:
    if lib in ("spikelite", BASE, CL):
        return [m for m in net.modules() if isinstance(m, slc.LIF)]
    if lib in ("snntorch", "norse"):
        return [m for m in net.modules() if isinstance(m, (SnnTorchLoop, NorseLoop))]
    from spikingjelly.activation_based import neuron

    return [m for m in net.modules() if isinstance(m, neuron.LIFNode)]


def spike_counts(lib: str, net: nn.Module, x: torch.Tensor) -> list[int]:
    """Total spikes per LIF layer for one training-mode forward (BN on batch statistics)."""
    counts: list[int] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: counts.append(int(out.sum())))
             for m in lif_modules(lib, net)]
    net.train()
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return counts


def first_weight_grad(net: nn.Module, w: Workload) -> tuple[float, torch.Tensor]:
    """Loss and gradient of the first conv/linear weight after one training-mode backward."""
    net.train()
    net.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(net(w.x), w.y)
    loss.backward()
    weight = next(p for p in net.parameters() if p.dim() >= 2)
    grad = weight.grad.clone()
    net.zero_grad(set_to_none=True)
    return float(loss.detach()), grad


def check_agreement(nets: dict[str, nn.Module], w: Workload, out: Callable[[str], None]) -> None:
    """Same spikes per layer (and, with the same surrogate, nearly the same gradients)."""
    counts = {lib: spike_counts(lib, net, w.x) for lib, net in nets.items()}
    grads = {lib: first_weight_grad(net, w) for lib, net in nets.items()}
    ref = counts["spikelite"]
    _, g_ref = grads["spikelite"]
    out(f"[{w.name}] spikes per LIF layer, loss and first-layer weight gradient "
        "(same weights and input):")
    worst = 0.0
    for lib, c in counts.items():
        rel = max(abs(a - b) / max(b, 1) for a, b in zip(c, ref, strict=True))
        if lib == CL:  # another rounding of BN's batch statistics: all spikes within 1 %
            if abs(sum(c) - sum(ref)) > 0.01 * sum(ref):
                raise SystemExit(f"[{w.name}] {CL}: total spikes {sum(c)} against {sum(ref)}")
        else:
            worst = max(worst, rel)
        loss, g = grads[lib]
        g_rel = float((g - g_ref).norm() / g_ref.norm().clamp_min(1e-30))
        out(f"  {lib:<13} spikes {c} (max rel. diff {rel:.1e}), loss {loss:.6f}, "
            f"grad rel. diff {g_rel:.1e}")
    for lib in ("snntorch", BASE):
        if lib in counts and counts[lib] != ref:
            raise SystemExit(f"[{w.name}] {lib} and spikelite must agree bit-for-bit; they do not")
    if worst > 0.01:
        raise SystemExit(f"[{w.name}] spike counts differ by {worst:.1%}: not the same network")


# ---------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------
def autocast(bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 convolutions/linear layers (``torch.autocast``) or nothing."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def train_step(
    net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
    bf16: bool = False,
) -> None:
    opt.zero_grad(set_to_none=True)
    with autocast(bf16):
        loss = nn.functional.cross_entropy(net(x).float(), y)
    loss.backward()
    opt.step()


def infer(net: nn.Module, x: torch.Tensor, bf16: bool = False) -> None:
    with torch.no_grad(), autocast(bf16):
        net(x)


def timed(fn: Callable[[], None]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def run_workload(which: str, rounds: int, warmup: int, out: Callable[[str], None],
                 libs: tuple[str, ...] = LIBS, bf16: bool = False) -> dict:
    w = make_workload(which)
    nets = {lib: build(lib, w) for lib in libs}
    check_agreement(nets, w, out)
    opts = {lib: torch.optim.SGD(net.parameters(), lr=0.01) for lib, net in nets.items()}
    times: dict[str, dict[str, list[float]]] = {m: {lib: [] for lib in libs}
                                                for m in ("train", "infer")}
    for r in range(warmup + rounds):
        order = libs[r % len(libs):] + libs[: r % len(libs)]
        for lib in order:
            net, opt = nets[lib], opts[lib]
            net.train()
            t_train = timed(partial(train_step, net, opt, w.x, w.y, bf16))
            net.eval()
            t_inf = timed(partial(infer, net, w.x, bf16))
            if r >= warmup:
                times["train"][lib].append(t_train)
                times["infer"][lib].append(t_inf)
    return {m: {lib: statistics.median(v) for lib, v in d.items()} for m, d in times.items()}


def report(which: str, med: dict, rounds: int, out: Callable[[str], None]) -> None:
    out(f"\n[{which}] median of {rounds} rounds, ms "
        "(ratio = peer / spikelite; > 1: spikelite faster)")
    out(f"  {'library':<15} {'train ms':>9} {'ratio':>6} {'infer ms':>9} {'ratio':>6}")
    for lib in med["train"]:
        tr, inf = med["train"][lib], med["infer"][lib]
        out(f"  {lib:<15} {tr:9.1f} {tr / med['train']['spikelite']:6.2f} "
            f"{inf:9.1f} {inf / med['infer']['spikelite']:6.2f}")
    for m in ("train", "infer"):
        best = min(PEERS, key=lambda lib: med[m][lib])
        out(f"  {m}: best peer {best}, {med[m][best] / med[m]['spikelite']:.2f}x spikelite"
            + "".join(f", {med[m][best] / med[m][v]:.2f}x {v}" for v in (BASE, CL)
                      if v in med[m]))


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    def v(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "?"

    libs = ", ".join(f"{d} {v(d)}" for d in ("spikelite", "snntorch", "spikingjelly", "norse"))
    return (f"python {platform.python_version()}, torch {torch.__version__}, {libs}; "
            f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=11,
                    help="timed rounds (median; >= 9 for reports)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    ap.add_argument("--which", choices=("A", "B", "all"), default="all")
    ap.add_argument("--quick", action="store_true", help="smoke test: 3 rounds, 1 warm-up")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--baseline", action="store_true",
                    help="also time spikelite with its speed settings off (spikelite-base)")
    ap.add_argument("--hog", action="store_true",
                    help="a busy-loop process on the last CPU while timing (contention)")
    ap.add_argument("--channels-last", action="store_true",
                    help="also time spikelite with channels-last feature maps (spikelite-cl)")
    ap.add_argument("--bf16-conv", action="store_true",
                    help="forward under torch.autocast(cpu, bfloat16) in every library")
    ap.add_argument("--retain-memory", action="store_true",
                    help="spikelite.core.memory.retain_freed_memory() first (the whole "
                    "process: every library)")
    args = ap.parse_args(argv)
    if args.retain_memory:
        from spikelite.core import memory

        memory.retain_freed_memory()
    if args.quick:
        args.rounds, args.warmup = 3, 1
    torch.set_num_threads(args.threads)
    libs = LIBS + ((BASE,) if args.baseline else ()) + ((CL,) if args.channels_last else ())

    def out(s: str) -> None:
        print(s, flush=True)

    out(versions() + (", CPU hog on the last CPU" if args.hog else "")
        + (", bf16 autocast" if args.bf16_conv else "")
        + (", retained freed memory" if args.retain_memory else ""))
    out(f"load average before: {os.getloadavg()}")
    with cpu_hog(args.hog):
        for which in ("A", "B") if args.which == "all" else (args.which,):
            med = run_workload(which, args.rounds, args.warmup, out, libs, args.bf16_conv)
            report(which, med, args.rounds, out)
    out(f"load average after: {os.getloadavg()}")
    return 0


def _spin() -> None:
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    while True:
        pass


@contextlib.contextmanager
def cpu_hog(on: bool):  # type: ignore[no-untyped-def]
    """A busy-looping child process pinned to the last CPU for the duration (``on``)."""
    if not on:
        yield
        return
    proc = multiprocessing.get_context("fork").Process(target=_spin, daemon=True)
    proc.start()
    try:
        yield
    finally:
        proc.terminate()
        proc.join()


if __name__ == "__main__":
    sys.exit(main())
