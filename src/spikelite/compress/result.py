"""What a compression run returns: a typed record instead of a dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass
class ChannelPruning:
    """What channel surgery removed (QP-SNN): parameters before/after, the new widths,
    and whether the zoo model can be rebuilt from its config with them."""

    params_before: int
    params_after: int
    widths: Any = None
    rebuildable: bool = True

    @property
    def removed_fraction(self) -> float:
        """Fraction of parameters removed: ``1 − after / before``."""
        return 1.0 - self.params_after / max(self.params_before, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"params_before": self.params_before, "params_after": self.params_after,
                "widths": self.widths, "rebuildable": self.rebuildable}


@dataclass
class CompressionResult:
    """The compressed ``model`` (the same object, changed in place, unless channel surgery
    rebuilt it), its final and best test accuracy, the accuracy right after
    post-training quantization (``ptq``/``qat``), and two distinct pruning fractions:

    * ``masked_fraction``: synaptic weights held at zero by masks (unstructured pruning;
      quantizer zeros not counted);
    * ``removed_fraction``: parameters removed by channel surgery (``1 − after/before``).

    ``stages`` lists every stage with its settings and accuracies (JSON-serialisable)."""

    model: nn.Module
    schedule: str
    accuracy: float
    best_accuracy: float
    stages: list[dict[str, Any]] = field(default_factory=list)
    ptq_accuracy: float | None = None
    masked_fraction: float = 0.0
    removed_fraction: float = 0.0
    pruning: ChannelPruning | None = None

    def record(self) -> dict[str, Any]:
        """The JSON record a checkpoint stores under ``compression``."""
        out: dict[str, Any] = {"schedule": self.schedule, "stages": self.stages,
                               "masked_fraction": self.masked_fraction,
                               "removed_fraction": self.removed_fraction}
        if self.pruning is not None:
            out["pruning"] = self.pruning.to_dict()
        return out
