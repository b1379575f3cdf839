"""Weight and state quantization: quantizers, fake-quant parametrizations, quantize_, bake.

Layering (math < parametrization < model transform < bake):
:mod:`~spikelite.quant.functional` (pure quantizers with straight-through estimators) →
:class:`~spikelite.quant.parametrize.FakeQuant` → :func:`quantize_` / :func:`calibrate_`
/ :func:`quantize_state_` → :func:`bake` (plain weights + :class:`LayerQuant` sidecars).
"""

from spikelite.core.synaptic import synaptic_layers
from spikelite.quant.apply import (
    apply_quant_spec_,
    calibrate_,
    dequantize_,
    fake_quant_of,
    quant_spec,
    quantize_,
    quantize_state_,
)
from spikelite.quant.bake import bake
from spikelite.quant.baked import LayerQuant
from spikelite.quant.functional import QUANTIZERS, get_quantizer
from spikelite.quant.parametrize import FakeQuant

__all__ = [
    "QUANTIZERS", "FakeQuant", "LayerQuant", "apply_quant_spec_", "bake", "calibrate_",
    "dequantize_", "fake_quant_of", "get_quantizer", "quant_spec", "quantize_",
    "quantize_state_", "synaptic_layers",
]
