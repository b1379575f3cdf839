"""Training and evaluation engine, losses, schedules and checkpoints."""

from spikelite.train.checkpoint import load_model, load_weights, read_config, save_checkpoint
from spikelite.train.engine import (
    FitResult,
    TrainConfig,
    evaluate,
    fit,
    resolve_device,
    seed_everything,
    to_time_major,
)
from spikelite.train.losses import LOSSES
from spikelite.train.schedule import lr_factor

__all__ = [
    "LOSSES", "FitResult", "TrainConfig", "evaluate", "fit", "load_model", "load_weights",
    "lr_factor", "read_config", "resolve_device", "save_checkpoint", "seed_everything",
    "to_time_major",
]
