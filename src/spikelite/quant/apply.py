"""Model-level quantization transforms: ``quantize_``, ``calibrate_``, ``quantize_state_``.

Which layers: the synaptic layers (``nn.Conv1d/2d/3d``, ``nn.Linear``) in
``named_modules()`` order; BatchNorm and neurons' parameters are never weight-quantized.
QP-SNN keeps the first conv and the last FC in full precision (``skip_first=True,
skip_last=True``); Schaefer et al. quantize every layer (the defaults).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader, Dataset

from spikelite._deprecation import moved
from spikelite.core import synaptic as syn
from spikelite.core.neurons import LIF, reset_states
from spikelite.core.state_quant import check_state_quant
from spikelite.errors import SpikeliteError
from spikelite.quant.parametrize import FakeQuant

__getattr__ = moved(__name__, {
    "SYNAPTIC": ("spikelite.core.synaptic", "SYNAPTIC_TYPES"),
    "synaptic_layers": ("spikelite.core.synaptic", "synaptic_layers"),
    "weight_parametrizations": ("spikelite.core.synaptic", "weight_parametrizations"),
    "strip_weight_parametrizations": ("spikelite.core.synaptic",
                                      "strip_weight_parametrizations"),
})


def fake_quant_of(module: nn.Module) -> FakeQuant | None:
    for p in syn.weight_parametrizations(module):
        if isinstance(p, FakeQuant):
            return p
    return None


def _layer_spec(
    name: str, value: Any, scheme: str, bits: int, options: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Resolve one override: ``None`` (full precision), an int (bits) or a dict."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise SpikeliteError(f"override for layer '{name}' must be bits, a dict or None")
    if isinstance(value, int):
        return {"scheme": scheme, "bits": value, **options}
    if isinstance(value, Mapping):
        spec = {"scheme": scheme, "bits": bits, **options, **value}
        return spec
    raise SpikeliteError(
        f"override for layer '{name}' must be an int (bits), a dict (scheme/bits/options) or "
        f"None (keep full precision); got {value!r}"
    )


def quantize_(
    model: nn.Module,
    scheme: str = "rescaw",
    bits: int = 4,
    *,
    skip_first: bool = False,
    skip_last: bool = False,
    overrides: Mapping[str, Any] | None = None,
    **options: Any,
) -> nn.Module:
    """Attach fake quantizers to the synaptic layers of ``model`` (in place) and return it.

    ``overrides`` maps a layer name (as in ``named_modules()``) to bits, to a dict of
    ``scheme``/``bits``/options, or to ``None`` to keep that layer in full precision.
    Quantizer state (γ, DuQ's a and c, LSQ's step, calibrated scales) is initialised from
    the current weights, so call this on the trained model (QAT fine-tuning or PTQ).
    """
    layers = syn.synaptic_layers(model)
    if not layers:
        raise SpikeliteError("the model has no nn.Conv*/nn.Linear layer to quantize")
    names = [n for n, _ in layers]
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise SpikeliteError(
            f"overrides name unknown layers {unknown}. Synaptic layers: {', '.join(names)}"
        )
    for i, (name, module) in enumerate(layers):
        if name in overrides:
            spec = _layer_spec(name, overrides[name], scheme, bits, options)
        elif (skip_first and i == 0) or (skip_last and i == len(layers) - 1):
            spec = None
        else:
            spec = {"scheme": scheme, "bits": bits, **options}
        if spec is None:
            continue
        if fake_quant_of(module) is not None:
            raise SpikeliteError(
                f"layer '{name}' is already quantized; call spikelite.quant.dequantize_(model) "
                "first to change its quantizer"
            )
        spec = dict(spec)
        fq = FakeQuant(spec.pop("scheme"), spec.pop("bits"), module.weight, **spec)
        parametrize.register_parametrization(module, "weight", fq)
    return model


def dequantize_(model: nn.Module) -> nn.Module:
    """Remove every fake quantizer, restoring the latent full-precision weights."""
    for _, module in syn.synaptic_layers(model):
        plist = syn.weight_parametrizations(module)
        if not any(isinstance(p, FakeQuant) for p in plist):
            continue
        keep = [p for p in plist if not isinstance(p, FakeQuant)]
        latent = module.parametrizations.weight.original  # type: ignore[union-attr]
        syn.strip_weight_parametrizations(module, latent)
        for p in keep:  # masks stay, in their order
            parametrize.register_parametrization(module, "weight", p)
    return model


def quant_spec(model: nn.Module) -> dict[str, dict[str, Any]]:
    """``{layer name: {"scheme", "bits", options…}}`` of the quantized layers (JSON-safe)."""
    return {n: fq.spec() for n, m in syn.synaptic_layers(model) if (fq := fake_quant_of(m))}


def apply_quant_spec_(model: nn.Module, spec: Mapping[str, Mapping[str, Any]]) -> nn.Module:
    """Re-attach quantizers from :func:`quant_spec` (used when loading a checkpoint)."""
    names = {n for n, _ in syn.synaptic_layers(model)}
    missing = sorted(set(spec) - names)
    if missing:
        raise SpikeliteError(f"quantization spec names unknown layers {missing}")
    for name, module in syn.synaptic_layers(model):
        if name in spec:
            s = dict(spec[name])
            fq = FakeQuant(s.pop("scheme"), s.pop("bits"), module.weight, **s)
            parametrize.register_parametrization(module, "weight", fq)
    return model


@torch.no_grad()
def calibrate_(
    model: nn.Module,
    data: Dataset | Iterable[tuple[torch.Tensor, Any]] | None = None,
    *,
    batches: int = 8,
    batch_size: int = 64,
) -> nn.Module:
    """Post-training quantization: re-initialise every quantizer from its weights and,
    given ``data``, re-estimate the BatchNorm running statistics with the quantized
    weights over ``batches`` batches (cumulative average). No gradient step is taken.
    """
    for _, module in syn.synaptic_layers(model):
        fq = fake_quant_of(module)
        if fq is None:
            continue
        latent = module.parametrizations.weight.original  # type: ignore[union-attr]
        x = latent
        for p in syn.weight_parametrizations(module):
            if p is fq:
                break
            x = p(x)
        fq.init_from(x)
    if data is None:
        return model
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    was_training = model.training
    model.eval()
    saved = [(bn, bn.momentum) for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
        bn.train()
    loader = data if not isinstance(data, Dataset) else DataLoader(data, batch_size=batch_size)
    device = next(model.parameters()).device
    for i, (x, _) in enumerate(loader):
        if i >= batches:
            break
        reset_states(model)
        model(x.to(device, torch.float32).transpose(0, 1).contiguous())
    for bn, momentum in saved:
        bn.momentum = momentum
    reset_states(model)
    model.train(was_training)
    return model


def quantize_state_(model: nn.Module, bits: int, state_max: float | None = None) -> nn.Module:
    """Store every LIF/IF membrane in ``bits``-bit fixed point (saturating at ±state_max,
    default 2θ per neuron module). Runs those neurons on the eager path."""
    neurons = [m for m in model.modules() if isinstance(m, LIF)]
    if not neurons:
        raise SpikeliteError("the model has no spikelite LIF/IF neuron to state-quantize")
    for m in neurons:
        vmax = state_max if state_max is not None else 2.0 * float(m.threshold.max())
        check_state_quant(bits, vmax)
        m.state_bits, m.state_max = int(bits), float(vmax)
    return model
