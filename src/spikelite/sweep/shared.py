"""One sweep on many machines: which store and which artifacts folder a recipe uses.

``store:`` (``--store URL``) names the results store — default the run folder's
``results.sqlite``; a ``postgresql://`` URL is shared by every machine that names it, each
sweep in its own schema (:func:`sweep_id`). ``artifacts:`` (``--artifacts DIR``) is where
checkpoints and baselines go — default the run folder; with a shared store make it a path
every machine sees (NFS, a mounted bucket), as result rows name artifacts relative to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spikelite.sweep.recipe import Recipe, baseline_key
from spikelite.sweep.store import STORE, Store
from spikelite.sweep.storeurl import parse_store_url, redact


def sweep_id(recipe: Recipe) -> str:
    """The sweep's name in a shared store: ``<recipe name>_<baseline hash>`` (another
    recipe name, data, model or baseline → another sweep; edit the points or the
    hardware of a recipe and it stays the same sweep, as with a run folder)."""
    return f"{recipe.name}_{baseline_key(recipe)}"


def artifacts_root(recipe: Recipe, run_dir: Path | None = None) -> Path:
    """Where ``artifacts/<key>`` and ``baselines/<hash>`` live."""
    return Path(recipe.artifacts) if recipe.artifacts else Path(run_dir or recipe.out)


def store_for(recipe: Recipe, run_dir: Path | None = None, *,
              lease_s: float | None = None) -> Store:
    """The results store of ``recipe`` (``run_dir/results.sqlite`` without ``store:``)."""
    lease = recipe.lease_s if lease_s is None else lease_s
    if recipe.store:
        return Store(recipe.store, lease_s=lease, sweep=sweep_id(recipe))
    return Store(Path(run_dir or recipe.out) / STORE, lease_s=lease)


def is_shared(recipe: Recipe) -> bool:
    return bool(recipe.store) and parse_store_url(recipe.store, "store").shared


def public_dump(recipe: Recipe | dict[str, Any]) -> dict[str, Any]:
    """The recipe as written to ``recipe.yaml`` and reports: the store's password hidden."""
    d = recipe.model_dump(mode="json") if isinstance(recipe, Recipe) else dict(recipe)
    if d.get("store"):
        d["store"] = redact(str(d["store"]))
    return d
