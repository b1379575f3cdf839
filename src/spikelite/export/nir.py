"""Export to and import from NIR, the Neuromorphic Intermediate Representation (extra ``nir``).

NIR nodes are continuous-time; a simulator discretizes them with a step ``dt``. spikelite's
discrete neurons map exactly onto NIR's forward-Euler discretization (the convention of
snnTorch's exporter, ``dt = 1e-4`` by default):

* β-form LIF ``h = β·v + x``: ``nir.LIF`` with ``τ = dt/(1 − β)``, ``r = τ/dt``,
  ``v_leak = 0`` — Euler gives ``v + (dt/τ)(v_leak − v + r·x) = β·v + x``;
* τ-form LIF ``h = v + (x − (v − v_reset))/τ_s``: ``τ = τ_s·dt``, ``r = 1``,
  ``v_leak = v_reset``;
* IF (β = 1): ``nir.IF`` with ``r = 1/dt``;
* ``v_threshold`` = θ, ``v_reset`` = the reset value, all as arrays of the layer's neuron
  shape (per-channel parameters are broadcast).

NIR's LIF/IF reset *to* ``v_reset``; a subtractive reset (or none) cannot be expressed, so
such neurons are refused unless ``allow_reset_mismatch=True`` (the node then carries
``metadata["spikelite.reset"]`` and importers that ignore it will differ).

Other layers: ``Linear`` → ``nir.Affine`` (``nir.Linear`` without bias), ``Conv2d`` →
``nir.Conv2d``, BatchNorm → folded into the preceding conv/linear (evaluation statistics),
``AvgPool2d`` → ``nir.AvgPool2d``, ``MaxPool2d`` after spiking neurons → ``nir.SumPool2d`` +
``nir.Threshold(0.5)`` (the max of binary spikes is 1 exactly when their sum is ≥ 1),
``Flatten`` → ``nir.Flatten``. Dropout is dropped. NIR has no quantization node: quantized
layers are exported with their deployed (dequantized) weights, and their integer
description (bits, scale, zero point) goes into the node's metadata. Shapes follow NIR's
convention (no batch or time axis).
"""

from __future__ import annotations

import io
import itertools
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from spikelite.core import LIF
from spikelite.errors import SpikeliteError, check_output_dir, require
from spikelite.export.chain import (
    FlattenStep,
    NeuronStep,
    PoolStep,
    SynapseStep,
    on_cpu,
    walk_chain,
)
from spikelite.export.nir_read import (  # noqa: F401  (the reader; old names stay here)
    DEFAULT_DT,
    Heaviside,
    SumPool2d,
    _chain,
    _neuron_from_nir,
    _scalar_or_tensor,
    from_nir,
    read_nir_for_profile,
    sidecars_from_nir,
)
from spikelite.export.peers import NirPeer, check_in_peer, export_notes, get_peer
from spikelite.export.targets import EXPORT_TARGETS, ExportTarget, write_atomic
from spikelite.quant import LayerQuant


def _nir() -> Any:
    return require("nir", "nir", "NIR export and import")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).cpu().numpy().copy()


def _pair(v: int | Sequence[int]) -> np.ndarray:
    return np.array([v, v] if isinstance(v, int) else list(v), dtype=np.int64)


def _quant_metadata(side: LayerQuant | None) -> dict[str, Any]:
    """The integer description of a baked layer (NIR has no quantization node)."""
    if side is None or side.scheme is None:
        return {}
    meta: dict[str, Any] = {"spikelite.scheme": side.scheme, "spikelite.bits": int(side.bits),
                            "spikelite.zero_point": float(side.zero_point)}
    if side.scale is not None:  # NIR's HDF5 writer stores arrays, not 0-dim ones
        scale = _np(side.scale)
        meta["spikelite.scale"] = float(scale) if scale.ndim == 0 else scale
    if side.codes is not None:
        meta["spikelite.codes"] = side.codes.detach().cpu().numpy().astype(np.int32)
    if side.mask is not None:  # the deployed weight is codes × mask (after_quant)
        meta["spikelite.mask"] = side.mask.detach().cpu().numpy().astype(np.uint8)
        meta["spikelite.mask_order"] = str(side.mask_order or "after_quant")
    return meta


def _neuron_node(nir: Any, m: LIF, shape: tuple[int, ...], dt: float,
                 allow_reset_mismatch: bool, name: str) -> Any:
    def full(t: torch.Tensor | float) -> np.ndarray:
        t = torch.as_tensor(t, dtype=torch.float64)
        if t.dim() == 1 and len(shape) > 1 and t.numel() == shape[0]:
            t = t.view(-1, *([1] * (len(shape) - 1)))  # per channel
        return np.broadcast_to(t.detach().cpu().numpy(), shape).astype(np.float64).copy()

    meta: dict[str, Any] = {"spikelite.form": m.form, "spikelite.reset": m.reset_mode,
                            "spikelite.strict_threshold": bool(m.strict), "spikelite.dt": dt}
    if getattr(m, "v_init", 0.0):  # NIR nodes start at rest; a converted SNN does not
        if not allow_reset_mismatch:
            raise SpikeliteError(
                f"layer '{name}' starts its membrane at {m.v_init:g}·θ, which NIR cannot "
                "express (its neurons start at rest); export with allow_reset_mismatch=True "
                "to keep it only in the node metadata")
        meta["spikelite.v_init"] = float(m.v_init)
    if m.state_bits is not None:
        meta["spikelite.state_bits"] = int(m.state_bits)
        meta["spikelite.state_max"] = float(m.state_max)
    if m.reset_mode != "zero" and not allow_reset_mismatch:
        raise SpikeliteError(
            f"layer '{name}' resets by {m.reset_mode!r}, but NIR's LIF/IF reset to v_reset "
            "and no peer's importer builds another reset (snnTorch's builds "
            "Leaky(reset_mechanism='zero', reset_delay=False), SpikingJelly's a hard reset, "
            "Norse's a reset to 0; snnTorch's exporter drops the reset silently), so no --for "
            "route loads it either. Train with reset='zero' (snnTorch: "
            "reset_mechanism='zero'); for a network converted from a peer, put the weights "
            "back into it with spikelite.interop.to_foreign; or export with "
            "allow_reset_mismatch=True (--allow-reset-mismatch) to keep the reset only in the "
            "node metadata.")
    v_start = getattr(m, "v_start", None)
    if v_start is not None and bool((v_start != (0.0 if m.form == "beta" else (
            m.v_reset if getattr(m, "v_leak", None) is None else m.v_leak))).any()):
        raise SpikeliteError(
            f"layer '{name}' starts its membrane at v_start, not at rest, which NIR cannot "
            "express (its neurons start at rest); build it without v_start to export")
    timing = getattr(m, "reset_timing", "immediate")
    if timing == "delayed" and m.reset_mode == "zero":
        # snnTorch's delayed zero reset: h_t = β·v_{t−1}·(1 − s_{t−1}) + x_t, i.e. a reset to
        # 0 followed by the charge — NIR's LIF in exact arithmetic (its float rounding
        # differs from (β·v + x) − β·v only in the last bit)
        meta["spikelite.reset_timing"] = "delayed"
    elif timing != "immediate":
        raise SpikeliteError(
            f"layer '{name}' resets with snnTorch's {timing!r} timing (the reset acts a "
            "step late, after the decay), which NIR's LIF/IF cannot express; build it with "
            "reset_timing='immediate' (snnTorch: reset_mechanism='zero' gives the same "
            "spikes) to export")
    theta, v_reset = full(m.threshold), full(m.v_reset)
    form = m.form
    if form in ("tau_inv", "box") or not getattr(m, "decay_input", True) or \
            getattr(m, "v_leak", None) is not None:
        # Euler v + (dt/τ)(v_leak − v + r·x): 1/τ_s = dt/τ, input gain r·dt/τ (1 without
        # decay_input: r = τ/dt); equal in exact arithmetic, not in the peers' rounding
        k = full(m.leak) if form in ("tau_inv", "box") else 1.0 / full(m.leak)
        v_leak = v_reset if getattr(m, "v_leak", None) is None else full(m.v_leak)
        meta["spikelite.decay_input"] = bool(getattr(m, "decay_input", True))
        tau = dt / k
        return nir.LIF(tau=tau, r=np.ones(shape) if meta["spikelite.decay_input"]
                       else tau / dt, v_leak=v_leak, v_threshold=theta, v_reset=v_reset,
                       metadata=meta)
    if m.form == "tau":
        tau_s = full(m.leak)
        return nir.LIF(tau=tau_s * dt, r=np.ones(shape), v_leak=v_reset, v_threshold=theta,
                       v_reset=v_reset, metadata=meta)
    beta = full(m.beta)
    if np.all(beta == 1.0):
        return nir.IF(r=np.full(shape, 1.0 / dt), v_threshold=theta, v_reset=v_reset,
                      metadata=meta)
    if np.any(beta >= 1.0) or np.any(beta < 0.0):
        raise SpikeliteError(f"layer '{name}': β must lie in [0, 1) per neuron for NIR "
                             "(a mix of leaky and non-leaky neurons has no NIR node)")
    tau = dt / (1.0 - beta)
    return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(shape), v_threshold=theta,
                   v_reset=v_reset, metadata=meta)


def _refuse(name: str, m: nn.Module, spikes_in: bool) -> None:
    """NIR's own refusals (see :func:`spikelite.export.chain.walk_chain`): NIR has no
    max-pool, so a max-pool is exported as sum-pool + threshold — exact only on spikes."""
    name = name.removesuffix(".module")  # the layer as the user named it, not its wrapper
    if isinstance(m, nn.MaxPool2d):
        if not spikes_in:
            raise SpikeliteError(
                f"layer '{name}': NIR has no max-pool; spikelite exports it as a "
                "sum-pool + threshold, exact only on binary spikes, so it must "
                "follow a spiking neuron. Here it pools currents (e.g. snnTorch's tutorial "
                "order Conv2d → MaxPool2d → Leaky), which no NIR node and no peer's importer "
                "expresses: pool after the neuron (Conv2d → Leaky → MaxPool2d) or use "
                "AvgPool2d, then fine-tune, to export")
        if m.padding not in (0, (0, 0)) or m.dilation not in (1, (1, 1)):
            raise SpikeliteError(f"layer '{name}': only unpadded, undilated max-pools "
                                 "can be exported to NIR")


def to_nir(model: nn.Module, *, input_shape: Sequence[int] | None = None,
           dt: float = DEFAULT_DT, sidecars: Mapping[str, LayerQuant] | None = None,
           allow_reset_mismatch: bool = False,
           metadata: Mapping[str, Any] | None = None, lif_gain: str | None = None,
           peer: str | None = None) -> Any:
    """``model`` (a sequential spikelite SNN, e.g. a zoo model or a baked checkpoint) as a
    ``nir.NIRGraph`` — a chain ``input → layers → output`` (see the module docstring).

    ``input_shape``: one sample's shape without time and batch (default: the zoo model's
    ``input_shape``). Quantized or pruned models are exported baked
    (``plain, sidecars = spikelite.quant.bake(model)``; the CLI does it): the weights are
    the deployed ones and ``sidecars`` add each layer's scheme, bits, scale, zero point and
    integer codes to its node's metadata (for a layer folded with BatchNorm the codes
    describe the weight before folding, noted in ``spikelite.folded_batchnorm``).
    ``metadata``: extra graph-level entries (strings and numbers), e.g. the dataset.
    ``lif_gain``: where a β-form LIF's input gain ``1/(1 − β)`` goes — ``"r"`` (default,
    ``r = τ/dt``, snnTorch's and SpikingJelly's convention) or ``"weights"`` (``r = 1``
    and the preceding conv/linear's weights and bias multiplied by ``1/(1 − β)`` per output
    channel; equally exact, and what importers that ignore ``r``, such as Norse's, need);
    ``None``: ``"r"``, or what ``peer`` needs.
    ``peer``: write for one library's importer (``"snntorch"``, ``"spikingjelly"``,
    ``"norse"``; :mod:`spikelite.export.peers`): a max-pool of spikes becomes the pool node
    it maps + a neuron that fires iff the window holds a spike (:func:`_maxpool_nodes`),
    ``Flatten`` gets a negative ``start_dim`` where its importer would flatten the batch
    axis, and the LIF gain goes where it reads it. Every pattern computes the same
    function, and :func:`from_nir` reads each back as the max-pool.
    """
    nir = _nir()
    if dt <= 0:
        raise SpikeliteError(f"dt must be > 0, got {dt}")
    target = _peer(peer)
    if lif_gain is None:
        lif_gain = target.lif_gain if target is not None else "r"
    if lif_gain not in ("r", "weights"):
        raise SpikeliteError(f"lif_gain must be 'r' or 'weights', got {lif_gain!r}")
    if target is not None and target.lif_gain == "weights" and lif_gain != "weights":
        raise SpikeliteError(f"{target.label} ignores a LIF's r: export for it with "
                             "lif_gain='weights' (the default with peer)")
    chain = walk_chain(model, input_shape, label="NIR export", refuse=_refuse)
    nodes: OrderedDict[str, Any] = OrderedDict()
    nodes["input"] = nir.Input(input_type={"input": np.array(chain.input_shape)})
    for step in chain.steps:
        name, m = step.name, step.module
        key = step.key.replace(".", "_")
        if isinstance(step, SynapseStep):
            w, b = step.deployed()
            meta = {"spikelite.layer": name, **_quant_metadata((sidecars or {}).get(name))}
            if step.bn is not None:
                meta["spikelite.folded_batchnorm"] = step.bn_name
            if step.kind == "linear":
                nodes[key] = (nir.Affine(weight=_np(w), bias=_np(b), metadata=meta)
                              if b is not None else nir.Linear(weight=_np(w), metadata=meta))
            else:
                nodes[key] = nir.Conv2d(
                    input_shape=step.in_shape[-2:], weight=_np(w), stride=m.stride,
                    padding=m.padding, dilation=m.dilation, groups=m.groups,
                    bias=_np(b if b is not None else torch.zeros(w.shape[0])), metadata=meta)
        elif isinstance(step, NeuronStep):
            nodes[key] = _neuron_node(nir, step.module, step.in_shape, dt,
                                      allow_reset_mismatch, name)
        elif isinstance(step, PoolStep) and step.kind == "max":
            k = _pair(m.kernel_size)
            s = _pair(m.stride if m.stride is not None else m.kernel_size)
            nodes.update(_maxpool_nodes(nir, key, name, k, s, step.out_shape, dt, target))
        elif isinstance(step, PoolStep):
            nodes[key] = nir.AvgPool2d(kernel_size=_pair(m.kernel_size),
                                       stride=_pair(m.stride or m.kernel_size),
                                       padding=_pair(m.padding),
                                       metadata={"spikelite.layer": name})
        elif isinstance(step, FlattenStep):
            start = -len(step.in_shape) if target and target.flatten_negative else 0
            nodes[key] = nir.Flatten(input_type={"input": np.array(step.in_shape)},
                                     start_dim=start, end_dim=-1,
                                     metadata={"spikelite.layer": name})
        else:  # pragma: no cover - walk_chain yields only the steps above
            raise SpikeliteError(f"internal: unexpected export step {type(step).__name__}")
    if lif_gain == "weights":
        _fold_lif_gains(nir, nodes)
    if target is not None and target.pool == "sum":
        _avgpools_as_sumpools(nir, nodes)
    nodes["output"] = nir.Output(output_type={"output": np.array(chain.output_shape)})
    edges = list(itertools.pairwise(nodes))
    return nir.NIRGraph(nodes=dict(nodes), edges=edges,
                        metadata={"spikelite.dt": dt, "spikelite.time_major": True,
                                  **({"spikelite.peer": target.name} if target else {}),
                                  **dict(metadata or {})})


def _peer(peer: str | None) -> NirPeer | None:
    return None if peer is None else get_peer(peer)


def _maxpool_nodes(nir: Any, key: str, name: str, k: np.ndarray, s: np.ndarray,
                   out_shape: tuple[int, ...], dt: float,
                   target: NirPeer | None) -> dict[str, Any]:
    """A max-pool of binary spikes as two NIR nodes: it is 1 iff the window's sum is ≥ 1,
    i.e. its mean ≥ 1/area. Default: ``SumPool2d`` + ``Threshold(0.5)``. For a peer: its
    pool node, then a neuron with threshold 0.5 (sum) or 0.5/area (mean) that forgets its
    membrane every step — a LIF with τ = dt (β = 0, ``r = 1``: ``h = x``) or an IF
    (``r = 1/dt``) with reset to 0, whose membrane is 0 at every step's start on
    non-negative pooled spikes (it fired and reset, or got 0)."""
    meta = {"spikelite.layer": name, "spikelite.maxpool": True}
    area = float(np.prod(k))
    pad = np.zeros(2, dtype=np.int64)
    if target is None:
        return {key: nir.SumPool2d(kernel_size=k, stride=s, padding=pad, metadata=meta),
                f"{key}_threshold": nir.Threshold(threshold=np.full(out_shape, 0.5),
                                                  metadata=dict(meta))}
    if target.pool == "sum":
        pool, theta = nir.SumPool2d(kernel_size=k, stride=s, padding=pad, metadata=meta), 0.5
    else:
        pool = nir.AvgPool2d(kernel_size=k, stride=s, padding=pad, metadata=meta)
        theta = 0.5 / area
    full = lambda v: np.full(out_shape, v, dtype=np.float64)  # noqa: E731
    nmeta = {**meta, "spikelite.reset": "zero", "spikelite.strict_threshold": False}
    if target.pool_neuron == "if":
        neuron = nir.IF(r=full(1.0 / dt), v_threshold=full(theta), v_reset=full(0.0),
                        metadata=nmeta)
    else:
        neuron = nir.LIF(tau=full(dt), r=full(1.0), v_leak=full(0.0), v_threshold=full(theta),
                         v_reset=full(0.0), metadata=nmeta)
    return {key: pool, f"{key}_or": neuron}


def _avgpools_as_sumpools(nir: Any, nodes: OrderedDict[str, Any]) -> None:
    """For importers without ``AvgPool2d`` (Norse): each average pool becomes a
    ``SumPool2d`` and its ``1/area`` moves into the weights of the conv/linear it feeds
    (through a ``Flatten``) — the same function, as that layer is linear."""
    keys = list(nodes)
    for i, key in enumerate(keys):
        node = nodes[key]
        if type(node).__name__ != "AvgPool2d" or (node.metadata or {}).get("spikelite.maxpool"):
            continue
        j = i + 1
        while j < len(keys) and type(nodes[keys[j]]).__name__ == "Flatten":
            j += 1
        nxt = nodes[keys[j]] if j < len(keys) else None
        if type(nxt).__name__ not in ("Affine", "Linear", "Conv2d"):
            raise SpikeliteError(f"layer '{node.metadata.get('spikelite.layer', key)}': an "
                                 "average pool not followed by a conv/linear has no node "
                                 "this peer loads (it maps SumPool2d, not AvgPool2d)")
        area = float(np.prod(node.kernel_size))
        nxt.weight = (nxt.weight / area).astype(np.float32)
        nxt.metadata["spikelite.input_scale"] = 1.0 / area
        nodes[key] = nir.SumPool2d(kernel_size=node.kernel_size, stride=node.stride,
                                   padding=node.padding,
                                   metadata={**node.metadata, "spikelite.avgpool": True})


def _fold_lif_gains(nir: Any, nodes: Mapping[str, Any]) -> None:
    """Move each β-form LIF's input gain ``r = 1/(1 − β)`` into the weights before it."""
    keys = list(nodes)
    for i, key in enumerate(keys):
        node = nodes[key]
        if type(node).__name__ != "LIF" or node.metadata.get("spikelite.form") != "beta":
            continue
        prev = nodes[keys[i - 1]]
        if type(prev).__name__ not in ("Affine", "Linear", "Conv2d"):
            raise SpikeliteError(f"lif_gain='weights': neuron '{key}' does not follow a "
                                 "conv/linear layer whose weights could take its input gain")
        r = np.asarray(node.r, dtype=np.float64)
        per_c = r.reshape(r.shape[0], -1)
        if not np.allclose(per_c, per_c[:, :1]):
            raise SpikeliteError(f"lif_gain='weights': neuron '{key}' has a leak that varies "
                                 "within a channel; export with lif_gain='r'")
        g = per_c[:, 0]
        prev.weight = (prev.weight * g.reshape(-1, *([1] * (prev.weight.ndim - 1)))).astype(
            np.float32)
        if getattr(prev, "bias", None) is not None:
            prev.bias = (prev.bias * g).astype(np.float32)
        prev.metadata["spikelite.input_gain"] = g.astype(np.float64)
        node.r = np.ones_like(r)
        node.metadata["spikelite.lif_gain"] = "weights"


def write_nir(graph: Any, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` (HDF5, NIR's format); the folder is created."""
    nir = _nir()
    path = Path(path)
    check_output_dir(path.parent)
    buf = io.BytesIO()  # HDF5 is built in memory: a full disk never fails inside h5py
    try:
        nir.write(buf, graph)
    except (OSError, TypeError, ValueError) as exc:
        raise SpikeliteError(f"cannot write the NIR file '{path}': {exc}") from None
    write_atomic({path: buf.getvalue()})  # never a half-written file under any name
    return path


def check_roundtrip(model: nn.Module, path: str | Path, *, time_steps: int = 8,
                    batch: int = 4, rate: float = 0.2, seed: int = 0) -> float:
    """Read ``path`` back with :func:`from_nir` and run both models on the same random
    binary input; returns the share of output values that agree (1.0 = identical; BN
    folding can move a membrane across the threshold by a rounding error)."""
    nir = _nir()
    try:
        graph = nir.read(str(path))
    except OSError as exc:
        raise SpikeliteError(f"cannot read the NIR file '{path}': {exc}") from None
    back = from_nir(graph).eval()
    shape = tuple(int(v) for v in np.asarray(graph.nodes[_chain(graph)[0]].input_type["input"]))
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(time_steps, batch, *shape, generator=g) < rate).float()
    from spikelite.core.neurons import reset_states

    model = on_cpu(model)
    was = model.training
    model.eval()
    reset_states(model)
    with torch.no_grad():
        ref = model(x)
        got = back(x)
    model.train(was)
    if ref.shape != got.shape:
        raise SpikeliteError(f"the NIR graph read back gives outputs of shape "
                             f"{tuple(got.shape)}, the model {tuple(ref.shape)}")
    return float(torch.isclose(ref, got, rtol=1e-4, atol=1e-5).float().mean())


@EXPORT_TARGETS.register("nir")
@dataclass(frozen=True)
class NirTarget(ExportTarget):
    """``--to nir``: a NIR graph file (:func:`to_nir`, :func:`write_nir`)."""

    name: ClassVar[str] = "nir"
    description: ClassVar[str] = "a NIR graph file"
    suffix: ClassVar[str] = ".nir"
    extra: ClassVar[str | None] = "nir"

    def export(self, plain: nn.Module, sidecars: Mapping[str, LayerQuant], path: Path, *,
               source: Mapping[str, Any] | None = None, dt: float = DEFAULT_DT,
               lif_gain: str | None = None, allow_reset_mismatch: bool = False,
               peer: str | None = None) -> str:
        """:func:`to_nir` + :func:`write_nir`; the source's dataset goes into the graph
        metadata (``spikelite.data``, read back by :func:`read_nir_for_profile`). With
        ``peer`` (installed), the written file is then loaded there and compared."""
        data = (source or {}).get("data")
        meta = {"spikelite.data": json.dumps(data)} if data else {}
        graph = to_nir(plain, dt=dt, sidecars=sidecars,
                       allow_reset_mismatch=allow_reset_mismatch, metadata=meta,
                       lif_gain=lif_gain, peer=peer)
        write_nir(graph, path)
        msg = f"wrote {path} ({len(graph.nodes)} nodes, dt={dt:g})"
        return msg if peer is None else f"{msg}; {peer_load_summary(plain, path, peer, dt)}"

    def notes(self, plain: nn.Module, *, dt: float = DEFAULT_DT, lif_gain: str | None = None,
              allow_reset_mismatch: bool = False, peer: str | None = None,
              **_: Any) -> list[str]:
        """:func:`spikelite.export.peers.export_notes` on the graph about to be written."""
        graph = to_nir(plain, dt=dt, allow_reset_mismatch=allow_reset_mismatch,
                       lif_gain=lif_gain, peer=peer)
        return export_notes(graph, dt, peer)

    def check(self, plain: nn.Module, path: Path) -> float:
        return check_roundtrip(plain, path)


def peer_load_summary(model: nn.Module, path: str | Path, peer: str, dt: float, *,
                      time_steps: int = 8, batch: int = 4, seed: int = 0) -> str:
    """Load the file at ``path`` in ``peer`` and compare it with ``model`` on random spikes:
    one line for the CLI (``"loads in snnTorch 1.0.0: outputs equal, batched"``)."""
    target = get_peer(peer)
    if not target.installed():
        return f"{target.label} is not installed here: its load was not checked"
    graph = _nir().read(str(path))
    shape = tuple(int(v) for v in np.asarray(graph.nodes[_chain(graph)[0]].input_type["input"]))
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(time_steps, batch, *shape, generator=g) < 0.2).float()
    res = check_in_peer(on_cpu(model), graph, peer, x, dt=dt)
    where = f"{target.label} {target.version()}"
    if not res.loads:
        return f"does NOT load in {where}: {res.error}"
    if not res.equal:
        return f"loads in {where} but its outputs differ ({res.cell()})"
    return f"loads in {where}: outputs equal" + (", batched" if res.batched
                                                 else " (one sample at a time)")
