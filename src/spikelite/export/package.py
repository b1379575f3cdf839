"""Integer deployment package: integer weights, per-channel gains folded into thresholds.

What a chip toolchain (or a C/FPGA implementation) needs from a quantized SNN is the integer
weights and a small amount of per-channel arithmetic — not fake-quant floats. For every
synaptic layer with integer weights ``Q`` (``d·(codes − zero_point)``, masked; ``d = 2`` when
the zero point is a half-integer, as on QP-SNN's uniform grid, else 1) the package stores
``Q`` and folds the rest — the quantizer scale ``α_c``, the bias ``b_c`` and a following
BatchNorm — into a signed per-output-channel gain and an offset::

    I_c = g_c · (Q ⊛ x)_c + m_c,   g_c = γ_c/σ_c · α_c/d,   m_c = γ_c/σ_c · (b_c − μ_c) + β_c

which equals the float layer exactly in real arithmetic. A spiking neuron behind it runs in
*accumulator units* (its state divided by ``k_c = |g_c|``): with ``s_c = sign(g_c)``,

    h'_c = β_c · v'_c + s_c · (Q ⊛ x)_c + m_c / k_c,   spike when h'_c ≥ θ_c / k_c,

and reset to ``v_reset_c / k_c`` (zero reset) or by ``θ_c / k_c`` (subtractive) — the LIF
equations are linear in (v, I, θ, v_reset), so dividing by ``k_c > 0`` changes nothing (the
τ-form likewise). With binary spikes (or integer event counts) in, the accumulation is
integer-only; the gain disappears into the threshold. A channel whose gain is 0 gets
``s_c = 0``, ``k_c = 1``. A synaptic layer not followed by a neuron (the read-out) keeps
``g_c`` and ``m_c`` as floats. Full-precision layers are stored as float weights
(``integer: false``).

Files: ``manifest.json`` (layers in order, shapes, bits, neuron parameters, the equations)
and ``tensors.safetensors`` (``<layer>.weight`` as int8/int16/int32 or float32,
``<layer>.sign``, ``<layer>.gain``, ``<layer>.offset``, neurons' ``threshold``, ``v_reset``,
``leak`` in accumulator units; float64). :func:`run_package` simulates a package
(float64) so that it can be checked against the model it came from.
"""

from __future__ import annotations

import json
import shutil
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.core.converted import PrechargedLIF
from spikelite.errors import SpikeliteError, check_output_dir
from spikelite.export.chain import (
    FlattenStep,
    NeuronStep,
    PoolStep,
    SynapseStep,
    on_cpu,
    walk_chain,
)
from spikelite.export.targets import EXPORT_TARGETS, ExportTarget, write_atomic
from spikelite.quant import LayerQuant

FORMAT = "spikelite-integer-package"
VERSION = 1


def _int_dtype(q: torch.Tensor) -> torch.dtype:
    lo, hi = (int(q.min()), int(q.max())) if q.numel() else (0, 0)
    for dt in (torch.int8, torch.int16, torch.int32):
        info = torch.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return dt
    raise SpikeliteError(f"integer weights in [{lo}, {hi}] do not fit in int32")


def _integer_weight(side: LayerQuant | None) -> tuple[torch.Tensor, torch.Tensor, int] | None:
    """``(Q, α_c/d per output channel, d)`` with ``Q`` integer, or ``None`` (float layer)."""
    if side is None or side.codes is None or side.scale is None:
        return None
    zp = float(side.zero_point)
    d = 1 if zp == round(zp) else 2
    if d == 2 and 2 * zp != round(2 * zp):
        raise SpikeliteError(f"{side.name}: zero point {zp} is neither an integer nor a "
                             "half-integer; no integer form")
    q = torch.round(d * (side.codes.detach().cpu().to(torch.float64) - zp))
    if side.mask is not None and side.mask_order == "after_quant":
        q = q * side.mask.cpu().to(q.dtype)
    c = side.weight_shape[0]
    scale = side.scale.detach().cpu().to(torch.float64)
    per_c = scale.reshape(-1) if scale.numel() == c else scale.reshape(()).expand(c)
    return q.to(torch.int64), per_c / d, d


def pack_bits(values: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned ``values`` < 2**bits, each in ``bits`` bits, LSB first, as ``uint8`` bytes
    (``⌈numel·bits/8⌉`` of them)."""
    v = values.reshape(-1).to(torch.int64).numpy()
    planes = ((v[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    return torch.from_numpy(np.packbits(planes, bitorder="little"))


def unpack_bits(packed: torch.Tensor, bits: int, numel: int) -> torch.Tensor:
    """The inverse of :func:`pack_bits`: ``numel`` unsigned ``int64`` values."""
    planes = np.unpackbits(packed.numpy(), bitorder="little")[: numel * bits]
    v = (planes.reshape(numel, bits).astype(np.int64) << np.arange(bits)).sum(1)
    return torch.from_numpy(v)


def _packed_codes(side: LayerQuant) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Bit-packed codes of a baked layer (dense storage at its bit width) and, when the
    zero point is not a code (a pruned weight has no code of its own), a 1-bit mask plane."""
    codes = side.codes.detach().cpu().to(torch.int64)
    bits, zp = int(side.bits), float(side.zero_point)
    mask = None if side.mask is None or side.mask_order != "after_quant" else \
        side.mask.detach().cpu().bool()
    if mask is not None and zp == round(zp):
        codes = torch.where(mask, codes, torch.full_like(codes, int(zp)))  # zero = a code
        mask = None
    offset = -(2 ** (bits - 1)) if int(codes.min()) < 0 else 0
    stored = codes - offset
    if int(stored.min()) < 0 or int(stored.max()) >= 2 ** bits:
        raise SpikeliteError(f"{side.name}: codes in [{int(codes.min())}, {int(codes.max())}] "
                             f"do not fit {bits} bits")
    out = {"codes_packed": pack_bits(stored, bits)}
    info: dict[str, Any] = {"code_offset": offset, "mask_bits": 0}
    if mask is not None:
        out["mask_packed"] = pack_bits(mask.to(torch.int64), 1)
        info["mask_bits"] = int(mask.numel())
    return out, info


def _per_channel(t: torch.Tensor | float, c: int, name: str, what: str) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=torch.float64).detach()
    if t.dim() == 0:
        return t.expand(c).clone()
    if t.dim() == 1 and t.numel() == c:
        return t.clone()
    raise SpikeliteError(f"layer '{name}': per-neuron {what} of shape {tuple(t.shape)} has "
                         "no per-channel integer form; use per-channel or scalar values")


def _refuse(name: str, m: nn.Module, spikes_in: bool) -> None:
    """The package's own refusals (see :func:`spikelite.export.chain.walk_chain`)."""
    if isinstance(m, LIF) and m.state_bits is not None:
        raise SpikeliteError(
            f"layer '{name}': fixed-point membranes (state_bits) are not exported "
            "to the integer package yet (their grid would differ per channel in "
            "accumulator units)")


def export_package(model: nn.Module, sidecars: Mapping[str, LayerQuant], out: str | Path, *,
                   input_shape: Sequence[int] | None = None,
                   extra: Mapping[str, Any] | None = None,
                   pack: bool = False) -> dict[str, Any]:
    """Write ``model`` (baked: ``plain, sidecars = bake(model)``) as an integer package in
    the folder ``out``; returns the manifest. See the module docstring for the format.
    ``pack``: store quantized weights as their codes bit-packed at their bit width
    (``<layer>.codes_packed``, plus ``<layer>.mask_packed`` when a pruned weight has no
    code of its own) instead of int8/16/32 containers."""
    from safetensors.torch import save

    chain = walk_chain(model, input_shape, label="integer-package export", refuse=_refuse)
    chain.model.eval()
    tensors: dict[str, torch.Tensor] = {}
    entries: list[dict[str, Any]] = []
    for step in chain.steps:
        name, m, key = step.name, step.module, step.key
        if isinstance(step, SynapseStep):
            bn_s, offset = step.gain_offset(torch.float64)
            ints = _integer_weight(sidecars.get(name))
            entry: dict[str, Any] = {"name": key, "module": name, "type": step.kind,
                                     "weight_shape": list(m.weight.shape),
                                     "folded_batchnorm": step.bn_name}
            if ints is not None:
                q, alpha, d = ints
                side = sidecars[name]
                g = bn_s * alpha
                w_store: torch.Tensor | None = q.to(_int_dtype(q))
                entry.update(integer=True, scheme=side.scheme, bits=int(side.bits),
                             zero_point=float(side.zero_point), level_step=d,
                             packed_weight_bits=int(q.numel()) * int(side.bits),
                             dtype=str(w_store.dtype).removeprefix("torch."))
                if pack:
                    packed, info = _packed_codes(side)
                    tensors.update({f"{key}.{k}": v for k, v in packed.items()})
                    entry.update(packed=True, **info)
                    w_store = None
            else:
                g = bn_s.clone()
                w_store = m.weight.detach().float()
                entry.update(integer=False, bits=32,
                             packed_weight_bits=int(w_store.numel()) * 32, dtype="float32")
            if step.kind == "conv2d":
                entry.update(stride=list(m.stride), padding=list(m.padding),
                             dilation=list(m.dilation), groups=int(m.groups))
            if w_store is not None:
                tensors[f"{key}.weight"] = w_store.contiguous()
            tensors[f"{key}.gain"] = g.contiguous()
            tensors[f"{key}.offset"] = offset.contiguous()
            entry["feeds_neuron"] = step.feeds_neuron
            entries.append(entry)
        elif isinstance(step, NeuronStep):
            c = step.in_shape[0]
            neuron = step.module
            if step.synapse is not None:  # the neuron runs in its synapse's accumulator units
                syn = step.synapse.key
                g = tensors[f"{syn}.gain"]
                sign = torch.sign(g)
                k = torch.where(g == 0, torch.ones_like(g), g.abs())
                tensors[f"{syn}.sign"] = sign.to(torch.int8)
                tensors[f"{syn}.offset_acc"] = (tensors[f"{syn}.offset"] / k).contiguous()
            else:
                k = torch.ones(c, dtype=torch.float64)
            if neuron.form not in ("beta", "tau") or not getattr(neuron, "decay_input", True) \
                    or any(getattr(neuron, a, None) is not None for a in ("v_leak", "v_start")) \
                    or getattr(neuron, "reset_timing", "immediate") != "immediate":
                raise SpikeliteError(
                    f"layer '{name}': the package's LIF equations (lif_beta, lif_tau) cannot "
                    "express this neuron's peer-exact settings (form, decay_input, v_leak, "
                    "v_start or reset_timing); build it with the defaults to export")
            theta = _per_channel(neuron.threshold, c, name, "thresholds")
            v_reset = _per_channel(neuron.v_reset, c, name, "reset values")
            leak = _per_channel(neuron.leak if neuron.form == "tau" else neuron.beta, c, name,
                                "leaks")
            tensors[f"{key}.threshold"] = (theta / k).contiguous()
            tensors[f"{key}.v_reset"] = (v_reset / k).contiguous()
            tensors[f"{key}.leak"] = leak.contiguous()
            entries.append({"name": key, "module": name, "type": "lif", "form": neuron.form,
                            "reset": neuron.reset_mode, "strict_threshold": bool(neuron.strict),
                            "neurons": list(step.in_shape),
                            # initial membrane as a fraction of θ (converted SNNs: 0.5)
                            "v_init": float(getattr(neuron, "v_init", 0.0))})
        elif isinstance(step, PoolStep):
            entries.append({"name": key, "module": name,
                            "type": "maxpool2d" if step.kind == "max" else "avgpool2d",
                            "kernel_size": _two(m.kernel_size),
                            "stride": _two(m.stride or m.kernel_size),
                            "padding": _two(m.padding)})
        elif isinstance(step, FlattenStep):
            entries.append({"name": key, "module": name, "type": "flatten"})
        else:  # pragma: no cover - walk_chain yields only the steps above
            raise SpikeliteError(f"internal: unexpected export step {type(step).__name__}")
    manifest = {
        "format": FORMAT, "version": VERSION, "input_shape": list(chain.input_shape),
        "output_shape": list(chain.output_shape), "layers": entries,
        "packed_weight_bits": sum(e.get("packed_weight_bits", 0) for e in entries),
        "equations": {
            "synaptic": "I_c = gain_c * (W (*) x)_c + offset_c",
            "neuron_input": "I'_c = sign_c * (W (*) x)_c + offset_acc_c   (accumulator units)",
            "lif_beta": "h = leak*v + I'; spike if h >= threshold (> if strict); "
                        "zero reset: v = v_reset, subtract: v = h - threshold",
            "lif_tau": "h = v + (I' - (v - v_reset)) / leak",
        },
        **dict(extra or {}),
    }
    out = Path(out)
    created = not out.exists()
    check_output_dir(out)
    try:  # each file through a temporary name; a failure leaves no new folder behind
        write_atomic({out / "tensors.safetensors": save(tensors),
                      out / "manifest.json": json.dumps(manifest, indent=1).encode()})
    except SpikeliteError:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return manifest


def _two(v: int | Sequence[int]) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(a) for a in v]


def load_package(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(manifest, tensors)`` of a package folder (safetensors: no code is unpickled)."""
    from safetensors.torch import load_file

    path = Path(path)
    mf = path / "manifest.json"
    if not mf.is_file() or not (path / "tensors.safetensors").is_file():
        raise SpikeliteError(f"'{path}' is not an integer package (manifest.json and "
                             "tensors.safetensors expected); write one with "
                             "`spikelite export CKPT --to package --out DIR`")
    manifest = json.loads(mf.read_text())
    if manifest.get("format") != FORMAT or int(manifest.get("version", 0)) > VERSION:
        raise SpikeliteError(f"'{path}' holds format {manifest.get('format')!r} version "
                             f"{manifest.get('version')}; this spikelite reads {FORMAT} "
                             f"version ≤ {VERSION}")
    return manifest, load_file(str(path / "tensors.safetensors"))


def _weight(e: dict[str, Any], t: dict[str, torch.Tensor]) -> torch.Tensor:
    """A layer's stored weight: the integer ``Q`` (unpacked when packed) or float weights."""
    n = e["name"]
    if not e.get("packed"):
        return t[f"{n}.weight"]
    shape, bits = e["weight_shape"], int(e["bits"])
    numel = int(np.prod(shape))
    codes = unpack_bits(t[f"{n}.codes_packed"], bits, numel) + int(e["code_offset"])
    q = torch.round(float(e["level_step"]) * (codes.double() - float(e["zero_point"])))
    if e.get("mask_bits"):
        q = q * unpack_bits(t[f"{n}.mask_packed"], 1, numel).double()
    return q.reshape(shape)


class _Synapse(nn.Module):
    """``sign·(W ⊛ x) + offset_acc`` before a neuron, ``gain·(W ⊛ x) + offset`` otherwise."""

    def __init__(self, e: dict[str, Any], t: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.e = e
        n = e["name"]
        self.register_buffer("w", _weight(e, t).to(torch.float64))
        if e["feeds_neuron"]:
            self.register_buffer("mul", t[f"{n}.sign"].to(torch.float64))
            self.register_buffer("add", t[f"{n}.offset_acc"])
        else:
            self.register_buffer("mul", t[f"{n}.gain"])
            self.register_buffer("add", t[f"{n}.offset"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.e
        if e["type"] == "conv2d":
            acc = nn.functional.conv2d(x, self.w, None, e["stride"], e["padding"],
                                       e["dilation"], e["groups"])
            view = (1, -1, 1, 1)
        else:
            acc = nn.functional.linear(x, self.w)
            view = (1, -1)
        return acc * self.mul.view(view) + self.add.view(view)


def package_model(path: str | Path) -> nn.Sequential:
    """A float64 time-major model that computes exactly what the package describes (the
    synaptic accumulation on the stored weights, neurons in accumulator units)."""
    manifest, t = load_package(path)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for e in manifest["layers"]:
        n, kind = e["name"], e["type"]
        if kind in ("linear", "conv2d"):
            layers[n] = TimeDistributed(_Synapse(e, t))
        elif kind == "lif":
            per = {k: t[f"{n}.{k}"] for k in ("threshold", "v_reset", "leak")}  # [C]
            leak = {"tau": per["leak"]} if e["form"] == "tau" else {"beta": per["leak"]}
            layers[n] = PrechargedLIF(**leak, threshold=per["threshold"],
                                      v_reset=per["v_reset"], reset=e["reset"],
                                      strict=e["strict_threshold"], fused=False,
                                      v_init=float(e.get("v_init", 0.0)))
        elif kind == "maxpool2d":
            layers[n] = TimeDistributed(nn.MaxPool2d(e["kernel_size"], e["stride"],
                                                     e["padding"]))
        elif kind == "avgpool2d":
            layers[n] = TimeDistributed(nn.AvgPool2d(e["kernel_size"], e["stride"],
                                                     e["padding"]))
        elif kind == "flatten":
            layers[n] = Flatten()
        else:
            raise SpikeliteError(f"package layer '{n}' has unknown type {kind!r}")
    return nn.Sequential(layers).double().eval()


def run_package(path: str | Path, x: torch.Tensor) -> torch.Tensor:
    """Simulate the package on time-major input ``[T, B, ...]`` (float64) → ``[T, B, ...]``."""
    from spikelite.core.neurons import reset_states

    model = package_model(path)
    reset_states(model)
    with torch.no_grad():
        return model(x.to(torch.float64))


def check_package(model: nn.Module, path: str | Path, *, time_steps: int = 8, batch: int = 4,
                  rate: float = 0.2, seed: int = 0) -> float:
    """Share of output values on which the package (:func:`run_package`) and ``model``
    agree (``isclose``, rtol 1e-4) on the same random binary input; 1.0 = identical."""
    from spikelite.core.neurons import reset_states

    manifest, _ = load_package(path)
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(time_steps, batch, *manifest["input_shape"], generator=g) < rate).float()
    model = on_cpu(model)
    was = model.training
    model.eval()
    reset_states(model)
    with torch.no_grad():
        ref = model(x).double()
    model.train(was)
    got = run_package(path, x)
    if ref.shape != got.shape:
        raise SpikeliteError(f"the package gives outputs of shape {tuple(got.shape)}, the "
                             f"model {tuple(ref.shape)}")
    return float(torch.isclose(ref, got, rtol=1e-4, atol=1e-5).float().mean())


@EXPORT_TARGETS.register("package")
@dataclass(frozen=True)
class PackageTarget(ExportTarget):
    """``--to package``: an integer deployment package folder (:func:`export_package`)."""

    name: ClassVar[str] = "package"
    description: ClassVar[str] = ("integer weights + per-channel gains folded into "
                                  "thresholds")
    suffix: ClassVar[str] = ""  # a folder: manifest.json + tensors.safetensors
    extra: ClassVar[str | None] = None

    def export(self, plain: nn.Module, sidecars: Mapping[str, LayerQuant], path: Path, *,
               source: Mapping[str, Any] | None = None, pack: bool = False) -> str:
        """:func:`export_package`; the source goes into the manifest (``source``)."""
        extra = {"source": dict(source)} if source is not None else None
        manifest = export_package(plain, sidecars, path, pack=pack, extra=extra)
        kb = manifest["packed_weight_bits"] / 8 / 1024
        return (f"wrote {path}/manifest.json and tensors.safetensors "
                f"({len(manifest['layers'])} layers; weights {kb:.1f} KiB at their bit "
                "widths)")

    def check(self, plain: nn.Module, path: Path) -> float:
        return check_package(plain, path)
