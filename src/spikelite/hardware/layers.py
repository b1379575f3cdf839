"""Static description of a model for the cost model: synaptic layers, neurons, the rest.

* A **synaptic layer** is a leaf ``nn.Linear``/``nn.Conv1d``/``nn.Conv2d``/``nn.Conv3d``
  (:data:`~spikelite.core.synaptic.SYNAPTIC_TYPES`).
  Its :class:`SynapticSpec` holds the deployed bit width, the exact non-zero mask and the
  fiber view of that mask (see :mod:`spikelite.hardware.formats`). With a
  :class:`~spikelite.quant.LayerQuant` sidecar the bits come from it and the non-zeros
  from its codes and mask (``dequantize(weight) != 0``); without one the layer is FP32 and
  its non-zeros are the weight's actual non-zeros, so a plain pruned model still counts
  exactly.
* A **neuron layer** is a spikelite :class:`~spikelite.core.LIF` (or ``IF``).
* Everything else is classified by :func:`classify`: known stateless layers (pooling,
  normalisation, dropout, reshapes, and blocks declaring a parameter-free trait of
  :mod:`spikelite.core.traits`), ``nn.ReLU`` (an ANN activation: its comparisons are not
  costed, noted), containers, composites declaring a trait with uncosted arithmetic
  (attention, coupled residual blocks: noted), and **uncounted** modules — unknown leaf
  layers and anything stateful that is not a spikelite neuron — which reports list by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from spikelite._deprecation import moved
from spikelite.core import LIF, Flatten, MeanOverTime, TimeDistributed
from spikelite.core.synaptic import SYNAPTIC_TYPES
from spikelite.core.traits import (
    AttentionBlock,
    CoupledResidualBlock,
    DropoutLayer,
    ReadoutPool,
    ZeroPadShortcut,
)
from spikelite.errors import SpikeliteError
from spikelite.hardware.formats import FiberCost, WeightFormat
from spikelite.quant import LayerQuant

__getattr__ = moved(__name__, {"SYNAPTIC": ("spikelite.core.synaptic", "SYNAPTIC_TYPES")})

_POOL = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)
_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)
_SHAPE = (nn.Flatten, nn.Unflatten, nn.Identity, Flatten, MeanOverTime, nn.Dropout,
          nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict, TimeDistributed)


#: blocks that declare a trait without costed arithmetic (see :mod:`spikelite.core.traits`)
_NOOP_TRAITS = (ZeroPadShortcut, DropoutLayer, ReadoutPool)


def _uncosted_note(m: nn.Module) -> str | None:
    """What a composite block with a declared trait computes that the model does not cost."""
    if isinstance(m, AttentionBlock):
        return m.cost_note
    if isinstance(m, CoupledResidualBlock):
        return "the residual addition is costed only with the cost option residual=count"
    return None


@dataclass
class SynapticSpec:
    """One synaptic layer as deployed.

    ``mask``: ``bool`` of the weight's shape (``True`` = non-zero deployed weight).
    ``fibers``: ``bool [n_fibers, F]`` (one fiber per input channel/feature).
    ``float32``: an unquantized full-precision layer (float arithmetic where the preset
    has float energies).
    """

    name: str
    module: nn.Module
    kind: str
    bits: int
    float32: bool
    mask: torch.Tensor
    fibers: torch.Tensor
    groups: int = 1
    n_scales: int = 0
    zero_point: float = 0.0
    bias_numel: int = 0
    bias_bits: int = 0
    sidecar: LayerQuant | None = None
    #: name of a BatchNorm right after this layer (folded into its bias in deployment)
    batchnorm: str | None = None

    @property
    def zero_needs_mask(self) -> bool:
        """Whether a zero weight of this layer has no code of its own (a grid without zero,
        e.g. a half-integer zero point) while the layer does have zero weights."""
        lq = self.sidecar
        if lq is None or lq.codes is None:
            return False
        zp = float(lq.zero_point)
        return zp != round(zp) and not bool(self.mask.all())

    def fiber_cost(self, fmt: WeightFormat) -> FiberCost:
        """``fmt.cost`` of this layer's fibers, plus a 1-bit mask per stored weight when
        zeros are stored as values but the grid has no zero (:attr:`zero_needs_mask`)."""
        fc = fmt.cost(self.fibers, self.bits)
        if not self.zero_needs_mask:
            return fc
        extra = fmt.zero_mask_bits(self.fibers)
        return replace(fc, metadata=fc.metadata + extra) if bool(extra.any()) else fc

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return tuple(self.mask.shape)

    @property
    def numel(self) -> int:
        return self.mask.numel()

    @property
    def nnz(self) -> int:
        return int(self.mask.sum())

    @property
    def fan_in(self) -> int:
        """Inputs per output neuron (``C_in/g · Πk`` or ``in_features``)."""
        return self.numel // self.mask.shape[0]

    @property
    def is_linear(self) -> bool:
        return self.kind == "linear"


def fibers_of(mask: torch.Tensor, is_linear: bool, groups: int = 1) -> torch.Tensor:
    """The fiber view ``[n_inputs, F]`` of a weight mask (see :mod:`~.formats`)."""
    if is_linear:
        return mask.t().contiguous()
    c_out, c_in_g = mask.shape[:2]
    k = mask.shape[2:]
    m = mask.reshape(groups, c_out // groups, c_in_g, *k)
    m = m.movedim(2, 1)  # [g, c_in_g, c_out_g, *k]
    return m.reshape(groups * c_in_g, -1).contiguous()


def _sidecar_for(
    name: str, layers: Mapping[str, LayerQuant] | None, used: set[str]
) -> LayerQuant | None:
    if not layers:
        return None
    for key in (name, name.removesuffix(".module")):
        if key in layers:
            used.add(key)
            return layers[key]
    return None


def synaptic_spec(name: str, module: nn.Module, lq: LayerQuant | None) -> SynapticSpec:
    """Build the :class:`SynapticSpec` of ``module`` with optional sidecar ``lq``."""
    w = module.weight.detach()
    kind = "linear" if isinstance(module, nn.Linear) else type(module).__name__.lower()
    groups = int(getattr(module, "groups", 1))
    bias = getattr(module, "bias", None)
    bias_numel = 0 if bias is None else bias.numel()
    if lq is None:
        mask = w != 0
        return SynapticSpec(
            name, module, kind, 32, True, mask.cpu(), fibers_of(mask.cpu(), kind == "linear",
                                                                groups),
            groups, 0, 0.0, bias_numel, 32 if bias_numel else 0, None,
        )
    if tuple(lq.weight_shape) != tuple(w.shape):
        raise SpikeliteError(
            f"sidecar '{lq.name}' has weight_shape {tuple(lq.weight_shape)} but layer '{name}' "
            f"has {tuple(w.shape)}; pass the sidecars that bake() returned for this model"
        )
    if lq.codes is not None:
        mask = lq.dequantize(w.cpu()) != 0
    else:
        mask = w.cpu() != 0
        if lq.mask is not None:
            mask = mask & lq.mask.cpu().bool()
    quantized = lq.codes is not None or int(lq.bits) < 32
    n_scales = 0 if lq.scale is None else int(torch.as_tensor(lq.scale).numel())
    if quantized and n_scales == 0:
        n_scales = 1
    bias_bits = (lq.bias_bits or 32) if bias_numel else 0
    return SynapticSpec(
        name, module, kind, int(lq.bits), not quantized, mask, fibers_of(mask, kind == "linear",
                                                                         groups),
        groups, n_scales, float(lq.zero_point), bias_numel, bias_bits, lq,
    )


@dataclass
class Classified:
    """What :func:`classify` found (names in ``model.named_modules()`` order)."""

    synaptic: dict[str, SynapticSpec] = field(default_factory=dict)
    neurons: dict[str, nn.Module] = field(default_factory=dict)
    uncounted: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _attach_batchnorms(model: nn.Module, out: Classified) -> None:
    """Mark each synaptic layer directly followed (in module order) by a BatchNorm over its
    output channels, and note that the BN's arithmetic is costed only when folded."""
    last: SynapticSpec | None = None
    for name, m in model.named_modules():
        if name in out.synaptic:
            last = out.synaptic[name]
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            if last is not None and last.weight_shape[0] == m.num_features \
                    and last.batchnorm is None:
                last.batchnorm = name
                out.notes.append(
                    f"{name} ({type(m).__name__}): folds into {last.name}'s bias in "
                    "deployment; its arithmetic is costed only with the cost option "
                    "batchnorm=fold")
            else:
                out.notes.append(f"{name} ({type(m).__name__}): follows no conv/linear "
                                 "layer it could fold into; its arithmetic is not costed")
            last = None
        elif isinstance(m, LIF):
            last = None


def _is_graph_container(m: nn.Module) -> bool:
    """A ``torch.fx.GraphModule`` or a :class:`~spikelite.core.FoldedTime` wrapper."""
    from torch.fx import GraphModule

    from spikelite.core.layers import FoldedTime

    return isinstance(m, (GraphModule, FoldedTime))


def _is_stateful(m: nn.Module) -> str | None:
    if isinstance(m, (nn.RNNBase, nn.RNNCellBase)):
        return "recurrent layer"
    if callable(getattr(m, "reset", None)) or hasattr(m, "mem") or hasattr(m, "state"):
        return "stateful (has reset()/mem/state)"
    return None


def classify(model: nn.Module, layers: Mapping[str, LayerQuant] | None = None) -> Classified:
    """Sort every module of ``model``; unknown leaves and unknown stateful modules are
    listed in ``uncounted`` with the reason (never silently counted as zero)."""
    out = Classified()
    used: set[str] = set()
    for name, m in model.named_modules():
        label = name or "(model)"
        if isinstance(m, SYNAPTIC_TYPES):
            out.synaptic[name] = synaptic_spec(name, m, _sidecar_for(name, layers, used))
        elif isinstance(m, LIF):
            out.neurons[name] = m
            if getattr(m, "residual_input", False) and ".lif2" not in f".{name}":
                out.notes.append(f"{label}: fed by a residual sum; the additions are costed "
                                 "only with the cost option residual=count")
        elif isinstance(m, (*_POOL, *_NORM, *_SHAPE, *_NOOP_TRAITS)):
            continue
        elif type(m) is nn.ReLU:
            out.notes.append(f"{label} (ReLU): one comparison per output, not costed")
        elif (note := _uncosted_note(m)) is not None:
            out.notes.append(f"{label} ({type(m).__name__}): {note}")
        elif isinstance(m, _CONTAINERS) or type(m) is nn.Module or _is_graph_container(m):
            continue  # plain containers (also the sub-modules torch.fx copies)
        elif (why := _is_stateful(m)) is not None:
            out.uncounted.append({"name": label, "type": type(m).__name__, "reason": why})
        elif not any(True for _ in m.children()):
            if any(True for _ in m.parameters(recurse=False)):
                why = "unknown layer with parameters: its operations are not counted"
            else:
                why = "unknown layer: its operations are not counted"
            out.uncounted.append({"name": label, "type": type(m).__name__, "reason": why})
        elif name:
            out.notes.append(
                f"{label} ({type(m).__name__}): unknown container; only its child layers are "
                "counted"
            )
    _attach_batchnorms(model, out)
    if layers:
        unused = sorted(set(layers) - used)
        if unused:
            raise SpikeliteError(
                f"sidecars {unused} name no Linear/Conv layer of the model; synaptic layers: "
                f"{', '.join(out.synaptic) or 'none'}"
            )
    return out
