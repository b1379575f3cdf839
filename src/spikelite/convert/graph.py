"""ANN → SNN conversion of non-sequential ReLU networks (residual blocks) via ``torch.fx``.

The ANN is traced, Conv/Linear+BatchNorm pairs are fused (eval statistics), and every *call* of a
ReLU — a module (also one module called several times, as torchvision's ResNet blocks
do) or ``torch.relu``/``F.relu`` — becomes its own :class:`ConvertedIF` with
``θ = λ / s`` from the calibration data (Rueckauer et al. 2017), where ``s`` is the
*scale* of the signal reaching it (the activation value one unit stands for). Scales
propagate through the graph:

* the input has ``s = 1``; Conv/Linear scale their weights by their input's ``s`` and emit
  ``s = 1``; an IF emits spikes with ``s = λ``; pooling, flatten, reshapes and dropout keep
  ``s``;
* an addition of signals with different scales (a residual shortcut carrying spikes of
  scale ``λ_a`` and a conv output of scale 1) multiplies each input by its scale first, so
  the sum is in real units (``s = 1``) — the spikes on the shortcut become graded inputs of
  the next neuron, as in converted ResNets (Hu et al. 2018; Sengupta et al. 2019).

The SNN runs every stateless operation on folded ``[T·B, ...]`` tensors (so the ANN's own
``forward`` code — additions, ``torch.flatten(x, 1)``, ``x.view(x.size(0), -1)`` — works
unchanged) and each IF on ``[T, B, ...]`` through :class:`~spikelite.core.FoldedTime`.
Max-pooling, other activations and operations without a rate-coded equivalent are refused
with the node's name.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Iterable
from typing import Any

import torch
from torch import fx, nn

from spikelite.convert._layers import POOLS, WEIGHTED, _unsupported
from spikelite.convert.convert import (
    ActivationStats,
    Coding,
    SimulationMixin,
    ThresholdMethod,
    _batches,
    _check_method,
    _scale_inputs,
)
from spikelite.core.batchnorm import BATCHNORMS
from spikelite.core.converted import ConvertedIF
from spikelite.core.layers import FoldedTime
from spikelite.core.neurons import check_time_major
from spikelite.core.synaptic import CONV_TYPES
from spikelite.errors import SpikeliteError

_RELU_FNS = (torch.relu, nn.functional.relu, torch.nn.functional.relu)
_ADD_FNS = (operator.add, torch.add)
_PASS_FNS = (torch.flatten, operator.getitem, getattr)
_PASS_METHODS = ("view", "reshape", "flatten", "size", "contiguous", "squeeze", "unsqueeze")
_PASS_MODULES = (nn.Flatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Identity,
                 *POOLS)


def _trace(ann: nn.Module) -> fx.GraphModule:
    """Trace a copy of ``ann`` and fuse each Conv→BatchNorm (Linear→BatchNorm1d) pair."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    model = copy.deepcopy(ann).eval()
    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many types for untraceable code
        raise SpikeliteError(
            f"cannot trace {type(ann).__name__} with torch.fx for conversion ({exc}); "
            "data-dependent control flow in forward() cannot be converted") from None
    for node in list(gm.graph.nodes):
        if node.op != "call_module":
            continue
        bn = gm.get_submodule(str(node.target))
        src = node.args[0] if node.args else None
        if not isinstance(bn, BATCHNORMS) or \
                not isinstance(src, fx.Node) or src.op != "call_module" or len(src.users) != 1:
            continue
        layer = gm.get_submodule(str(src.target))
        if isinstance(layer, CONV_TYPES):
            fused = fuse_conv_bn_eval(layer, bn)
        elif isinstance(layer, nn.Linear) and isinstance(bn, nn.BatchNorm1d):
            fused = fuse_linear_bn_eval(layer, bn)
        else:
            continue
        parent, _, leaf = str(src.target).rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, leaf, fused)
        node.replace_all_uses_with(src)
        gm.graph.erase_node(node)
    gm.recompile()
    return gm


def _is_relu(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return type(gm.get_submodule(str(node.target))) is nn.ReLU
    if node.op in ("call_function", "call_method"):
        return node.target in _RELU_FNS or node.target == "relu"
    return False


def _check_nodes(gm: fx.GraphModule) -> None:
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "output", "get_attr") or _is_relu(gm, node):
            continue
        if node.op == "call_module":
            m = gm.get_submodule(str(node.target))
            if isinstance(m, (*WEIGHTED, *_PASS_MODULES)):
                continue
            if isinstance(m, BATCHNORMS):
                raise SpikeliteError(
                    f"node '{node.name}' ({type(m).__name__}) does not directly follow a "
                    "conv/linear, so it cannot be folded; put each BatchNorm right after its "
                    "conv or linear layer")
            raise _unsupported(str(node.target), m)
        if node.op == "call_function" and node.target in (*_ADD_FNS, *_PASS_FNS):
            continue
        if node.op == "call_method" and node.target in (*_PASS_METHODS, "add"):
            continue
        what = getattr(node.target, "__name__", str(node.target))
        raise SpikeliteError(
            f"cannot convert node '{node.name}' ({node.op} {what}) to a spiking network: "
            "supported are Conv/Linear (+ BatchNorm), ReLU, average pooling, flatten/reshape "
            "and additions (residual shortcuts)")


class _Recorder(fx.Interpreter):
    """Runs the traced ANN and keeps each ReLU node's activation statistics."""

    def __init__(self, gm: fx.GraphModule, stats: dict[str, ActivationStats]) -> None:
        super().__init__(gm)
        self.stats = stats

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        if n.name in self.stats and isinstance(out, torch.Tensor):
            self.stats[n.name].add(out)
        return out


def _calibrate_graph(gm: fx.GraphModule, relus: list[str], data: torch.Tensor | Iterable,
                     method: str, percentile: float,
                     granularity: str) -> dict[str, float | torch.Tensor]:
    stats = {n: ActivationStats(method, percentile, granularity == "channel") for n in relus}
    rec = _Recorder(gm, stats)
    param = next(gm.parameters(), None)
    with torch.no_grad():
        for xb in _batches(data):
            rec.run(xb if param is None else xb.to(param.device, param.dtype))
    return {n: st.value() for n, st in stats.items()}


class ConvertedGraphSNN(SimulationMixin, nn.Module):
    """SNN from :func:`ann_to_snn_graph`: ``[T, B, ...] → [T, B, out]``. ``graph_module``
    holds the converted graph (on ``[T·B, ...]``); ``thresholds`` maps each ReLU node to its
    ``λ``, ``neuron_names`` the IF modules to those nodes."""

    def __init__(self, graph_module: fx.GraphModule) -> None:
        super().__init__()
        self.graph_module = graph_module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_time_major(x, "ConvertedGraphSNN")
        T, B = x.shape[:2]
        for m in self.graph_module.modules():
            if isinstance(m, FoldedTime):
                m.time_steps = T
        y = self.graph_module(x.reshape(T * B, *x.shape[2:]))
        return y.reshape(T, B, *y.shape[1:])


def _channel_mul(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``x [N, C, ...] · s [C]`` (per-channel scale of spikes before an addition)."""
    return x * s.view(1, -1, *([1] * (x.dim() - 2)))


def _is_one(s: float | torch.Tensor) -> bool:
    return not isinstance(s, torch.Tensor) and s == 1.0


def ann_to_snn_graph(
    ann: nn.Module,
    calibration_data: torch.Tensor | Iterable,
    *,
    threshold: ThresholdMethod = "percentile",
    percentile: float = 99.9,
    time_steps: int = 100,
    coding: Coding = "direct",
    v_init: float = 0.5,
    granularity: str = "layer",
) -> ConvertedGraphSNN:
    """Convert a traceable ReLU ANN with residual additions into an IF SNN (see the module
    docstring); the arguments mean what they mean in :func:`~spikelite.convert.ann_to_snn`
    (``granularity="channel"``: one threshold per channel, and per-channel scales on the
    shortcuts).
    """
    _check_method(threshold, percentile, granularity)
    gm = _trace(ann)
    _check_nodes(gm)
    relus = [n.name for n in gm.graph.nodes if _is_relu(gm, n)]
    lambdas = _calibrate_graph(gm, relus, calibration_data, threshold, percentile,
                               granularity)
    graph = gm.graph
    scale: dict[fx.Node, float | torch.Tensor] = {}
    neuron_names: dict[str, str] = {}
    done: set[str] = set()
    for node in list(graph.nodes):
        ins = [a for a in node.all_input_nodes]
        s_in = scale.get(ins[0], 1.0) if ins else 1.0
        if node.op == "placeholder":
            scale[node] = 1.0
        elif _is_relu(gm, node):
            key = f"if_{node.name}"
            neuron = ConvertedIF(lambdas[node.name] / s_in, v_init=v_init)
            src = ins[0]
            # a neuron fed by a residual sum: the hardware model can charge the additions
            neuron.residual_input = (src.op == "call_function" and src.target in _ADD_FNS) \
                or (src.op == "call_method" and src.target == "add")
            gm.add_submodule(key, FoldedTime(neuron))
            with graph.inserting_after(node):
                new = graph.call_module(key, (ins[0],))
            node.replace_all_uses_with(new)
            graph.erase_node(node)
            scale[new] = lambdas[node.name]
            neuron_names[f"graph_module.{key}.module"] = node.name
        elif node.op == "call_module" and isinstance(gm.get_submodule(str(node.target)),
                                                     WEIGHTED):
            target = str(node.target)
            if target in done:  # a module called twice would need two scalings
                raise SpikeliteError(f"layer '{target}' is called more than once; conversion "
                                     "scales each weighted layer for one input")
            done.add(target)
            _scale_inputs(gm.get_submodule(target), s_in, target)
            scale[node] = 1.0
        elif (node.op == "call_function" and node.target in _ADD_FNS) or \
                (node.op == "call_method" and node.target == "add"):
            scales = [scale.get(a, 1.0) if isinstance(a, fx.Node) else 1.0 for a in node.args]
            if all(_is_one(s) for s in scales):
                scale[node] = 1.0
                continue
            args = list(node.args)
            with graph.inserting_before(node):
                for i, (a, s) in enumerate(zip(args, scales, strict=True)):
                    if not isinstance(a, fx.Node) or _is_one(s):
                        continue
                    if isinstance(s, torch.Tensor):
                        buf = f"shortcut_scale_{node.name}_{i}"
                        gm.register_buffer(buf, s.detach().clone().float())
                        args[i] = graph.call_function(_channel_mul, (a, graph.get_attr(buf)))
                    else:
                        args[i] = graph.call_function(operator.mul, (a, s))
            node.args = tuple(args)
            scale[node] = 1.0
        elif node.op == "output":
            out = node.args[0]
            scale[node] = scale.get(out, 1.0) if isinstance(out, fx.Node) else 1.0
        else:
            scale[node] = s_in
    graph.lint()
    gm.recompile()
    gm.delete_all_unused_submodules()  # the ANN's ReLU modules, now replaced
    snn = ConvertedGraphSNN(gm)
    snn.thresholds = lambdas
    snn.neuron_names = neuron_names
    out_node = next(n for n in graph.nodes if n.op == "output")
    snn.output_scale = scale[out_node]
    snn.time_steps = int(time_steps)
    snn.coding = coding
    return snn.eval()
