"""``bake``: parametrized (fake-quant, masked) model → plain weights + integer sidecars."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikelite.core.synaptic import (
    WeightMask,
    strip_weight_parametrizations,
    synaptic_layers,
    weight_parametrizations,
)
from spikelite.errors import SpikeliteError
from spikelite.quant.baked import LayerQuant
from spikelite.quant.parametrize import FakeQuant


@torch.no_grad()
def _sidecar(name: str, module: nn.Module) -> LayerQuant:
    plist = weight_parametrizations(module)
    weight = module.weight
    bias = getattr(module, "bias", None)
    lq = LayerQuant(
        name=name,
        weight_shape=tuple(weight.shape),
        bias_bits=32 if isinstance(bias, torch.Tensor) else None,
    )
    if not plist:
        return lq
    unknown = [type(p).__name__ for p in plist if not isinstance(p, (FakeQuant, WeightMask))]
    if unknown:
        raise SpikeliteError(
            f"layer '{name}' has parametrizations bake() does not know: {unknown}"
        )
    fqs = [p for p in plist if isinstance(p, FakeQuant)]
    masks = [p for p in plist if isinstance(p, WeightMask)]
    if len(fqs) > 1:
        raise SpikeliteError(f"layer '{name}' has {len(fqs)} quantizers; expected at most one")
    mask = None
    for m in masks:
        mask = m.mask.clone() if mask is None else mask & m.mask
    lq.mask = mask
    if not fqs:
        return lq
    fq = fqs[0]
    x = module.parametrizations.weight.original  # type: ignore[union-attr]
    for p in plist:  # the quantizer's input: the latent weight through the masks before it
        if p is fq:
            break
        x = p(x)
    codes, scale, zero_point = fq.codes(x)
    lq.scheme, lq.bits, lq.levels = fq.scheme_name, fq.bits, fq.levels
    lq.codes, lq.scale, lq.zero_point = codes.to(torch.int32), scale.detach(), float(zero_point)
    if mask is not None:
        before = plist.index(fq) > min(plist.index(m) for m in masks)
        after = plist.index(fq) < max(plist.index(m) for m in masks)
        if before and after:
            raise SpikeliteError(
                f"layer '{name}' has masks both before and after its quantizer; use one order"
            )
        lq.mask_order = "before_quant" if before else "after_quant"
    deployed = lq.dequantize()
    if not torch.equal(deployed, weight):
        err = float((deployed - weight).abs().max())
        raise SpikeliteError(
            f"bake: the codes of layer '{name}' do not reproduce its forward weight "
            f"(max error {err:.3g}); the quantizer '{fq.scheme_name}' is inconsistent"
        )
    return lq


def bake(model: nn.Module) -> tuple[nn.Module, dict[str, LayerQuant]]:
    """Return ``(plain, sidecars)``: a copy of ``model`` whose synaptic layers hold their
    deployed weights as plain tensors (parametrizations removed), and per layer a
    :class:`LayerQuant` with the integer codes, scale, zero point, bits, level count and
    mask. ``sidecar.dequantize()`` equals the weight of the fake-quantized forward exactly
    (checked here for every layer). ``model`` itself is not changed.
    """
    plain = copy.deepcopy(model)
    sidecars: dict[str, LayerQuant] = {}
    for name, module in synaptic_layers(plain):
        sidecars[name] = _sidecar(name, module)
        if parametrize.is_parametrized(module, "weight"):
            with torch.no_grad():
                deployed = module.weight
            strip_weight_parametrizations(module, deployed)
    return plain, sidecars
