"""The baked form of a compressed layer: plain weights plus an exact integer sidecar.

This is the contract between compression (quantization, pruning) and everything that
reads a compressed model: the hardware cost model, exporters, outside tools. A layer's
deployed weight is

    W = scale · (codes − zero_point)            (quantized; ``codes`` are integers)
    W = mask ⊙ (scale · (codes − zero_point))   when ``mask_order == "after_quant"``

and, with ``mask_order == "before_quant"`` (``Q(mask ⊙ W)``), the codes already encode
the masked weights (for a quantizer without a zero level, pruned weights are *not* zero).
A full-precision layer has ``bits = 32`` and no codes; a pruned full-precision layer
has only a mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

MaskOrder = Literal["after_quant", "before_quant"]


@dataclass
class LayerQuant:
    """Sidecar of one synaptic layer (``nn.Conv*`` / ``nn.Linear``) after :func:`bake`.

    * ``name``: the layer's name in ``model.named_modules()``.
    * ``weight_shape``: the weight's shape (output channels first).
    * ``scheme``: quantizer name (``uniform``, ``rescaw``, ``duq``, …) or ``None`` (FP32).
    * ``bits``: bit width of one stored weight (32 for full precision).
    * ``codes``: ``int32`` tensor of ``weight_shape`` or ``None``.
    * ``scale``: tensor broadcastable to ``weight_shape`` (0-dim per tensor; ``[C, 1, ...]``
      per output channel) or ``None``.
    * ``zero_point``: float (may be a half-integer: QP-SNN's uniform grid has no zero).
    * ``levels``: number of distinct representable values per scale (e.g. 2**b, 2**b − 1,
      3 for ternary).
    * ``mask``: ``bool`` tensor of ``weight_shape`` (``True`` = kept) or ``None`` (dense).
    * ``mask_order``: how the mask composes with the quantizer (see the module docstring).
    * ``bias_bits``: bit width of the stored bias (32, or ``None`` without bias).
    """

    name: str
    weight_shape: tuple[int, ...]
    scheme: str | None = None
    bits: int = 32
    codes: torch.Tensor | None = None
    scale: torch.Tensor | None = None
    zero_point: float = 0.0
    levels: int | None = None
    mask: torch.Tensor | None = None
    mask_order: MaskOrder | None = None
    bias_bits: int | None = None

    def dequantize(self, fp_weight: torch.Tensor | None = None) -> torch.Tensor:
        """The exact weight the layer computes with (``fp_weight`` for FP32 layers)."""
        if self.codes is None:
            if fp_weight is None:
                raise ValueError(f"{self.name}: full-precision layer; pass its weight")
            w = fp_weight
        else:
            if self.scale is None:
                raise ValueError(f"{self.name}: codes without a scale")
            w = self.scale * (self.codes.to(self.scale.dtype) - self.zero_point)
        if self.mask is not None and (self.codes is None or self.mask_order == "after_quant"):
            w = w * self.mask.to(w.dtype)
        return w

    def nonzero(self, fp_weight: torch.Tensor | None = None) -> int:
        """Number of non-zero deployed weights (exact, from codes and mask)."""
        return int((self.dequantize(fp_weight) != 0).sum())
