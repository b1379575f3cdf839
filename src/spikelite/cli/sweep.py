"""CLI commands of the main job: ``sweep``, ``report``, ``pareto``, ``recipes``, and
``demo`` (the demo recipe end to end)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from spikelite._deprecation import moved
from spikelite.cli.console import err, out, user_errors
from spikelite.errors import SpikeliteError
from spikelite.records import parse_key_values
from spikelite.sweep.columns import (
    MASKED_FRACTION,
    REMOVED_FRACTION,
    SPARSITY,
    SPARSITY_DEPRECATED,
    cell,
    find_baseline,
    header,
    headline,
    headline_line,
    to_float,
)
from spikelite.sweep.rundir import read_run_dir

#: ``HEADERS`` (formerly ``spikelite.sweep.cli.HEADERS``) lives in :mod:`spikelite.sweep.columns`
__getattr__ = moved(__name__, {"HEADERS": ("spikelite.sweep.columns", "HEADERS")})


def _note_deprecated(objectives: list[str]) -> None:
    """One line on stderr for each deprecated column name among ``objectives``."""
    for spec in objectives:
        if spec.partition(":")[0].strip().lower() == SPARSITY:
            err.print(f"[yellow]deprecated:[/] {SPARSITY_DEPRECATED}")


def pareto_table(rows: list[dict[str, Any]], objectives: list[str], title: str) -> Table:
    """The non-dominated rows over ``objectives``, sorted by the last objective."""
    from spikelite.sweep.pareto import Objective, pareto_mask

    objs = [Objective.parse(o, rows) for o in objectives]
    mask = pareto_mask(rows, objs)
    front = sorted((r for r, m in zip(rows, mask, strict=True) if m),
                   key=lambda r: r.get(objs[-1].column) or 0)
    cols = ["name", "bits", MASKED_FRACTION, "accuracy", "accuracy_drop_pt", "energy_pj",
            "energy_ratio", "format", "weight_bytes", "deployed_bytes"]
    if any(to_float(r.get(REMOVED_FRACTION)) > 0 for r in rows):  # channel pruning
        cols.insert(3, REMOVED_FRACTION)
    cols += [o.column for o in objs if o.column not in cols]
    t = Table(title=title)
    for c in cols:
        t.add_column(header(c), justify="left" if c in ("name", "format") else "right",
                     no_wrap=c == "name")
    for r in front:
        t.add_row(*[cell(c, r.get(c)) for c in cols])
    return t


def sweep_command(
    recipe: Annotated[str, typer.Argument(help="Recipe YAML file or a built-in name (`spikelite recipes`).")],
    workers: Annotated[int, typer.Option(help="Local worker processes sharing the store.")] = 1,
    devices: Annotated[str | None, typer.Option(help="One device per worker, round-robin: GPU indices or names, e.g. 0,1,2,3 or cuda:0,cpu (overrides the recipe's `devices`).")] = None,
    precision: Annotated[str | None, typer.Option(help="Precision of the baseline training and every fine-tuning: fp32, bf16 or fp16 (overrides the recipe's `precision`).")] = None,
    memory_format: Annotated[str | None, typer.Option(help="Feature-map layout of the baseline training and every fine-tuning: contiguous or channels_last (overrides the recipe's `memory_format`).")] = None,
    storage: Annotated[str | None, typer.Option(help="Optuna storage URL for the recipe's `search:` (default: sqlite in OUT; a PostgreSQL URL lets workers on several machines share one study).")] = None,
    out_dir: Annotated[str | None, typer.Option("--out", help="Sweep folder (overrides the recipe's `out`).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a recipe key, e.g. --set finetune.epochs=1 (repeatable).")] = None,
    loader_workers: Annotated[int | None, typer.Option(help="DataLoader worker processes of the baseline training and the fine-tuning (not the parallel points: that is --workers).")] = None,
    report: Annotated[bool, typer.Option(help="Write report.html, summary.md and plots.")] = True,
    progress: Annotated[bool, typer.Option(help="Show progress.")] = True,
    store: Annotated[str | None, typer.Option(help="Results store URL (recipe `store:`): postgresql://user@host/db shares one store and work queue among many machines (extra `postgres`); default OUT/results.sqlite.")] = None,
    artifacts: Annotated[str | None, typer.Option(help="Folder for checkpoints and baselines (recipe `artifacts:`; default the sweep folder); with a shared store, a path every machine sees.")] = None,
    lease: Annotated[float | None, typer.Option(help="Seconds without a heartbeat after which another worker takes a running point over (recipe `lease_s`, default 300).")] = None,
) -> None:
    """Run a recipe's points (resuming: finished points are skipped), then its search."""
    from spikelite.sweep.recipe import check_storage_url, load_recipe
    from spikelite.sweep.sweep import run_sweep

    with user_errors():
        overrides = parse_key_values(set_, "--set")
        if out_dir is not None:
            overrides["out"] = out_dir
        if loader_workers is not None:
            overrides.setdefault("baseline.train.num_workers", loader_workers)
            overrides.setdefault("finetune.num_workers", loader_workers)
        for key, value in (("store", store), ("artifacts", artifacts), ("lease_s", lease)):
            if value is not None:
                overrides[key] = value
        if devices is not None:
            from spikelite.sweep.devices import parse_devices

            overrides["devices"] = parse_devices(devices)
        if precision is not None:
            overrides["precision"] = precision
        if memory_format is not None:
            overrides["memory_format"] = memory_format
        if storage is not None:
            check_storage_url(storage)
        cfg = load_recipe(recipe, overrides)
        if storage is not None and cfg.search is None:
            raise SpikeliteError(f"--storage is the Optuna storage of a recipe's `search:` "
                                 f"section, and this recipe has none ('{recipe}'); drop "
                                 "--storage or add a search")
        _note_deprecated(list(cfg.objectives))
        from spikelite.sweep.preflight import preflight

        preflight(cfg, storage=storage)  # everything checkable before any training
        t0 = time.perf_counter()
        res = run_sweep(cfg, workers=workers, progress=progress, console=err,
                        report=report and cfg.search is None, check=False)
        if cfg.search is not None:
            from spikelite.sweep.search import run_search

            run_search(cfg, workers=workers, storage=storage, console=err,
                       progress=progress, check=False)
            if report:
                from spikelite.sweep.sweep import write_outputs

                rows, _ = read_run_dir(res.run_dir, store=cfg.store)
                baseline = find_baseline(rows)
                res.rows, res.baseline = rows, baseline
                res.files.update(write_outputs(res.run_dir, rows, cfg, baseline))
        _finish(res, list(cfg.objectives), time.perf_counter() - t0)


def _finish(res: Any, objectives: list[str], seconds: float) -> None:
    if res.rows:
        out.print(pareto_table(res.rows, objectives, "Pareto front"))
    for f in res.failed:
        err.print(f"[red]failed:[/] {escape(str(f['name']))} ({f['key']}): "
                  f"{escape(str(f['error']))}")
    base = res.baseline
    best = headline(res.rows, base)
    if base is not None and best is not None:
        out.print(headline_line(best, base))
        out.print(f"export it: spikelite export {res.run_dir} --point {best['name']} "
                  f"--to nir --out {res.run_dir / (best['name'] + '.nir')}  "
                  "(or --to package)")
    files = ", ".join(str(p) for p in res.files.values())
    recosted = f", {res.recosted} re-costed" if getattr(res, "recosted", 0) else ""
    others = getattr(res, "others", 0)
    recosted += f", {others} run by another run" if others else ""
    out.print(f"{len(res.rows)} points ({res.ran} run now, {res.skipped} reused{recosted}) "
              f"in {seconds:.0f} s; wrote {files}")
    if res.failed:
        raise typer.Exit(1)


_STORE_HELP = ("Read the rows from this results store (postgresql://…; default the folder's "
               "results.sqlite, or the recipe's `store:`).")
_SWEEP_HELP = "With --store: the sweep (schema) to read, when the store holds several."


def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A sweep folder.")],
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
    sweep: Annotated[str | None, typer.Option(help=_SWEEP_HELP)] = None,
    artifacts: Annotated[Path | None, typer.Option(help="Folder the points' artifacts are in (default: the recipe's `artifacts:` or the sweep folder).")] = None,
) -> None:
    """(Re)write results.csv/json, summary.md, report.html and the plots of a sweep."""
    from spikelite.sweep.store import write_csv, write_json
    from spikelite.sweep.sweep import write_outputs

    with user_errors():
        rows, recipe = read_run_dir(run_dir, store=store, sweep=sweep)
        if recipe is not None and artifacts is not None:
            recipe = recipe.model_copy(update={"artifacts": str(artifacts)})
        if not rows:
            raise SpikeliteError(f"'{run_dir}' has no finished points yet")
        if recipe is None:
            raise SpikeliteError(f"'{run_dir}' has no recipe.yaml to describe the sweep")
        _note_deprecated(list(recipe.objectives))
        baseline = find_baseline(rows)
        run_dir.mkdir(parents=True, exist_ok=True)  # reading a shared store: may be new
        files = [write_csv(rows, run_dir / "results.csv"),
                 write_json(rows, run_dir / "results.json"),
                 *write_outputs(run_dir, rows, recipe, baseline).values()]
        out.print("wrote " + ", ".join(str(p) for p in files))


def pareto_command(
    run_dir: Annotated[Path, typer.Argument(help="A sweep folder.")],
    store: Annotated[str | None, typer.Option(help=_STORE_HELP)] = None,
    sweep: Annotated[str | None, typer.Option(help=_SWEEP_HELP)] = None,
    x: Annotated[str, typer.Option(help="Objective on x: energy, size, synops or a column[:min|max].")] = "energy",
    y: Annotated[str, typer.Option(help="Objective on y.")] = "accuracy",
    z: Annotated[str | None, typer.Option(help="Optional third objective.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Also write this plot (STEM.png and STEM.svg).")] = None,
) -> None:
    """Print the non-dominated points of a sweep over two or three objectives."""

    with user_errors():
        rows, _ = read_run_dir(run_dir, store=store, sweep=sweep)
        if not rows:
            raise SpikeliteError(f"'{run_dir}' has no finished points yet")
        objectives = [y, x] + ([z] if z else [])
        _note_deprecated(objectives)
        out.print(pareto_table(rows, objectives, f"Pareto front: {' / '.join(objectives)}"))
        if plot is not None:
            from spikelite.sweep.pareto import Objective
            from spikelite.sweep.plots import plot_tradeoff

            ox, oy = Objective.parse(x, rows), Objective.parse(y, rows)
            baseline = find_baseline(rows)
            paths = plot_tradeoff(rows, ox.column, oy.column, plot, baseline=baseline)
            out.print("wrote " + ", ".join(str(p) for p in paths))


def recipes_command() -> None:
    """List the built-in recipes."""
    from spikelite.records import read_yaml
    from spikelite.sweep.recipe import builtin_recipes

    t = Table(title="built-in recipes (spikelite sweep NAME)")
    t.add_column("name")
    t.add_column("description")
    for name, path in builtin_recipes().items():
        t.add_row(name, str(read_yaml(path).get("description", "")))
    out.print(t)


def demo_command(
    out_dir: Annotated[str, typer.Option("--out", help="Output folder.")] = "runs/demo",
    workers: Annotated[int | None, typer.Option(help="Local worker processes (default: 2 where there are 2+ cores).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Baseline training epochs.")] = None,
    limit: Annotated[int | None, typer.Option(help="Samples per split (smoke runs).")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """The main job on the embedded digits-dvs data: train the baseline, sweep the demo
    grid (quantization, pruning, QP-SNN), profile every point, write report.html,
    pareto.png and results.csv. Rerunning resumes."""
    from spikelite.sweep.recipe import load_recipe
    from spikelite.sweep.sweep import run_sweep

    with user_errors():
        t0 = time.perf_counter()
        cfg = load_recipe("demo", {"out": out_dir, "baseline.train.epochs": epochs,
                                   "data.limit": limit})
        err.print(f"[bold]spikelite demo[/]: {cfg.model.name} on {cfg.data.name}, "
                  f"{len(cfg.expand())} compression points → {out_dir}")
        if workers is None:
            workers = min(2, os.cpu_count() or 1)
        res = run_sweep(cfg, workers=workers, progress=progress, console=err)
        _finish(res, list(cfg.objectives), time.perf_counter() - t0)
