"""Data: event formats, binning, the saccade DVS simulator, spike encoders and datasets.

Entry point: :func:`load` (``load("digits-dvs", time_steps=10)`` → ``(train, test)``).
"""

from spikelite.data.base import (
    EncodedDataset,
    EventFileDataset,
    FrameDataset,
    SpikeDataset,
    time_major_collate,
)
from spikelite.data.datasets import DATASETS, list_datasets, load
from spikelite.data.encoding import ENCODERS, direct, encode, latency, rate
from spikelite.data.events import (
    EVENT_DTYPE,
    NMNIST_SENSOR_SIZE,
    make_events,
    to_frames,
    to_frames_by_count,
)
from spikelite.data.formats.nmnist import (
    list_nmnist_tree,
    read_nmnist_bin,
    read_nmnist_tree,
    write_nmnist_bin,
    write_nmnist_tree,
)
from spikelite.data.simulator import SaccadeConfig, simulate_saccades

__all__ = [
    "DATASETS",
    "ENCODERS",
    "EVENT_DTYPE",
    "NMNIST_SENSOR_SIZE",
    "EncodedDataset",
    "EventFileDataset",
    "FrameDataset",
    "SaccadeConfig",
    "SpikeDataset",
    "direct",
    "encode",
    "latency",
    "list_datasets",
    "list_nmnist_tree",
    "load",
    "make_events",
    "rate",
    "read_nmnist_bin",
    "read_nmnist_tree",
    "simulate_saccades",
    "time_major_collate",
    "to_frames",
    "to_frames_by_count",
    "write_nmnist_bin",
    "write_nmnist_tree",
]
