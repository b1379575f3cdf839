"""Speed of the fused LIF on a CUDA GPU: the Triton kernel vs the PyTorch time loop vs
SpikingJelly's CUDA kernel, forward + backward of one LIF layer.

Neuron: SpikingJelly's ``LIFNode(tau=2, v_reset=0, Sigmoid(α=4))`` (hard reset, ``h ≥ θ``),
i.e. spikelite ``LIF(tau=2, reset="zero", surrogate="sigmoid")`` (the peer-exact mapping of
``spikelite.core.neurons``), on float32 ``[T, B, ...]`` input currents:

* ``triton``: ``LIF(kernel="triton")`` — one kernel launch for the whole sequence
  (:mod:`spikelite.core.triton_lif`);
* ``torch``: ``LIF(kernel="torch")`` — the PyTorch fused kernel (:mod:`spikelite.core.fused`),
  a few small CUDA kernels per time step;
* ``spikingjelly``: ``LIFNode(step_mode="m")``, whose multi-step call picks SpikingJelly's
  own CUDA implementation (the one it reports is printed; skipped when not installed).

Before timing, the script checks on the first shape that all three give the same spikes
and final membrane (the Triton kernel bit for bit against the PyTorch kernel) and input
gradients equal to float32 rounding. Each timing is the median of ``--runs`` (≥ 11) runs of
``forward + backward`` (``sum(spikes·g)`` with a fixed random ``g``), CUDA-synchronised,
after warm-up. Prints a markdown table (ms; speed-up of Triton over each other column).

Usage (GPU machine; ``pip install 'spikelite[triton]'``, SpikingJelly optional)::

    python benchmarks/bench_lif_cuda.py [--runs 21] [--quick]

Without a CUDA device it stops with an error: the kernels are timed on GPUs only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch

from spikelite.core import LIF

#: (label, [T, B, ...]) — a conv feature map (64 channels, 32×32, batch 32) and a linear
#: layer (1024 features, batch 256)
SHAPES = [
    ("conv 64×32×32, B=32, T=4", (4, 32, 64, 32, 32)),
    ("conv 64×32×32, B=32, T=16", (16, 32, 64, 32, 32)),
    ("linear 1024, B=256, T=4", (4, 256, 1024)),
    ("linear 1024, B=256, T=16", (16, 256, 1024)),
]
TAU, THETA = 2.0, 1.0


def _spikelite(kernel: str) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    lif = LIF(tau=TAU, threshold=THETA, reset="zero", surrogate="sigmoid",
              kernel=kernel).cuda()

    def run(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lif.reset()
        s = lif(x)
        if lif.last_kernel != kernel:
            raise SystemExit(f"LIF(kernel={kernel!r}) ran {lif.last_kernel}: "
                             f"{lif.kernel_reason}")
        return s, lif.mem

    return run


def _spikingjelly() -> tuple[Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                             str] | None:
    try:
        from spikingjelly.activation_based import functional, neuron, surrogate
    except ImportError:
        return None
    node = neuron.LIFNode(tau=TAU, v_threshold=THETA, v_reset=0.0,
                          surrogate_function=surrogate.Sigmoid(alpha=4.0), step_mode="m")
    node = node.cuda()
    try:
        impl = str(functional.neuron_implementation("lif", torch.device("cuda"))
                   .get("implementation"))
    except Exception as exc:  # older SpikingJelly: no such query
        impl = f"unknown ({type(exc).__name__})"

    def run(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        functional.reset_net(node)
        s = node(x)
        return s, node.v

    return run, impl


def _fwd_bwd(fn: Callable, x: torch.Tensor, g: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    xs = x.detach().requires_grad_()
    s, v = fn(xs)
    (s * g).sum().backward()
    return s.detach(), v.detach(), xs.grad


def _time(fn: Callable, x: torch.Tensor, g: torch.Tensor, runs: int) -> float:
    for _ in range(3):
        _fwd_bwd(fn, x, g)
    times = []
    for _ in range(runs):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        _fwd_bwd(fn, x, g)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _inputs(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.rand(shape, device="cuda", generator=gen) * 1.2  # ~30 % of steps fire
    g = torch.randn(shape, device="cuda", generator=gen)
    return x, g


def _check(impls: dict[str, Callable], shape: tuple[int, ...]) -> None:
    x, g = _inputs(shape)
    ref = _fwd_bwd(impls["torch"], x, g)
    for name, fn in impls.items():
        if name == "torch":
            continue
        s, v, gx = _fwd_bwd(fn, x, g)
        flips = int((s != ref[0]).sum())
        if name == "triton" and (flips or not torch.equal(v, ref[1])):
            raise SystemExit(f"triton differs from the PyTorch kernel: {flips} spikes, "
                             f"max |Δv| {float((v - ref[1]).abs().max()):.3g}")
        # another library's kernel may round differently (e.g. an FMA): a few flips at
        # most, which then also change the membranes and gradients of those neurons
        if flips > 1e-4 * s.numel():
            raise SystemExit(f"{name}: {flips} spikes differ from the PyTorch kernel")
        if not flips:
            torch.testing.assert_close(v, ref[1], rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(gx, ref[2], rtol=1e-4, atol=1e-5)
        print(f"check {name}: {flips} spike flips ({int(ref[0].sum())} spikes of "
              f"{ref[0].numel()}), v_T max |Δ| {float((v - ref[1]).abs().max()):.2g}"
              f"{' (bit-identical)' if torch.equal(v, ref[1]) else ''}, "
              f"grad max |Δ| {float((gx - ref[2]).abs().max()):.2g}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=21, help="timed runs per cell (>= 11)")
    ap.add_argument("--quick", action="store_true", help="the first and last shape only")
    args = ap.parse_args(argv)
    if args.runs < 11:
        ap.error("--runs must be at least 11 (the table reports medians)")
    if not torch.cuda.is_available():
        raise SystemExit("bench_lif_cuda.py needs a CUDA GPU (torch.cuda.is_available() is "
                         "False); the CPU kernels are timed by benchmarks/bench_core.py")
    from spikelite.core.triton_lif import triton_importable

    why = triton_importable()
    if why is not None:
        raise SystemExit(f"{why}; pip install 'spikelite[triton]'")
    impls: dict[str, Callable] = {"triton": _spikelite("triton"), "torch": _spikelite("torch")}
    sj = _spikingjelly()
    if sj is not None:
        impls["spikingjelly"] = sj[0]
    import triton

    print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}, triton "
          f"{triton.__version__}; SpikingJelly: "
          f"{'not installed' if sj is None else sj[1]}; median of {args.runs} runs\n")
    shapes = [SHAPES[0], SHAPES[-1]] if args.quick else SHAPES
    _check(impls, shapes[0][1])
    cols = list(impls)
    print("\n| shape | " + " | ".join(f"{c} ms" for c in cols) + " | "
          + " | ".join(f"{c} / triton" for c in cols if c != "triton") + " |")
    print("|---" * (1 + 2 * len(cols) - 1) + "|")
    for label, shape in shapes:
        x, g = _inputs(shape)
        ms = {c: _time(impls[c], x, g, args.runs) for c in cols}
        print(f"| {label} | " + " | ".join(f"{ms[c]:.3f}" for c in cols) + " | "
              + " | ".join(f"{ms[c] / ms['triton']:.2f}×" for c in cols if c != "triton")
              + " |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
