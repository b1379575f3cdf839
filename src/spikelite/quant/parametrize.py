"""Fake quantization as a ``torch.nn.utils.parametrize`` parametrization.

``FakeQuant(scheme, bits, weight)`` holds one quantizer of :data:`QUANTIZERS` and its state
(learnable clip/scale/step as ``nn.Parameter``s, calibrated scales as buffers), initialised
from the weight when quantization starts. Its forward is the scheme's straight-through
fake quantization; :meth:`FakeQuant.codes` gives the integer codes whose dequantization
equals that forward bit for bit (what :func:`spikelite.quant.bake` stores).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spikelite.quant.functional import get_quantizer


class FakeQuant(nn.Module):
    """Parametrization ``W ↦ Q_b(W)`` for a registered quantizer ``scheme`` at ``bits``."""

    def __init__(self, scheme: str, bits: int, weight: torch.Tensor, **options: Any) -> None:
        super().__init__()
        self.scheme_name = str(scheme).lower()
        self.options = dict(options)
        self.scheme = get_quantizer(self.scheme_name, **self.options)
        self.scheme.check_bits(bits)
        self.bits = int(bits)
        self._names: list[str] = []
        self.init_from(weight)

    def init_from(self, weight: torch.Tensor) -> None:
        """(Re-)initialise the scheme's state from ``weight`` (quantization start / PTQ)."""
        params = self.scheme.init_params(weight.detach(), self.bits)
        learnable = set(self.scheme.learnable_params)
        for key, value in params.items():
            value = value.detach().clone()
            if key in self._names:
                if key in learnable:
                    getattr(self, key).data.copy_(value)
                else:
                    setattr(self, key, value)
                continue
            if key in learnable:
                self.register_parameter(key, nn.Parameter(value))
            else:
                self.register_buffer(key, value)
            self._names.append(key)

    def params(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k) for k in self._names}

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.scheme.fake(w, self.params(), self.bits)

    @torch.no_grad()
    def codes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """``(codes int32, scale, zero_point)`` with ``scale·(codes − zero_point) = Q(w)``."""
        return self.scheme.codes(w, self.params(), self.bits)

    @property
    def levels(self) -> int:
        return int(self.scheme.levels(self.bits))

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable description (scheme, bits, options) to rebuild this quantizer."""
        return {"scheme": self.scheme_name, "bits": self.bits, **self.options}

    def extra_repr(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"scheme={self.scheme_name}, bits={self.bits}{opts}"
