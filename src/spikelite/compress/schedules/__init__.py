"""The registry of compression schedules (one file each); see :mod:`.base`."""

from spikelite.compress.schedules import (  # noqa: F401  (each module registers itself)
    baseline,
    cumulative,
    finetune,
    isolation,
    joint,
    pq,
    ptq,
    qat,
    qp,
)
from spikelite.compress.schedules.base import (
    SCHEDULES,
    RunContext,
    Schedule,
    accepting_regularizer,
)

__all__ = ["SCHEDULES", "RunContext", "Schedule", "accepting_regularizer"]
