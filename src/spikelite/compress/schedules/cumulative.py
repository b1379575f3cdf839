"""``cumulative`` (Schaefer et al.): prune → fine-tune in full precision (``prune_epochs``)
→ quantize → fine-tune the rest with the LR schedule restarted."""

from __future__ import annotations

from spikelite.compress.schedules._schaefer import SchaeferSchedule
from spikelite.compress.schedules.base import SCHEDULES


@SCHEDULES.register("cumulative")
class Cumulative(SchaeferSchedule):
    summary = "prune, fine-tune, then quantize and fine-tune again"

    @classmethod
    def validate(cls, spec, finetune):  # type: ignore[no-untyped-def]
        if not spec.channel and not (spec.quantizes and spec.prunes):
            raise ValueError("schedule 'cumulative' needs both pruning and a quantizer")
        super().validate(spec, finetune)
