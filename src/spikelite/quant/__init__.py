"""Weight and state quantization: quantizers, parametrizations, quantize_, bake."""

from spikelite.quant.baked import LayerQuant

__all__ = ["LayerQuant"]
