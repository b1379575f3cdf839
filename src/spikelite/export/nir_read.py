"""Reading NIR graphs — spikelite's own and those the peers' exporters write (extra ``nir``).

NIR nodes are continuous-time; a graph is read at a step ``dt`` with forward Euler, as
NIR's reference and the peers' importers do. For a ``LIF`` node (τ, r, v_leak, θ, v_reset)
one step is ``h = v + (dt/τ)·(v_leak − v + r·x)``; with ``k = τ/dt`` and the input gain
``g = r/k``:

* ``v_leak = 0`` and ``g = 1`` (snnTorch ``Leaky``, SpikingJelly ``LIFNode(decay_input=
  False)``): the β-form ``h = β·v + x``, ``β = 1 − 1/k``;
* ``r = 1`` and ``v_leak = v_reset`` (SpikingJelly ``LIFNode``, Norse ``LIFBoxCell``): the
  τ-form ``h = v + (x − (v − v_reset))/k``;
* otherwise the β-form (``v_leak = 0``, gain ``g``) or the τ-form (``v_leak = v_reset``,
  gain ``r``) with the gain folded into the conv/linear before the neuron, per output
  channel (exact: the gain scales only that layer's output).

``IF``: ``h = v + r·dt·x`` (β = 1, gain ``r·dt`` folded as above). ``CubaLIF``: the current
``I = (1 − dt/τ_syn)·I + (dt/τ_syn)·w_in·x`` (:class:`SynapticCurrent`) feeding a LIF on
``I`` (snnTorch ``Synaptic``, SpikingJelly ``CUBALIFNode``). ``LI``: a non-spiking leaky
integrator whose output is its membrane (:class:`LeakyIntegrator`, Norse ``LIBoxCell``).
A spike is ``v > θ`` (NIR's definition; snnTorch and Norse compare so) unless spikelite's
metadata or ``strict=False`` (SpikingJelly compares ``≥``) say otherwise; all resets go to
``v_reset``. Pools take scalar or pair kernel sizes/strides/paddings; ``Flatten`` must
flatten a whole sample; a leading batch axis of 1 in the ``Input`` node (Norse, snnTorch
without ``ignore_dims``) is dropped. Anything else ends in a one-line
:class:`~spikelite.errors.SpikeliteError` naming the node, its type and what is read.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.core.checks import check_model
from spikelite.core.converted import ConvertedIF
from spikelite.core.neurons import check_time_major
from spikelite.errors import SpikeliteError, require
from spikelite.export.chain import EXPORT_SYNAPTIC
from spikelite.quant import LayerQuant

DEFAULT_DT = 1e-4

#: the node types :func:`from_nir` reads (named in every refusal)
SUPPORTED = ("Input", "Output", "Affine", "Linear", "Conv2d", "AvgPool2d", "SumPool2d",
             "Flatten", "Scale", "Threshold", "LIF", "IF", "CubaLIF", "LI")
_SUPPORTED_TEXT = ", ".join(SUPPORTED[2:])


def _nir() -> Any:
    return require("nir", "nir", "NIR export and import")


def _arr(v: Any) -> np.ndarray:
    """A node attribute (numpy array, torch tensor or number) as a float64 array."""
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    return np.asarray(v, dtype=np.float64)


def _f32(v: Any) -> torch.Tensor:
    return torch.as_tensor(_arr(v), dtype=torch.float32)


def _ints(v: Any, n: int, what: str, key: str) -> tuple[int, ...]:
    """A kernel size/stride/padding written as a scalar (SpikingJelly, snnTorch's pools) or
    as ``n`` values, as ``n`` ints."""
    a = np.atleast_1d(_arr(v)).ravel()
    if a.size == 1:
        a = np.repeat(a, n)
    if a.size != n or not np.all(a == np.round(a)) or np.any(a < 0):
        raise SpikeliteError(f"node '{key}': {what} {np.asarray(v).tolist()} is not one or "
                             f"{n} non-negative integers")
    return tuple(int(x) for x in a)


class SumPool2d(nn.Module):
    """``nir.SumPool2d``: the sum over each window (average pooling × window area)."""

    def __init__(self, kernel_size: Sequence[int], stride: Sequence[int],
                 padding: Sequence[int]) -> None:
        super().__init__()
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.stride = tuple(int(k) for k in stride)
        self.padding = tuple(int(k) for k in padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                                        divisor_override=1)


class Heaviside(nn.Module):
    """``nir.Threshold``: ``H(x − θ)`` (1 where ``x ≥ θ``)."""

    def __init__(self, threshold: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("threshold", threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x >= self.threshold).to(x.dtype)


class Scale(nn.Module):
    """``nir.Scale``: ``y = s ⊙ x`` elementwise."""

    def __init__(self, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class _Leaky(nn.Module):
    """A time-major ``[T, B, ...]`` first-order filter ``y_t = a·y_{t−1} + c·x_t`` (+ ``d``),
    starting at ``y0``; the state survives calls until :meth:`reset`, like spikelite's LIF."""

    def __init__(self, a: torch.Tensor, c: torch.Tensor, d: torch.Tensor,
                 y0: torch.Tensor) -> None:
        super().__init__()
        for name, t in (("a", a), ("c", c), ("d", d), ("y0", y0)):
            self.register_buffer(name, t)
        self.state: torch.Tensor | None = None

    def reset(self) -> None:
        self.state = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_time_major(x, type(self).__name__)
        y = self.state if self.state is not None and self.state.shape == x.shape[1:] else (
            torch.zeros_like(x[0]) + self.y0)
        out = []
        for xt in x.unbind(0):
            y = self.a * y + self.c * xt + self.d
            out.append(y)
        self.state = y.detach()
        return torch.stack(out)


class SynapticCurrent(_Leaky):
    """The current of ``nir.CubaLIF``: ``I_t = α·I_{t−1} + c·x_t`` with ``α = 1 − dt/τ_syn``
    and ``c = (dt/τ_syn)·w_in`` (times the membrane's input gain, folded in), from ``I = 0``.
    snnTorch ``Synaptic``: ``α``, ``c = 1``."""

    def __init__(self, alpha: torch.Tensor, gain: torch.Tensor) -> None:
        z = torch.zeros(())
        super().__init__(alpha, gain, z, z)


class LeakyIntegrator(_Leaky):
    """``nir.LI`` (a non-spiking read-out, Norse ``LIBoxCell``): its output is the membrane
    ``v_t = v_{t−1} + (dt/τ)·(v_leak − v_{t−1} + r·x_t)``, from ``v = v_leak`` (Norse)."""

    def __init__(self, tau_steps: torch.Tensor, r: torch.Tensor, v_leak: torch.Tensor) -> None:
        super().__init__(1 - 1 / tau_steps, r / tau_steps, v_leak / tau_steps, v_leak)


def _scalar_or_tensor(a: np.ndarray) -> float | torch.Tensor:
    a = np.asarray(a, dtype=np.float64)
    return float(a.flat[0]) if a.size and np.all(a == a.flat[0]) else torch.as_tensor(a)


def _chain(graph: Any) -> list[str]:
    """The node keys of a chain graph in order, ``Input`` first; anything else is refused
    with the node that breaks the chain."""
    nodes = graph.nodes
    for key, node in nodes.items():
        if node is None:
            raise SpikeliteError(
                f"node '{key}' is empty: the exporter could not map that layer (Norse 1.1.0 "
                "maps only Linear, Conv2d and its cells; snnTorch drops unknown layers) — "
                "remove or replace the layer before exporting")
        if type(node).__name__ == "NIRGraph":
            raise SpikeliteError(
                f"node '{key}' (NIRGraph) is a subgraph, e.g. snnTorch's RLeaky/RSynaptic "
                f"recurrence; spikelite reads feed-forward chains of {_SUPPORTED_TEXT}")
    succ: dict[str, list[str]] = {}
    npred: dict[str, int] = {}
    for a, b in graph.edges:
        for k in (a, b):
            if k not in nodes:
                raise SpikeliteError(f"the NIR graph has an edge to or from '{k}', which is "
                                     "not one of its nodes")
        succ.setdefault(a, []).append(b)
        npred[b] = npred.get(b, 0) + 1
    starts = [k for k, n in nodes.items() if type(n).__name__ == "Input"]
    if len(starts) != 1:
        raise SpikeliteError(f"spikelite reads NIR graphs with one Input node; this one has "
                             f"{len(starts)} ({', '.join(starts) or 'none'})")
    for k, n in npred.items():
        if n != 1:
            raise SpikeliteError(f"node '{k}' ({type(nodes[k]).__name__}) has {n} inputs; "
                                 "spikelite reads chains, not merges or recurrence")
    for k, v in succ.items():
        if len(v) != 1:
            raise SpikeliteError(f"node '{k}' ({type(nodes[k]).__name__}) feeds {len(v)} "
                                 f"nodes ({', '.join(v)}); spikelite reads chains (each node "
                                 "feeding the next), not branches or skip connections")
    order = [starts[0]]
    while order[-1] in succ:
        order.append(succ[order[-1]][0])
        if len(order) > len(nodes):
            raise SpikeliteError("the NIR graph has a cycle (recurrence is not importable)")
    unused = [k for k in nodes if k not in order]
    if unused:
        raise SpikeliteError(f"nodes {', '.join(unused)} are not on the chain from "
                             f"'{starts[0]}'; spikelite reads one connected chain")
    return order


def _fold_gain(gain: np.ndarray, prev: nn.Module | None, key: str, what: str) -> None:
    """Multiply the conv/linear ``prev`` (output channel ``c``) by ``gain`` — one value per
    channel or one for all; anything else is refused."""
    per_c = gain.reshape(gain.shape[0], -1) if gain.ndim else gain.reshape(1, 1)
    lin = getattr(prev, "module", None)
    if not isinstance(lin, EXPORT_SYNAPTIC) or not np.allclose(per_c, per_c[:, :1]):
        raise SpikeliteError(
            f"node '{key}': {what} = {float(np.mean(gain)):g} ≠ 1 needs a conv/linear right "
            "before it (with one gain per channel) to take the gain; check dt")
    g = per_c[:, 0]
    if g.size == 1 and lin.weight.shape[0] != 1:
        g = np.repeat(g, lin.weight.shape[0])
    if g.size != lin.weight.shape[0]:
        raise SpikeliteError(f"node '{key}': {g.size} input gains for {lin.weight.shape[0]} "
                             "output channels of the layer before it")
    t = torch.as_tensor(g, dtype=lin.weight.dtype)
    with torch.no_grad():
        lin.weight.mul_(t.view(-1, *([1] * (lin.weight.dim() - 1))))
        if lin.bias is not None:
            lin.bias.mul_(t)


def _neuron_from_nir(nir: Any, node: Any, dt: float, key: str,
                     prev: nn.Module | None = None, strict: bool | None = None) -> LIF:
    """The spikelite neuron for a NIR ``LIF``/``IF`` node (see the module docstring for the
    forms); an input gain ≠ 1 is folded into ``prev`` (the conv/linear feeding it)."""
    meta = dict(getattr(node, "metadata", {}) or {})
    theta = _arr(node.v_threshold)
    v_reset = _arr(node.v_reset) if node.v_reset is not None else np.zeros_like(theta)
    if "spikelite.strict_threshold" in meta:
        is_strict = bool(meta["spikelite.strict_threshold"])
    else:
        is_strict = True if strict is None else bool(strict)
    kw: dict[str, Any] = {
        "threshold": _scalar_or_tensor(theta),
        "v_reset": _scalar_or_tensor(v_reset),
        "reset": str(meta.get("spikelite.reset", "zero")),
        "strict": is_strict,
    }
    if meta.get("spikelite.state_bits") is not None:
        kw["state_bits"] = int(meta["spikelite.state_bits"])
        kw["state_max"] = float(meta["spikelite.state_max"])
    if type(node).__name__ == "IF":
        gain = _arr(node.r) * dt
        if not np.allclose(gain, 1.0, rtol=1e-6):
            _fold_gain(gain, prev, key, f"the IF input gain r·dt (dt={dt:g})")
        if meta.get("spikelite.v_init") is not None and kw["reset"] == "subtract":
            return ConvertedIF(kw["threshold"], v_init=float(meta["spikelite.v_init"]))
        return LIF(beta=1.0, **kw)
    tau, r, v_leak = (_arr(a) for a in (node.tau, node.r, node.v_leak))
    if np.any(tau <= 0):
        raise SpikeliteError(f"node '{key}': LIF with τ ≤ 0")
    k = tau / dt  # τ in steps
    form = meta.get("spikelite.form")
    if form == "tau" or (form is None and np.allclose(r, 1.0)
                         and np.allclose(v_leak, v_reset)):
        if not np.allclose(v_leak, v_reset):
            raise SpikeliteError(f"node '{key}': a τ-form LIF must leak towards v_reset")
        _check_steps(k, key, dt)
        return LIF(tau=_scalar_or_tensor(k), **kw)
    if np.allclose(v_leak, 0.0):  # β-form: h = β·v + g·x
        gain = r / k
        if not np.allclose(gain, 1.0, rtol=1e-6):
            _fold_gain(gain, prev, key, f"the LIF input gain (dt/τ)·r (dt={dt:g})")
        _check_steps(k, key, dt)
        return LIF(beta=_scalar_or_tensor(1.0 - 1.0 / k), **kw)
    if np.allclose(v_leak, v_reset):  # τ-form with gain r
        _fold_gain(r, prev, key, "the LIF input gain r")
        _check_steps(k, key, dt)
        return LIF(tau=_scalar_or_tensor(k), **kw)
    raise SpikeliteError(
        f"node '{key}': a LIF with v_leak = {float(np.mean(v_leak)):g} ≠ v_reset = "
        f"{float(np.mean(v_reset)):g} ≠ 0 has no spikelite equivalent (the β-form leaks "
        "towards 0, the τ-form towards v_reset)")


def _check_steps(k: np.ndarray, key: str, dt: float) -> None:
    if np.any(k < 1.0 - 1e-9):
        raise SpikeliteError(
            f"node '{key}': τ = {float(np.min(k)) * dt:g} is shorter than dt = {dt:g}, so "
            "forward Euler overshoots (1 − dt/τ < 0); read it with the dt it was exported "
            "for (Norse 1.1.0's exporter writes τ = dt/τ_inv: export with "
            "norse.torch.to_nir(..., dt=1.0) to get τ right)")


def _cuba_from_nir(node: Any, dt: float, key: str,
                   strict: bool | None) -> tuple[SynapticCurrent, LIF]:
    """``nir.CubaLIF`` as a synaptic current followed by a β-form LIF; the membrane's input
    gain ``(dt/τ_mem)·r`` goes into the current's gain."""
    meta = dict(getattr(node, "metadata", {}) or {})
    ts, tm, r, w_in, v_leak = (_arr(getattr(node, a)) for a in
                               ("tau_syn", "tau_mem", "r", "w_in", "v_leak"))
    if not np.allclose(v_leak, 0.0):
        raise SpikeliteError(f"node '{key}': a CubaLIF with v_leak ≠ 0 has no spikelite "
                             "equivalent")
    ks, km = ts / dt, tm / dt
    _check_steps(ks, key, dt)
    _check_steps(km, key, dt)
    theta = _arr(node.v_threshold)
    v_reset = _arr(node.v_reset) if node.v_reset is not None else np.zeros_like(theta)
    is_strict = bool(meta.get("spikelite.strict_threshold",
                              True if strict is None else strict))
    gain = w_in / ks * (r / km)
    cur = SynapticCurrent(_f32(1.0 - 1.0 / ks), _f32(gain))
    lif = LIF(beta=_scalar_or_tensor(1.0 - 1.0 / km), threshold=_scalar_or_tensor(theta),
              v_reset=_scalar_or_tensor(v_reset), strict=is_strict)
    return cur, lif


def _shape(v: Any) -> tuple[int, ...]:
    return tuple(int(x) for x in np.atleast_1d(_arr(v)).ravel()) if v is not None else ()


def _sample_shape(shape: tuple[int, ...], first: Any) -> tuple[int, ...]:
    """The Input node's shape without a leading batch axis of 1 (Norse's and snnTorch's
    exporters keep it unless told to ignore it)."""
    kind = type(first).__name__
    want = {"Affine": 1, "Linear": 1, "Conv2d": 3, "AvgPool2d": 3, "SumPool2d": 3}.get(kind)
    while want is not None and len(shape) > want and shape[0] == 1:
        shape = shape[1:]
    return shape


def from_nir(graph: Any, *, dt: float | None = None,
             strict: bool | None = None) -> nn.Sequential:
    """A NIR chain graph (or the path of a ``.nir`` file) → a time-major spikelite model,
    input ``[T, B, *sample]``; the inverse of :func:`spikelite.export.nir.to_nir`, and the
    reader of the peers' graphs (see the module docstring for the node semantics).

    ``dt``: the discretization step (default: the graph's ``spikelite.dt`` metadata, else
    :data:`DEFAULT_DT` = 1e-4, the step snnTorch's and SpikingJelly's exporters assume).
    ``strict``: the spike comparison of neurons without spikelite metadata — ``None``/
    ``True``: ``v > θ`` (NIR; snnTorch, Norse), ``False``: ``v ≥ θ`` (SpikingJelly).
    Reads ``Affine``, ``Linear``, ``Conv2d``, ``AvgPool2d``, ``SumPool2d`` (+ ``Threshold``
    → max-pool when spikelite wrote the pair), ``Flatten``, ``Scale``, ``Threshold``,
    ``LIF``, ``IF``, ``CubaLIF`` and ``LI``; anything else is refused by node name and type.
    """
    nir = _nir()
    from spikelite.models.common import SpikingSequential

    if isinstance(graph, (str, bytes)) or hasattr(graph, "__fspath__"):
        graph = _read(nir, Path(str(graph)))
    if type(graph).__name__ != "NIRGraph":
        raise SpikeliteError(f"from_nir reads a nir.NIRGraph or a .nir file, got "
                             f"{type(graph).__name__}")
    dt = float(dt if dt is not None else (graph.metadata or {}).get("spikelite.dt", DEFAULT_DT))
    if not dt > 0:
        raise SpikeliteError(f"dt must be > 0, got {dt}")
    order = _chain(graph)
    first = graph.nodes[order[1]] if len(order) > 1 else None
    in_shape = _sample_shape(_shape(graph.nodes[order[0]].input_type.get("input")), first)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    shape = in_shape
    skip_next = False
    for pos, key in enumerate(order):
        node = graph.nodes[key]
        kind = type(node).__name__
        if skip_next or kind in ("Input", "Output"):
            skip_next = False
            continue
        try:
            prev = layers[next(reversed(layers))] if layers else None
            if kind in ("Affine", "Linear"):
                w = _f32(node.weight)
                if w.dim() != 2:
                    raise SpikeliteError(f"node '{key}' ({kind}): weight of shape "
                                         f"{tuple(w.shape)} is not 2-D")
                lin = nn.Linear(w.shape[1], w.shape[0], bias=kind == "Affine")
                lin.weight.data.copy_(w)
                if kind == "Affine":
                    lin.bias.data.copy_(_f32(node.bias).reshape(-1))
                layers[key] = TimeDistributed(lin)
                shape = (*shape[:-1], w.shape[0]) if shape else (w.shape[0],)
            elif kind == "Conv2d":
                w = _f32(node.weight)
                if w.dim() != 4:
                    raise SpikeliteError(f"node '{key}' (Conv2d): weight of shape "
                                         f"{tuple(w.shape)} is not [out, in/groups, kh, kw]")
                groups = int(np.asarray(node.groups))
                pad = (str(node.padding) if isinstance(node.padding, str)
                       else _ints(node.padding, 2, "padding", key))
                conv = nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[-2:]),
                                 stride=_ints(node.stride, 2, "stride", key), padding=pad,
                                 dilation=_ints(node.dilation, 2, "dilation", key),
                                 groups=groups, bias=True)
                conv.weight.data.copy_(w)
                bias = node.bias if node.bias is not None else np.zeros(w.shape[0])
                conv.bias.data.copy_(_f32(bias).reshape(-1))
                layers[key] = TimeDistributed(conv)
                shape = _conv_out(conv, shape)
            elif kind in ("LIF", "IF"):
                layers[key] = _neuron_from_nir(nir, node, dt, key, prev, strict)
            elif kind == "CubaLIF":
                cur, lif = _cuba_from_nir(node, dt, key, strict)
                layers[f"{key}_current"] = cur
                layers[key] = lif
            elif kind == "LI":
                tau, r, v_leak = (_arr(a) for a in (node.tau, node.r, node.v_leak))
                _check_steps(tau / dt, key, dt)
                layers[key] = LeakyIntegrator(_f32(tau / dt), _f32(r), _f32(v_leak))
            elif kind in ("SumPool2d", "AvgPool2d"):
                k = _ints(node.kernel_size, 2, "kernel_size", key)
                s = _ints(node.stride if node.stride is not None else node.kernel_size, 2,
                          "stride", key)
                p = _ints(node.padding if node.padding is not None else 0, 2, "padding", key)
                nxt = graph.nodes[order[pos + 1]] if pos + 1 < len(order) else None
                if _is_maxpool(node, nxt):
                    pool: nn.Module = nn.MaxPool2d(k, s)
                    skip_next = True
                elif kind == "SumPool2d":
                    pool = SumPool2d(k, s, p)
                else:
                    pool = nn.AvgPool2d(k, s, p)
                layers[key] = TimeDistributed(pool)
                if len(shape) == 3:
                    shape = (shape[0], *((shape[i + 1] + 2 * p[i] - k[i]) // s[i] + 1
                                         for i in range(2)))
            elif kind == "Threshold":
                layers[key] = TimeDistributed(Heaviside(_f32(node.threshold)))
            elif kind == "Scale":
                layers[key] = Scale(_f32(node.scale))
            elif kind == "Flatten":
                layers[key] = _flatten(node, key, shape)
                shape = (int(np.prod(shape)),) if shape else shape
            else:
                raise SpikeliteError(f"node '{key}' ({kind}) has no spikelite import; supported: "
                                     f"{_SUPPORTED_TEXT}")
        except SpikeliteError:
            raise
        except (TypeError, ValueError, AttributeError, IndexError, KeyError,
                RuntimeError) as exc:  # a malformed node: one line naming it
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SpikeliteError(f"node '{key}' ({kind}) cannot be read: {msg}") from None
    out_node = graph.nodes[order[-1]]
    out_shape = _shape(out_node.output_type.get("output")) if \
        type(out_node).__name__ == "Output" else shape
    out_shape = out_shape[1:] if len(out_shape) > len(shape) and out_shape[:1] == (1,) else \
        out_shape
    n_out = int(np.prod(out_shape)) if out_shape else 0
    return SpikingSequential(layers, num_classes=n_out, input_shape=in_shape)


def _is_maxpool(pool: Any, nxt: Any) -> bool:
    """Whether ``pool`` and the node after it are a max-pool of spikes that spikelite wrote
    (``spikelite.maxpool`` on both): ``SumPool2d`` + ``Threshold`` (default export), or the
    pool node + an OR neuron that forgets its membrane each step (``to_nir(peer=…)``)."""
    return (nxt is not None and type(nxt).__name__ in ("Threshold", "LIF", "IF")
            and all((getattr(n, "metadata", None) or {}).get("spikelite.maxpool")
                    for n in (pool, nxt)))


def _conv_out(conv: nn.Conv2d, shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) != 3 or isinstance(conv.padding, str):
        return (conv.out_channels, *shape[1:]) if isinstance(conv.padding, str) and \
            len(shape) == 3 else shape
    return (conv.out_channels, *(
        (shape[i + 1] + 2 * conv.padding[i] - conv.dilation[i] * (conv.kernel_size[i] - 1)
         - 1) // conv.stride[i] + 1 for i in range(2)))


def _flatten(node: Any, key: str, shape: tuple[int, ...]) -> Flatten:
    """``nir.Flatten`` over one sample (no batch axis, NIR's convention): spikelite reads a
    flatten of the whole sample — ``start_dim`` 0 and ``end_dim`` −1 or the last axis."""
    nd = len(_shape(node.input_type.get("input"))) if getattr(node, "input_type", None) \
        and node.input_type.get("input") is not None else len(shape)
    start, end = int(np.asarray(node.start_dim)), int(np.asarray(node.end_dim))
    if start < 0 and nd:
        start += nd
    if end < 0 and nd:
        end += nd
    if start != 0 or (nd and end != nd - 1) or (not nd and end != -1):
        raise SpikeliteError(
            f"node '{key}' (Flatten): start_dim {int(np.asarray(node.start_dim))}, end_dim "
            f"{int(np.asarray(node.end_dim))} of a sample of {nd or '?'} axes; spikelite reads "
            "a flatten of the whole sample (start_dim 0, end_dim −1; a torch "
            "nn.Flatten(1) exports so)")
    return Flatten()


def _read(nir: Any, path: Path) -> Any:
    if not path.is_file():
        raise SpikeliteError(f"no NIR file at '{path}'")
    try:
        return nir.read(str(path))
    except (OSError, KeyError, ValueError, TypeError, AttributeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpikeliteError(f"cannot read the NIR file '{path}': {msg}") from None


def sidecars_from_nir(graph: Any) -> dict[str, LayerQuant]:
    """The :class:`LayerQuant` sidecars that spikelite wrote into a graph's node metadata,
    keyed by the module names of :func:`from_nir`'s model (``"<node>.module"``): bits,
    codes, scale and zero point, so that a profile of the imported model counts the
    deployed bit widths. Nodes without them (FP32, or graphs from other tools) are absent."""
    out: dict[str, LayerQuant] = {}
    for key, node in graph.nodes.items():
        meta = dict(getattr(node, "metadata", {}) or {})
        if "spikelite.codes" not in meta or "spikelite.bits" not in meta:
            continue
        codes = torch.as_tensor(np.asarray(meta["spikelite.codes"]).astype(np.int32))
        scale = torch.as_tensor(np.asarray(meta.get("spikelite.scale", 1.0),
                                           dtype=np.float32))
        mask = meta.get("spikelite.mask")
        name = f"{key}.module"
        out[name] = LayerQuant(
            name=name, weight_shape=tuple(codes.shape),
            scheme=str(np.asarray(meta.get("spikelite.scheme", "uniform"))),
            bits=int(np.asarray(meta["spikelite.bits"])), codes=codes, scale=scale,
            zero_point=float(np.asarray(meta.get("spikelite.zero_point", 0.0))),
            mask=None if mask is None else torch.as_tensor(np.asarray(mask) != 0),
            mask_order=None if mask is None else str(  # type: ignore[arg-type]
                np.asarray(meta.get("spikelite.mask_order", "after_quant"))),
            bias_bits=32 if type(node).__name__ in ("Affine", "Conv2d") else None)
    return out


def read_nir_for_profile(path: str | Path, *, dt: float | None = None,
                         strict: bool | None = None) -> tuple[nn.Sequential,
                                                              dict[str, LayerQuant],
                                                              dict[str, Any]]:
    """A NIR graph file as ``(model, sidecars, data spec)`` for profiling: the model
    :func:`from_nir` builds (in evaluation mode), the bit widths/codes spikelite stored in
    the node metadata (:func:`sidecars_from_nir`) and the dataset spec it recorded (``{}``
    when none)."""
    nir = require("nir", "nir", "profiling NIR graphs")
    path = Path(path)
    graph = _read(nir, path)
    data = (graph.metadata or {}).get("spikelite.data")
    try:
        spec = json.loads(str(np.asarray(data))) if data is not None else {}
    except json.JSONDecodeError:
        raise SpikeliteError(f"NIR file '{path}': its spikelite.data metadata is not JSON; "
                             "pass --dataset") from None
    model = from_nir(graph, dt=dt, strict=strict).eval()
    check_model(model, f"NIR file '{path}'", "the file is corrupt or was exported from a "
                "diverged model — export it again from a good checkpoint")
    return model, sidecars_from_nir(graph), spec
