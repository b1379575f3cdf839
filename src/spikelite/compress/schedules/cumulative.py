"""``cumulative`` (Schaefer et al.): prune → fine-tune in full precision (``prune_epochs``)
→ quantize → fine-tune the rest with the LR schedule restarted."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:

    from spikelite.compress.spec import CompressionSpec
    from spikelite.train.config import FinetuneSpec

from spikelite.compress.schedules._schaefer import SchaeferSchedule
from spikelite.compress.schedules.base import SCHEDULES


@SCHEDULES.register("cumulative")
class Cumulative(SchaeferSchedule):
    summary = "prune, fine-tune, then quantize and fine-tune again"

    @classmethod
    def validate(cls, spec: CompressionSpec, finetune: FinetuneSpec | None) -> None:
        if not spec.channel and not (spec.quantizes and spec.prunes):
            raise ValueError("schedule 'cumulative' needs both pruning and a quantizer")
        super().validate(spec, finetune)
