"""Compression: one spec record, a registry of schedules, one entry point.

* :class:`CompressionSpec` — what to do (shared by ``spikelite compress``, recipes and
  search points); :class:`CompressConfig` — the ``spikelite compress`` job file;
* :data:`SCHEDULES` — baseline, finetune, ptq, qat, isolation, joint, cumulative, qp, pq
  (one file each in :mod:`spikelite.compress.schedules`);
* :func:`compress_model` — apply a spec to a trained model → :class:`CompressionResult`;
  :func:`compress_checkpoint` — the job: load, compress, save;
* the steps and library schedules they are built from: :func:`quantize_step`,
  :func:`prune_step`, :func:`pruned_fraction`, :func:`run_schedule` (Schaefer et al.),
  :func:`run_qpsnn` (QP-SNN).
"""

from spikelite.compress.qpsnn import QP_ORDERS, QPSNNConfig, run_qpsnn
from spikelite.compress.result import ChannelPruning, CompressionResult
from spikelite.compress.run import (
    CompressOutcome,
    compress,
    compress_checkpoint,
    compress_model,
)
from spikelite.compress.schaefer import (
    SCHAEFER_SCHEDULES,
    ScheduleConfig,
    ScheduleRecord,
    run_schedule,
)
from spikelite.compress.schedules import SCHEDULES, RunContext, Schedule
from spikelite.compress.spec import (
    CHANNEL_METHODS,
    PRUNE_METHODS,
    UNSTRUCTURED_METHODS,
    CompressConfig,
    CompressionSpec,
    PruneConfig,
    QuantConfig,
)
from spikelite.compress.steps import prune_step, pruned_fraction, quantize_step

__all__ = [
    "CHANNEL_METHODS", "PRUNE_METHODS", "QP_ORDERS", "SCHAEFER_SCHEDULES", "SCHEDULES",
    "UNSTRUCTURED_METHODS", "ChannelPruning", "CompressConfig", "CompressOutcome",
    "CompressionResult", "CompressionSpec", "PruneConfig", "QPSNNConfig", "QuantConfig",
    "RunContext", "Schedule", "ScheduleConfig", "ScheduleRecord", "compress",
    "compress_checkpoint", "compress_model", "prune_step", "pruned_fraction",
    "quantize_step", "run_qpsnn", "run_schedule",
]
