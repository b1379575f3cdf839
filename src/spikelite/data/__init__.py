"""Data: event formats, binning, the saccade DVS simulator, spike encoders and datasets.

Entry point: :func:`load` (``load("digits-dvs", time_steps=10)`` → ``(train, test)``).
"""

from spikelite.data.base import (
    DataWarning,
    EncodedDataset,
    FrameDataset,
    SpikeDataset,
    time_major_collate,
)
from spikelite.data.cifar import CifarDataset
from spikelite.data.cifar10dvs import CIFAR10_CLASSES, list_cifar10dvs, split_cifar10dvs
from spikelite.data.datasets import DATASETS, list_datasets, load
from spikelite.data.encoding import ENCODERS, direct, encode, latency, rate
from spikelite.data.events import (
    EVENT_DTYPE,
    NMNIST_SENSOR_SIZE,
    make_events,
    to_frames,
    to_frames_by_count,
)
from spikelite.data.formats.aedat import (
    decode_aedat2,
    decode_aedat31,
    encode_aedat2,
    read_aedat2,
    read_aedat31,
    write_aedat2,
)
from spikelite.data.formats.cifar10_bin import (
    decode_cifar10_bin,
    encode_cifar10_bin,
    read_cifar10_bin,
)
from spikelite.data.formats.cifar100_bin import (
    decode_cifar100_bin,
    encode_cifar100_bin,
    read_cifar100_bin,
)
from spikelite.data.formats.nmnist import (
    list_nmnist_tree,
    read_nmnist_bin,
    read_nmnist_tree,
    write_nmnist_bin,
    write_nmnist_tree,
)
from spikelite.data.formats.tiny_imagenet import (
    list_tiny_imagenet,
    load_tiny_imagenet,
    read_jpeg,
    write_jpeg,
)
from spikelite.data.framecache import FrameCache
from spikelite.data.gesture import (
    GESTURE_CLASSES,
    find_gesture_layout,
    list_gesture_ibm,
    list_gesture_npy,
    read_gesture_labels,
    read_gesture_npy,
)
from spikelite.data.lazy import EventFileDataset, LazyEventDataset, downsample_events
from spikelite.data.simulator import SaccadeConfig, simulate_saccades

__all__ = [
    "CIFAR10_CLASSES",
    "DATASETS",
    "ENCODERS",
    "EVENT_DTYPE",
    "GESTURE_CLASSES",
    "NMNIST_SENSOR_SIZE",
    "CifarDataset",
    "DataWarning",
    "EncodedDataset",
    "EventFileDataset",
    "FrameCache",
    "FrameDataset",
    "LazyEventDataset",
    "SaccadeConfig",
    "SpikeDataset",
    "decode_aedat2",
    "decode_aedat31",
    "decode_cifar10_bin",
    "decode_cifar100_bin",
    "direct",
    "downsample_events",
    "encode",
    "encode_aedat2",
    "encode_cifar10_bin",
    "encode_cifar100_bin",
    "find_gesture_layout",
    "latency",
    "list_cifar10dvs",
    "list_datasets",
    "list_gesture_ibm",
    "list_gesture_npy",
    "list_nmnist_tree",
    "list_tiny_imagenet",
    "load",
    "load_tiny_imagenet",
    "make_events",
    "rate",
    "read_aedat2",
    "read_aedat31",
    "read_cifar10_bin",
    "read_cifar100_bin",
    "read_gesture_labels",
    "read_gesture_npy",
    "read_jpeg",
    "read_nmnist_bin",
    "read_nmnist_tree",
    "simulate_saccades",
    "split_cifar10dvs",
    "time_major_collate",
    "to_frames",
    "to_frames_by_count",
    "write_aedat2",
    "write_jpeg",
    "write_nmnist_bin",
    "write_nmnist_tree",
]
