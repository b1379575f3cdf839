"""Deprecated: the compression schedules moved to :mod:`spikelite.compress`
(``run_schedule``/``ScheduleConfig`` in :mod:`spikelite.compress.schaefer`,
``run_qpsnn``/``QPSNNConfig`` in :mod:`spikelite.compress.qpsnn`, the steps in
:mod:`spikelite.compress.steps`)."""

from spikelite._deprecated import alias_module

_MOVED = {
    "ScheduleConfig": "spikelite.compress.schaefer",
    "ScheduleRecord": "spikelite.compress.schaefer",
    "run_schedule": "spikelite.compress.schaefer",
    "SCHEDULES": "spikelite.compress.schaefer:SCHAEFER_SCHEDULES",
    "QPSNNConfig": "spikelite.compress.qpsnn",
    "QP_ORDERS": "spikelite.compress.qpsnn",
    "run_qpsnn": "spikelite.compress.qpsnn",
    "pruned_fraction": "spikelite.compress.steps",
}

__getattr__ = alias_module(__name__, _MOVED)
