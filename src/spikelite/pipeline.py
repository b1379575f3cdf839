"""Deprecated: the compression schedules moved to :mod:`spikelite.compress`
(``run_schedule``/``ScheduleConfig`` in :mod:`spikelite.compress.schaefer`,
``run_qpsnn``/``QPSNNConfig`` in :mod:`spikelite.compress.qpsnn`, the steps in
:mod:`spikelite.compress.steps`)."""

from spikelite._deprecation import moved

_MOVED = {
    "ScheduleConfig": ("spikelite.compress.schaefer", "ScheduleConfig"),
    "ScheduleRecord": ("spikelite.compress.schaefer", "ScheduleRecord"),
    "run_schedule": ("spikelite.compress.schaefer", "run_schedule"),
    "SCHEDULES": ("spikelite.compress.schaefer", "SCHAEFER_SCHEDULES"),
    "QPSNNConfig": ("spikelite.compress.qpsnn", "QPSNNConfig"),
    "QP_ORDERS": ("spikelite.compress.qpsnn", "QP_ORDERS"),
    "run_qpsnn": ("spikelite.compress.qpsnn", "run_qpsnn"),
    "pruned_fraction": ("spikelite.compress.steps", "pruned_fraction"),
}

__getattr__ = moved(__name__, _MOVED)
