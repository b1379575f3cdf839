"""Recipes, resumable sweeps, Pareto fronts and reports (the main job).

``spikelite sweep RECIPE`` / :func:`run_sweep`: train the baseline once, apply every
compression point of the recipe, profile it under the configured cost presets and weight
formats, store one row per point in SQLite (resumable), export CSV/JSON and write
``report.html`` with the accuracy–energy and accuracy–size Pareto fronts.
"""

from spikelite.sweep.recipe import (
    BaselineSpec,
    GridBlock,
    HardwareSpec,
    PointSpec,
    Recipe,
    SearchSpec,
    baseline_key,
    builtin_recipes,
    load_recipe,
    run_key,
)
from spikelite.sweep.store import Store, write_csv, write_json
from spikelite.sweep.sweep import SweepResult, prepare_baseline, run_sweep, work

__all__ = [
    "BaselineSpec", "GridBlock", "HardwareSpec", "PointSpec", "Recipe", "SearchSpec",
    "Store", "SweepResult", "baseline_key", "builtin_recipes", "load_recipe",
    "prepare_baseline", "run_key", "run_sweep", "work", "write_csv", "write_json",
]
