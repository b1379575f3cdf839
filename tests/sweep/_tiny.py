"""A recipe small enough to sweep in seconds: an MLP on a few dozen static digits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spikelite.sweep.recipe import Recipe


def tiny_recipe(out: Path, **extra: Any) -> Recipe:
    data: dict[str, Any] = {
        "name": "tiny",
        "out": str(out),
        "data": {"name": "digits", "time_steps": 4, "limit": 48},
        "model": {"name": "mlp", "kwargs": {"hidden": [24]}},
        "baseline": {"train": {"epochs": 1, "batch_size": 16, "lr": 0.005}},
        "finetune": {"epochs": 1, "batch_size": 16},
        "hardware": {"presets": ["horowitz45-derived", "sparseloop-eyeriss45"],
                     "formats": ["dense", "bitmask"], "samples": 16},
        "points": [{"name": "fp32", "schedule": "baseline"}],
        "grid": [{"schedule": "ptq", "scheme": "duq", "bits": [4, 2]},
                 {"schedule": "joint", "scheme": "duq", "bits": 4, "method": "magnitude",
                  "sparsity": 0.5}],
    }
    data.update(extra)
    return Recipe.model_validate(data)
