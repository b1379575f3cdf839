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


def _recipe(run_dir: Path) -> Any:
    recipe_file = run_dir / "recipe.yaml"
    return (parse_record(read_yaml(recipe_file), str(recipe_file), Recipe)
            if recipe_file.is_file() else None)


def open_run_store(run_dir: Path, store: str | None = None,
                   sweep: str | None = None) -> tuple[Store, Any]:
    """The results store of the sweep in ``run_dir`` and its recipe: ``store`` (a URL)
    when given, else the recipe's ``store:`` (when its password is not hidden), else the
    folder's ``results.sqlite``. From a shared store the recipe is read from the folder,
    else from the store (``sweep`` names it when the store holds several)."""
    from spikelite.sweep.shared import store_for
    from spikelite.sweep.storeurl import parse_store_url

    recipe = _recipe(run_dir)
    url = store or (recipe.store if recipe is not None and recipe.store and
                    "***" not in recipe.store else None)
    if url is None or not parse_store_url(url).shared:
        if url is not None:
            path = parse_store_url(url).path
            assert path is not None
            return Store(path), recipe
        db = run_dir / STORE
        if not db.is_file():
            raise SpikeliteError(f"'{run_dir}' holds no sweep results ({STORE} is missing); "
                                 "run `spikelite sweep RECIPE --out DIR` first, or pass the "
                                 "shared store with --store URL")
        return Store(db), recipe
    if recipe is not None:
        recipe = recipe.model_copy(update={"store": url})
        return store_for(recipe), recipe
    return _from_store(url, sweep, run_dir)


def _from_store(url: str, sweep: str | None, run_dir: Path) -> tuple[Store, Any]:
    """A sweep read from a shared store alone (no recipe.yaml here)."""
    from spikelite.sweep.backends import list_sweeps, namespace

    names = list_sweeps(url)
    if sweep is not None:
        wanted = namespace(sweep)[len("spikelite_"):]
        if wanted not in names:
            raise SpikeliteError(f"the store holds no sweep {sweep!r}; it holds: "
                                 f"{', '.join(names) or 'none'}")
        chosen = wanted
    elif len(names) == 1:
        chosen = names[0]
    else:
        raise SpikeliteError(f"'{run_dir}' has no recipe.yaml and the store holds "
                             f"{len(names)} sweeps; choose one with --sweep NAME "
                             f"({', '.join(names) or 'none'})")
    store = Store(url, sweep=chosen)
    text = store.meta("recipe")
    recipe = None
    if text is not None:
        import yaml

        recipe = parse_record(yaml.safe_load(text), f"{url} ({chosen})", Recipe)
        recipe = recipe.model_copy(update={"store": url})
    return store, recipe


def read_run_dir(run_dir: Path, *, store: str | None = None,
                 sweep: str | None = None) -> tuple[list[dict[str, Any]], Any]:
    """The finished rows of a sweep (in recipe order) and its recipe; the rows come from
    the folder's store or, with ``store``, from that (shared) store."""
    st, recipe = open_run_store(Path(run_dir), store, sweep)
    try:
        done = {r["key"]: r["result"] for r in st.records("done")}
    except sqlite3.DatabaseError as exc:
        raise SpikeliteError(f"'{st.where}' is not a readable results store ({exc}): it is "
                             "damaged or truncated; restore it, or move it away and run the "
                             "sweep again (its points are recomputed)") from None
    finally:
        st.close()
    keys = [run_key(recipe, p) for p in recipe.expand()] if recipe is not None else []
    rows = [done.pop(k) for k in keys if k in done]
    rows += [r for r in done.values() if str(r.get("source", "")).startswith("search")]
    add_ratios(rows, find_baseline(rows))
    return rows, recipe


def point_checkpoint(run_dir: Path, name: str | None, *, store: str | None = None,
                     artifacts: Path | None = None) -> Path:
    """The checkpoint folder of the point ``name`` of the sweep in ``run_dir`` (rows from
    ``store`` when given; artifacts under ``artifacts``, else the recipe's, else
    ``run_dir``)."""
    rows, recipe = read_run_dir(run_dir, store=store)
    if artifacts is None:
        artifacts = Path(recipe.artifacts) if recipe is not None and recipe.artifacts \
            else Path(run_dir)
    names = [str(r.get("name")) for r in rows]
    if name is None:
        raise SpikeliteError(f"'{run_dir}' is a sweep folder: choose a point with --point "
                             f"NAME ({', '.join(names)})")
    row = next((r for r in rows if r.get("name") == name), None)
    if row is None:
        raise SpikeliteError(f"no finished point named {name!r} in '{run_dir}'; finished "
                             f"points: {', '.join(names) or 'none'}")
    ckpt = artifacts / str(row.get("artifacts", "")) / "model"
    if not (ckpt / "model.safetensors").is_file():
        raise SpikeliteError(f"point {name!r} has no checkpoint at '{ckpt}' (its artifacts "
                             "were removed?); rerun the sweep to recreate it")
    return ckpt
