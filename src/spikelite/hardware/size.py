"""Deployed model size (``../shared/energy.md`` §5.4, §5.7; ``papers.md`` §1.7, §1.14a).

Two conventions:

* ``"deployed"`` (default): what a chip stores, in bits, per layer and component —
  weights in the chosen format (payload and metadata apart, :mod:`~.formats`), scales
  (``scale_bits`` each, one per tensor or per output channel) and a non-zero zero point,
  biases at their ``bias_bits``, BatchNorm as a per-channel scale and shift
  (``param_bits`` each, its running statistics folded in), neuron parameters
  (``param_bits`` per stored value) and neuron state (``state_bits`` per neuron), plus
  any other parameter at ``param_bits``. Structured pruning shows up as smaller shapes;
  unstructured zeros only shrink a sparse format.
* ``"qpsnn"`` (QP-SNN Eq. 16): ``M = Σ P_q·B_q + Σ P_fp·32`` over the parameters, with
  quantized weights (a sidecar with codes or ``bits < 32``) at their bits and everything
  else — the first conv and last FC when left unquantized, BN affine parameters, biases —
  at 32 bits; buffers and neuron state are not counted; ``MB = 10⁶`` bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from spikelite.core import LIF
from spikelite.core.synaptic import SYNAPTIC_TYPES
from spikelite.errors import SpikeliteError
from spikelite.hardware.formats import WeightFormat, get_format
from spikelite.hardware.layers import _NORM, SynapticSpec, _sidecar_for, classify
from spikelite.quant import LayerQuant

CONVENTIONS = ("deployed", "qpsnn")


@dataclass
class SizeRow:
    """Bits of one module by component."""

    name: str
    role: str
    bits: dict[str, float]

    @property
    def total_bits(self) -> float:
        return sum(self.bits.values())


@dataclass
class SizeReport:
    """Model size under one convention; ``mb`` uses MB = 10⁶ bytes."""

    convention: str
    weight_format: str
    rows: list[SizeRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_bits(self) -> float:
        return sum(r.total_bits for r in self.rows)

    @property
    def bytes(self) -> float:
        return self.total_bits / 8

    @property
    def mb(self) -> float:
        return self.bytes / 1e6

    def by_component(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in self.rows:
            for k, v in r.bits.items():
                out[k] = out.get(k, 0.0) + v
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "convention": self.convention,
            "weight_format": self.weight_format,
            "total_bits": self.total_bits,
            "bytes": self.bytes,
            "MB": self.mb,
            "by_component_bits": self.by_component(),
            "layers": [{"name": r.name, "role": r.role, "bits": r.bits} for r in self.rows],
            "notes": list(self.notes),
        }


def layer_storage(spec: SynapticSpec, fmt: WeightFormat, scale_bits: int = 32) -> dict[str, float]:
    """Deployed bits of one synaptic layer: payload, metadata, scales, bias."""
    fc = spec.fiber_cost(fmt)
    scales = spec.n_scales * scale_bits + (scale_bits if spec.zero_point != 0 else 0)
    return {
        "weights": fc.payload_bits,
        "metadata": fc.metadata_bits,
        "scales": float(scales),
        "bias": float(spec.bias_numel * spec.bias_bits),
    }


def neuron_counts(model: nn.Module, input_shape: Sequence[int] | None = None) -> dict[str, int]:
    """Neurons per sample of every spikelite neuron layer, from one zero-input step.

    ``input_shape`` (per step, without T and B) defaults to ``model.input_shape``; a model
    with a fixed ``time_steps`` gets that many steps.
    """
    shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None:
        return {}
    T = int(getattr(model, "time_steps", None) or 1)
    found: dict[str, int] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, LIF):
            handles.append(m.register_forward_hook(
                lambda _m, a, _o, name=name: found.__setitem__(
                    name, int(torch.Size(a[0].shape[2:]).numel()))))
    was = model.training
    model.eval()
    try:
        dev = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.no_grad():
            model(torch.zeros((T, 1, *shape), device=dev))
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return found


def _neuron_param_values(m: nn.Module) -> int:
    return sum(int(t.numel()) for t in (*m.parameters(recurse=False), *m.buffers(recurse=False)))


def model_size(
    model: nn.Module,
    layers: Mapping[str, LayerQuant] | None = None,
    *,
    convention: str = "deployed",
    weight_format: str | WeightFormat = "dense",
    state_bits: int = 16,
    scale_bits: int = 32,
    param_bits: int = 32,
    neurons: Mapping[str, int] | None = None,
    input_shape: Sequence[int] | None = None,
) -> SizeReport:
    """Model size under ``convention`` (``"deployed"`` or ``"qpsnn"``; module docstring).

    ``layers``: sidecars by module name (bits, codes, masks); without one a layer is FP32
    with its actual non-zeros. ``neurons``: neurons per sample of each neuron layer
    (default: measured with one zero-input step when the model has an ``input_shape``).
    """
    if convention not in CONVENTIONS:
        raise SpikeliteError(f"convention must be one of {', '.join(CONVENTIONS)}, "
                             f"got {convention!r}")
    fmt = get_format(weight_format)
    if convention == "qpsnn":
        return _qpsnn(model, layers)
    cl = classify(model, layers)
    rep = SizeReport("deployed", repr(fmt))
    counts = dict(neurons) if neurons is not None else neuron_counts(model, input_shape)
    covered: set[int] = set()
    for name, m in model.named_modules():
        if name in cl.synaptic:
            spec = cl.synaptic[name]
            rep.rows.append(SizeRow(name, "synaptic", layer_storage(spec, fmt, scale_bits)))
            covered.update(id(p) for p in (m.weight, getattr(m, "bias", None)) if p is not None)
        elif isinstance(m, _NORM):
            n = sum(p.numel() for p in m.parameters(recurse=False))
            covered.update(id(p) for p in m.parameters(recurse=False))
            if n:
                rep.rows.append(SizeRow(name, "norm", {"params": float(n * param_bits)}))
        elif name in cl.neurons:
            covered.update(id(p) for p in m.parameters(recurse=False))
            bits = {"params": float(_neuron_param_values(m) * param_bits)}
            if name in counts:
                bits["state"] = float(counts[name] * state_bits)
            rep.rows.append(SizeRow(name, "neuron", bits))
    missing = [nm for nm in cl.neurons if nm not in counts]
    if missing:
        rep.notes.append(f"neuron state not counted for {missing} (no input shape to measure "
                         "the neuron count; pass neurons= or input_shape=)")
    other = sum(p.numel() for p in model.parameters() if id(p) not in covered)
    if other:
        rep.rows.append(SizeRow("(other parameters)", "other",
                                {"params": float(other * param_bits)}))
    return rep


def _qpsnn(model: nn.Module, layers: Mapping[str, LayerQuant] | None) -> SizeReport:
    """QP-SNN Eq. 16: bits from the sidecars only (no masks needed), everything else FP32."""
    rep = SizeReport("qpsnn", "dense")
    layers = dict(layers or {})
    used: set[str] = set()
    by_param: dict[int, int] = {}
    for name, m in model.named_modules():
        if not isinstance(m, SYNAPTIC_TYPES):
            continue
        lq = _sidecar_for(name, layers, used)
        if lq is None:
            continue
        if tuple(lq.weight_shape) != tuple(m.weight.shape):
            raise SpikeliteError(f"sidecar '{lq.name}' has weight_shape {tuple(lq.weight_shape)}"
                                 f" but layer '{name}' has {tuple(m.weight.shape)}")
        if lq.codes is not None or int(lq.bits) < 32:
            by_param[id(m.weight)] = int(lq.bits)
        if getattr(m, "bias", None) is not None and lq.bias_bits:
            by_param[id(m.bias)] = int(lq.bias_bits)
    unused = sorted(set(layers) - used)
    if unused:
        raise SpikeliteError(f"sidecars {unused} name no Linear/Conv layer of the model")
    for name, m in model.named_modules():
        bits: dict[str, float] = {}
        for p in m.parameters(recurse=False):
            b = by_param.get(id(p), 32)
            key = "quantized" if b < 32 else "fp32"
            bits[key] = bits.get(key, 0.0) + float(p.numel() * b)
        if bits:
            kind = "synaptic" if isinstance(m, SYNAPTIC_TYPES) else "other"
            rep.rows.append(SizeRow(name, kind, bits))
    return rep
