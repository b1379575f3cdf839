"""``pq`` (QP-SNN's ablation): channel pruning of the full-precision net → fine-tuning →
quantization → quantized fine-tuning."""

from __future__ import annotations

from spikelite.compress.schedules._qpsnn import QPSNNSchedule
from spikelite.compress.schedules.base import SCHEDULES


@SCHEDULES.register("pq")
class PQ(QPSNNSchedule):
    summary = "prune channels first, fine-tune, then quantize and fine-tune"
