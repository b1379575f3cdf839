"""``isolation`` (Schaefer et al.): one technique only — quantization (no pruning) or
pruning at 8-bit weights — with fine-tuning."""

from __future__ import annotations

from spikelite.compress.schedules._schaefer import SchaeferSchedule
from spikelite.compress.schedules.base import SCHEDULES


@SCHEDULES.register("isolation")
class Isolation(SchaeferSchedule):
    summary = "one technique: quantization only, or pruning at 8-bit weights"
