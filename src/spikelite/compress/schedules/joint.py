"""``joint`` (Schaefer et al.): the mask from the pretrained weights and the quantizer
are both active from the first fine-tuning epoch (``mask ⊙ Q(W)``)."""

from __future__ import annotations

from spikelite.compress.schedules._schaefer import SchaeferSchedule
from spikelite.compress.schedules.base import SCHEDULES


@SCHEDULES.register("joint")
class Joint(SchaeferSchedule):
    summary = "mask and quantizer together from the first epoch (mask ⊙ Q(W))"
