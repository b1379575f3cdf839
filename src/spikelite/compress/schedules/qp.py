"""``qp`` (QP-SNN): quantized training → channel scores on the quantized net → channel
removal → fine-tuning."""

from __future__ import annotations

from spikelite.compress.schedules._qpsnn import QPSNNSchedule
from spikelite.compress.schedules.base import SCHEDULES


@SCHEDULES.register("qp")
class QP(QPSNNSchedule):
    summary = "QP-SNN: quantize and train, then score and remove channels, fine-tune"
