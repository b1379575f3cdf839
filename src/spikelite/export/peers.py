"""What each peer library's NIR importer loads, and loading a graph there to compare it.

Measured on snnTorch 1.0.0, SpikingJelly 2.0.0, Norse 1.1.0 and nirtorch 2.6 (their
importers: ``snntorch.import_nir.import_from_nir``,
``spikingjelly.activation_based.nir_exchange.from_nir.import_from_nir``,
``norse.torch.from_nir``, ``nirtorch.nir_to_torch``). Facts that shape an export:

* none maps ``nir.Threshold``, so spikelite's default max-pool (``SumPool2d`` +
  ``Threshold``) loads nowhere else. snnTorch and SpikingJelly map ``AvgPool2d``; Norse
  does not. ``SumPool2d`` loads in Norse, and in snnTorch and SpikingJelly through
  nirtorch's default map (a plain ``LPPool2d(1)``: the sum, on non-negative input), which
  SpikingJelly's multi-step mode cannot run on a ``[T, B, …]`` sequence;
* the max of binary spikes over a window is an OR: 1 iff their sum is ≥ 1 (iff their mean is
  ≥ 1/area). A neuron that forgets its membrane every step computes it exactly: a LIF with
  ``τ = dt`` (β = 0: ``h = x``) and threshold 0.5 (sum) or 0.5/area (mean), or an IF with
  reset to 0, whose membrane is 0 at each step's start on non-negative pooled spikes (it
  either fired and reset, or received 0). snnTorch reads LIF(β = 0) exactly but maps
  ``nir.IF`` to a *leaky* neuron (β = 0.9) and needs ``r = 1`` for it; SpikingJelly refuses
  a LIF with ``τ/dt ≤ 1`` and reads IF exactly; Norse reads both (its IF ignores ``r``);
* snnTorch and Norse build ``torch.nn.Flatten(start_dim, end_dim)`` from the node as is,
  so NIR's per-sample ``start_dim = 0`` flattens the batch axis too; a negative
  ``start_dim = −ndim`` means the same for one sample (NIR's type inference agrees) and
  leaves a leading batch axis alone (SpikingJelly shifts non-negative dims by one itself);
* Norse ignores a LIF's ``r`` (needs ``lif_gain="weights"``) and a LIF's/IF's ``v_reset``
  (uses 0); snnTorch assumes ``dt = 1e-4`` and refuses ``v_leak ≠ 0``; SpikingJelly needs
  one value per parameter for all neurons of a layer, as does snnTorch for thresholds.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from spikelite.errors import SpikeliteError

Runner = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class NirPeer:
    """One library's NIR importer: the node pattern it loads for a max-pool of spikes
    (``pool``: ``"sum"``/``"avg"`` node; ``pool_neuron``: ``"lif0"`` = LIF with τ = dt,
    ``"if"``), whether to write ``Flatten`` with a negative ``start_dim``
    (``flatten_negative``), where a β-form LIF's gain must go (``lif_gain``) and the
    ``dt`` its importer assumes (``None``: any, passed to it)."""

    name: str
    label: str
    module: str
    pool: Literal["sum", "avg"]
    pool_neuron: Literal["lif0", "if"]
    flatten_negative: bool
    lif_gain: Literal["r", "weights"]
    fixed_dt: float | None = None

    def installed(self) -> bool:
        """Whether the peer library can be imported here."""
        try:
            __import__(self.module)
        except ImportError:
            return False
        return True

    def version(self) -> str:
        import importlib.metadata as md

        try:
            return md.version(self.module)
        except md.PackageNotFoundError:
            return "?"


PEERS: Mapping[str, NirPeer] = MappingProxyType({
    "snntorch": NirPeer("snntorch", "snnTorch", "snntorch", pool="avg", pool_neuron="lif0",
                        flatten_negative=True, lif_gain="r", fixed_dt=1e-4),
    "spikingjelly": NirPeer("spikingjelly", "SpikingJelly", "spikingjelly", pool="avg",
                            pool_neuron="if", flatten_negative=False, lif_gain="r"),
    "norse": NirPeer("norse", "Norse", "norse", pool="sum", pool_neuron="lif0",
                     flatten_negative=True, lif_gain="weights"),
})
"""The peers ``spikelite export --for`` targets (``nirtorch`` alone maps no neuron node)."""


def get_peer(name: str) -> NirPeer:
    """The peer called ``name`` (an error lists the valid names)."""
    key = str(name).lower()
    if key not in PEERS:
        raise SpikeliteError(f"unknown NIR peer {name!r}; choose one of {', '.join(PEERS)}")
    return PEERS[key]


# -- static incompatibilities, found on the graph before it is written ---------------------
def _uniform(a: Any) -> bool:
    a = np.asarray(a)
    return a.size == 0 or bool(np.all(a == a.flat[0]))


def _layer(key: str, node: Any) -> str:
    return str((getattr(node, "metadata", None) or {}).get("spikelite.layer", key))


def peer_problems(graph: Any, peer: NirPeer, dt: float) -> list[tuple[str, str]]:
    """Why ``peer`` would not load ``graph`` exactly: ``(layer, problem)`` pairs (empty: it
    loads; the rules are the module docstring's, each measured)."""
    out: list[tuple[str, str]] = []
    for key, node in graph.nodes.items():
        kind = type(node).__name__
        where = _layer(key, node)
        if kind == "Threshold":
            out.append((where, f"{peer.label} has no nir.Threshold"))
        elif kind == "SumPool2d" and peer.name == "spikingjelly":
            out.append((where, "SpikingJelly reads nir.SumPool2d as a plain LPPool2d, which "
                               "runs only step by step (step_mode='s'), not on a sequence"))
        elif kind == "AvgPool2d" and peer.pool != "avg":
            out.append((where, f"{peer.label} has no nir.AvgPool2d (it drops the node)"))
        elif kind == "Flatten" and peer.flatten_negative and node.start_dim >= 0:
            out.append((where, f"{peer.label} flattens the batch axis too (start_dim "
                               f"{node.start_dim}), so it runs one sample at a time"))
        elif kind in ("LIF", "IF"):
            out.extend((where, p) for p in _neuron_problems(node, kind, peer, dt))
    if peer.fixed_dt is not None and not np.isclose(dt, peer.fixed_dt):
        out.append(("(graph)", f"{peer.label}'s importer assumes dt = {peer.fixed_dt:g}, the "
                               f"graph has dt = {dt:g}"))
    return out


def export_notes(graph: Any, dt: float, peer: str | None = None) -> list[str]:
    """One line per problem a peer's importer has with ``graph`` (for ``peer``, or for each
    of :data:`PEERS`), naming the layers, the peer and the route that loads: what
    ``spikelite export`` prints before it writes."""
    peers = [get_peer(peer)] if peer else list(PEERS.values())
    grouped: dict[tuple[str, str], list[str]] = {}
    maxpools: dict[str, list[str]] = {}
    for p in peers:
        for layer, text in peer_problems(graph, p, dt):
            if "nir.Threshold" in text and _is_maxpool_layer(graph, layer):
                maxpools.setdefault(layer, []).append(p.label)
            else:
                grouped.setdefault((p.name, text), []).append(layer)
    lines = []
    for layer, labels in maxpools.items():
        route = f"--for {'|'.join(PEERS)}" if peer is None else f"--for {peer}"
        lines.append(f"layer '{layer}' (a max-pool, written as SumPool2d + Threshold) does "
                     f"not load in {_either(labels)}: none maps nir.Threshold (spikelite reads "
                     f"it back exactly); to load it there export with {route} (an exact "
                     "pool + neuron pattern each loads) or train the model with "
                     "--set model.kwargs.pool=avg")
    for (name, text), all_layers in grouped.items():
        layers = [v for v in all_layers if v not in maxpools]  # the max-pool note covers it
        if not layers:
            continue
        names = ", ".join(f"'{v}'" for v in dict.fromkeys(layers))
        lines.append(f"{'layer' if len(set(layers)) == 1 else 'layers'} {names}: {text}; "
                     + (f"export with --for {name} to load it there" if peer is None
                        else f"{PEERS[name].label} will not reproduce it exactly"))
    return lines


def _either(words: list[str]) -> str:
    return " or ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} or {words[-1]}"


def _is_maxpool_layer(graph: Any, layer: str) -> bool:
    return any(_layer(k, n) == layer and (n.metadata or {}).get("spikelite.maxpool")
               for k, n in graph.nodes.items())


def _neuron_problems(node: Any, kind: str, peer: NirPeer, dt: float) -> list[str]:
    out: list[str] = []
    v_reset = np.asarray(node.v_reset if node.v_reset is not None else 0.0)
    params = {"v_threshold": node.v_threshold, "v_reset": v_reset}
    if kind == "LIF":
        params.update(tau=node.tau, r=node.r, v_leak=node.v_leak)
    if peer.name in ("spikingjelly", "snntorch"):
        names = params if peer.name == "spikingjelly" else {"v_threshold": node.v_threshold}
        bad = [k for k, v in names.items() if not _uniform(v)]
        if bad:
            out.append(f"{peer.label} needs one value for all neurons of a layer "
                       f"({', '.join(bad)} vary)")
    if peer.name == "snntorch":
        if kind == "IF":
            out.append("snnTorch maps nir.IF to a leaky neuron (β = 0.9) and needs r = 1")
        elif not np.allclose(node.v_leak, 0.0):
            out.append("snnTorch refuses v_leak ≠ 0 (a τ-form LIF with v_reset ≠ 0)")
    if peer.name == "spikingjelly" and kind == "LIF":
        tau = np.asarray(node.tau, dtype=np.float64) / dt
        if np.any(tau <= 1.0):
            out.append("SpikingJelly refuses a LIF with τ/dt ≤ 1 (β = 0)")
    if peer.name == "norse":
        if kind == "LIF" and not np.allclose(node.r, 1.0):
            out.append("Norse ignores r ≠ 1 (export with lif_gain='weights')")
        if not np.allclose(v_reset, 0.0):
            out.append("Norse ignores v_reset (resets to 0)")
    return out


# -- loading and running a graph in a peer ----------------------------------------------------
@contextlib.contextmanager
def _quiet() -> Any:
    """Silence the peers' prints, warnings and log lines while they import a graph."""
    with (contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings()):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def _stepwise(net: nn.Module, x: torch.Tensor, *, stateful: bool) -> torch.Tensor:
    outs, state = [], None
    for t in range(x.shape[0]):
        if stateful:
            y, state = net(x[t], state)
        else:
            y = net(x[t])
            y = y[0] if isinstance(y, tuple) else y
        outs.append(y)
    return torch.stack(outs)


def load_in_peer(graph: Any, name: str, dt: float) -> Runner:
    """``graph`` imported by peer ``name`` (one of :data:`PEERS` or ``"nirtorch"``, whose
    default map holds no neurons) as ``run(x)``: time-major input ``[T, B, …]`` → the
    output node's values per step. snnTorch's neurons keep hidden state, so every call
    imports afresh. Raises whatever the peer raises when it cannot load the graph."""
    if name == "spikingjelly":
        from spikingjelly.activation_based.nir_exchange.from_nir import import_from_nir

        with _quiet():
            net = import_from_nir(copy.deepcopy(graph), dt=dt, step_mode="m")
        return lambda x: net(x)[0]
    if name == "snntorch":
        from snntorch.import_nir import import_from_nir as snn_import

        def run_snntorch(x: torch.Tensor) -> torch.Tensor:
            with _quiet():
                net = snn_import(copy.deepcopy(graph))  # it rewrites the graph's edges
            return _stepwise(net, x, stateful=False)

        with _quiet():
            snn_import(copy.deepcopy(graph))  # fail here, not on the first run
        return run_snntorch
    if name == "norse":
        import norse.torch as norse

        with _quiet():
            net = norse.from_nir(copy.deepcopy(graph), dt=dt)
        return lambda x: _stepwise(net, x, stateful=True)
    if name == "nirtorch":
        import nirtorch

        with _quiet():
            net = nirtorch.nir_to_torch(copy.deepcopy(graph), {})
        return lambda x: _stepwise(net, x, stateful=True)
    raise SpikeliteError(f"unknown NIR peer {name!r}; choose one of "
                         f"{', '.join([*PEERS, 'nirtorch'])}")


@dataclass(frozen=True)
class PeerCheck:
    """One model in one peer: ``loads``, ``equal`` (every output value within ``atol``
    of spikelite's on the same input, one sample at a time), ``batched`` (also with a
    batch), the largest difference, and the peer's error when it did not load or run."""

    peer: str
    loads: bool
    equal: bool
    batched: bool
    max_diff: float | None
    error: str | None = None

    def cell(self) -> str:
        """A compact markdown cell: ``✗ load``, ``✗ differs``, ``✓ 1 by 1`` or ``✓``."""
        if not self.loads:
            return f"✗ load ({self.error})" if self.error else "✗ load"
        if not self.equal:
            return f"✗ differs ({self.error or f'max diff {self.max_diff:.2g}'})"
        return "✓ batched" if self.batched else "✓ 1 by 1"


def _short(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    msg = re.sub(r"<class 'nir\.ir\.\w+\.(\w+)'>", r"\1", msg)
    msg = msg.replace(", mapping does not exist in node_map", "")
    return f"{type(exc).__name__}: {msg[:90]}" if msg else type(exc).__name__


def check_in_peer(model: nn.Module, graph: Any, name: str, x: torch.Tensor, *,
                  dt: float, atol: float = 1e-5) -> PeerCheck:
    """Import ``graph`` into peer ``name`` and compare its outputs with ``model``'s (a
    time-major spikelite model) on ``x`` ``[T, B, …]``: sample 0 alone, then the batch.
    ``atol`` covers float rounding of a membrane read-out; spikes must match exactly for
    the read-out to stay within it."""
    from spikelite.core.neurons import reset_states

    model.eval()
    with torch.no_grad():
        reset_states(model)
        ref = model(x)
    try:
        run = load_in_peer(graph, name, dt)
    except Exception as exc:  # any failure of a peer's importer is the answer
        return PeerCheck(name, False, False, False, None, _short(exc))

    def diff(xs: torch.Tensor, want: torch.Tensor) -> float | None:
        with torch.no_grad():
            got = run(xs)
        if got.numel() != want.numel():
            return None
        return float((got.reshape(want.shape).double() - want.double()).abs().max())

    try:
        one = diff(x[:, :1], ref[:, :1])
    except Exception as exc:  # the peer failed while running
        return PeerCheck(name, True, False, False, None, _short(exc))
    equal = one is not None and one <= atol
    try:
        many = diff(x, ref)
    except Exception:  # a batch it cannot run is "not batched"
        many = None
    batched = many is not None and many <= atol
    err = None if one is not None else "output shape differs"
    return PeerCheck(name, True, equal, batched, one if one is not None else many, err)
