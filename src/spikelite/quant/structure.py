"""Describe and rebuild the compression parametrizations a model carries.

A checkpoint's ``state_dict`` holds the tensors of every parametrization (latent weights,
quantizer parameters, mask buffers) under names that depend on their order, so
``config.json`` records, per synaptic layer, the ordered list of parametrizations::

    {"conv2.module": [{"kind": "quant", "scheme": "duq", "bits": 2}, {"kind": "mask"}]}

:func:`rebuild_` re-creates them (masks as all-ones placeholders whose buffers the state
dict then fills) before the weights are loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikelite.core.synaptic import WeightMask, synaptic_layers, weight_parametrizations
from spikelite.errors import SpikeliteError
from spikelite.quant.parametrize import FakeQuant


def describe(model: nn.Module) -> dict[str, list[dict[str, Any]]]:
    """Ordered parametrizations per synaptic layer (only layers that have any)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, module in synaptic_layers(model):
        items = []
        for p in weight_parametrizations(module):
            if isinstance(p, FakeQuant):
                items.append({"kind": "quant", **p.spec()})
            elif isinstance(p, WeightMask):
                items.append({"kind": "mask"})
            else:
                raise SpikeliteError(
                    f"layer '{name}' has a parametrization spikelite cannot save: "
                    f"{type(p).__name__}"
                )
        if items:
            out[name] = items
    return out


def rebuild_(model: nn.Module, desc: Mapping[str, list[Mapping[str, Any]]]) -> nn.Module:
    """Re-attach the parametrizations of :func:`describe` (placeholders for the state dict)."""
    layers = dict(synaptic_layers(model))
    unknown = sorted(set(desc) - set(layers))
    if unknown:
        raise SpikeliteError(f"the checkpoint describes unknown layers {unknown}")
    for name, items in desc.items():
        module = layers[name]
        for item in items:
            spec = dict(item)
            kind = spec.pop("kind", None)
            if kind == "quant":
                p: nn.Module = FakeQuant(spec.pop("scheme"), spec.pop("bits"), module.weight,
                                         **spec)
            elif kind == "mask":
                p = WeightMask(torch.ones_like(module.weight, dtype=torch.bool))
            else:
                raise SpikeliteError(f"layer '{name}': unknown parametrization kind {kind!r}")
            parametrize.register_parametrization(module, "weight", p)
    return model
