"""Reading a finished sweep folder: its rows in recipe order, its recipe, and a point's
checkpoint (used by ``spikelite report``/``pareto``/``export`` and from Python)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from spikelite.errors import SpikeliteError
from spikelite.records import parse_record, read_yaml
from spikelite.sweep.columns import add_ratios, find_baseline
from spikelite.sweep.recipe import Recipe, run_key
from spikelite.sweep.store import STORE, Store


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` is a sweep folder (it holds a results store)."""
    return (Path(path) / STORE).is_file()


def read_run_dir(run_dir: Path) -> tuple[list[dict[str, Any]], Any]:
    """The finished rows of a sweep folder (in recipe order) and its recipe."""

    db = run_dir / STORE
    if not db.is_file():
        raise SpikeliteError(f"'{run_dir}' holds no sweep results ({STORE} is missing); run "
                             "`spikelite sweep RECIPE --out DIR` first")
    recipe_file = run_dir / "recipe.yaml"
    recipe = (parse_record(read_yaml(recipe_file), str(recipe_file), Recipe)
              if recipe_file.is_file() else None)
    try:
        done = {r["key"]: r["result"] for r in Store(db).records("done")}
    except sqlite3.DatabaseError as exc:
        raise SpikeliteError(f"'{db}' is not a readable results store ({exc}): it is damaged "
                             "or truncated; restore it, or move it away and run the sweep "
                             "again (its points are recomputed)") from None
    keys = [run_key(recipe, p) for p in recipe.expand()] if recipe is not None else []
    rows = [done.pop(k) for k in keys if k in done]
    rows += [r for r in done.values() if str(r.get("source", "")).startswith("search")]
    add_ratios(rows, find_baseline(rows))
    return rows, recipe


def point_checkpoint(run_dir: Path, name: str | None) -> Path:
    """The checkpoint folder of the point ``name`` of the sweep in ``run_dir``."""
    rows, _ = read_run_dir(run_dir)
    names = [str(r.get("name")) for r in rows]
    if name is None:
        raise SpikeliteError(f"'{run_dir}' is a sweep folder: choose a point with --point "
                             f"NAME ({', '.join(names)})")
    row = next((r for r in rows if r.get("name") == name), None)
    if row is None:
        raise SpikeliteError(f"no finished point named {name!r} in '{run_dir}'; finished "
                             f"points: {', '.join(names) or 'none'}")
    ckpt = run_dir / str(row.get("artifacts", "")) / "model"
    if not (ckpt / "model.safetensors").is_file():
        raise SpikeliteError(f"point {name!r} has no checkpoint at '{ckpt}' (its artifacts "
                             "were removed?); rerun the sweep to recreate it")
    return ckpt
