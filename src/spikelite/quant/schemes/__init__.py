"""The registered weight quantizers (importing this package registers them all)."""

from spikelite.quant.schemes.base import QUANTIZERS, QuantScheme, dequantize
from spikelite.quant.schemes.baselines import LSQ, Binary, Symmetric, Ternary
from spikelite.quant.schemes.duq import DuQ
from spikelite.quant.schemes.qpsnn import ReScaW, Uniform

__all__ = [
    "LSQ",
    "QUANTIZERS",
    "Binary",
    "DuQ",
    "QuantScheme",
    "ReScaW",
    "Symmetric",
    "Ternary",
    "Uniform",
    "dequantize",
]
