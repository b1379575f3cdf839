"""Run a recipe: train (or load) the baseline once, run every point not yet done — in
this process or in local worker processes sharing the SQLite store — then export
``results.csv``/``results.json`` and write the report.

Layout of a sweep folder::

    OUT/recipe.yaml          the resolved recipe
    OUT/results.sqlite       the store (one row per run)
    OUT/baselines/<hash>/    the trained baseline (reused by every point)
    OUT/artifacts/<key>/     per run: config.json, profile.json, model/ (checkpoint)
    OUT/results.csv|json     exports; OUT/report.html, summary.md, *.png|svg
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from spikelite.errors import SpikeliteError
from spikelite.hardware.units import fmt_energy
from spikelite.sweep.columns import add_ratios, find_baseline, is_baseline
from spikelite.sweep.recipe import PointSpec, Recipe, baseline_key, run_key
from spikelite.sweep.store import STORE, Store, write_csv, write_json


@dataclass
class SweepResult:
    """What :func:`run_sweep` produced."""

    run_dir: Path
    rows: list[dict[str, Any]]
    baseline: dict[str, Any] | None
    failed: list[dict[str, Any]] = field(default_factory=list)
    ran: int = 0
    skipped: int = 0
    recosted: int = 0
    seconds: float = 0.0
    files: dict[str, Path] = field(default_factory=dict)


def prepare_baseline(
    recipe: Recipe, run_dir: Path, *, progress: bool = True, console: Console | None = None
) -> tuple[Path, float]:
    """The baseline checkpoint and its test accuracy: the recipe's ``checkpoint``, or a
    model trained once under ``run_dir/baselines/<hash>`` (resumed if interrupted)."""

    console = console or Console(stderr=True)
    b = recipe.baseline
    if b.checkpoint is not None:
        from spikelite.data.spec import load_data
        from spikelite.train import evaluate, load_model

        model, _ = load_model(b.checkpoint)
        _, test = load_data(recipe.data)
        return Path(b.checkpoint), evaluate(model, test, device=recipe.device)["accuracy"]
    out = run_dir / "baselines" / baseline_key(recipe)
    marker = out / "baseline.json"
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out / ".lock"):  # two sweeps on one folder train the baseline once
        if marker.is_file():
            info = json.loads(marker.read_text())
            return Path(info["checkpoint"]), float(info["accuracy"])
        return _train_baseline(recipe, out, progress=progress, console=console)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (released by the OS if the process dies)."""
    import fcntl

    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _train_baseline(recipe: Recipe, out: Path, *, progress: bool,
                    console: Console) -> tuple[Path, float]:
    from spikelite.train.run import RunConfig, run_training

    b = recipe.baseline
    marker = out / "baseline.json"
    cfg = RunConfig(model=recipe.model, data=recipe.data, train=b.train,
                    regularizer=b.regularizer, out=str(out), device=recipe.device)
    console.print(f"baseline: training {recipe.model.name} on {recipe.data.name} "
                  f"({b.train.epochs} epochs) → {out}")
    res = run_training(cfg, resume=True, progress=progress, console=console)
    last = out / "last"
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps({"checkpoint": str(last), "accuracy": res.accuracy,
                               "best_accuracy": res.best_accuracy,
                               "train_seconds": res.train_seconds}))
    os.replace(tmp, marker)
    return last, res.accuracy


@contextmanager
def _heartbeat(store: Store, key: str, every: float = 30.0) -> Iterator[None]:
    """Refresh the run's heartbeat from a background thread while it runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            # a busy store must not kill the run; the lease is long
            with contextlib.suppress(Exception):
                store.heartbeat(key)

    t = threading.Thread(target=beat, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=1.0)


def _points(recipe: Recipe) -> list[tuple[str, PointSpec]]:
    return [(run_key(recipe, p), p) for p in recipe.expand()]


def work(
    recipe: Recipe,
    run_dir: Path,
    baseline_ckpt: Path,
    baseline_accuracy: float,
    *,
    console: Console | None = None,
    on_done: Callable[[dict[str, Any] | None, str, PointSpec, str | None], None] | None = None,
    lease_s: float = 300.0,
) -> int:
    """Claim and run the points of ``recipe`` one by one until none is left; returns how
    many this call ran. Safe to call from several processes at once."""
    from spikelite.data.spec import load_data
    from spikelite.sweep.point import clean_stale_tmp, execute

    console = console or Console(stderr=True)
    store = Store(run_dir / STORE, lease_s=lease_s)
    clean_stale_tmp(run_dir)
    data = None
    ran = 0
    for key, point in _points(recipe):
        if not store.claim(key, point.label, point.model_dump()):
            continue
        if data is None:
            data = load_data(recipe.data)
        try:
            with _heartbeat(store, key):
                row = execute(recipe, point, key, baseline_ckpt, data, run_dir,
                              baseline_accuracy=baseline_accuracy, console=console)
            store.finish(key, row)
            ran += 1
            if on_done:
                on_done(row, key, point, None)
        except Exception as exc:  # one bad point must not lose the others
            msg = f"{type(exc).__name__}: {exc}"
            store.fail(key, msg)
            console.print(f"[red]point {point.label} failed:[/] {msg}")
            if not isinstance(exc, SpikeliteError):  # a bug, not bad input: keep the trace
                console.print(traceback.format_exc(), markup=False, highlight=False)
            if on_done:
                on_done(None, key, point, msg)
    return ran


def _worker_main(recipe_data: dict[str, Any], run_dir: str, ckpt: str, acc: float,
                 threads: int, index: int) -> None:
    """Entry point of a worker process (spawned)."""
    import torch

    torch.set_num_threads(threads)
    recipe = Recipe.model_validate(recipe_data)
    log = Path(run_dir) / "logs" / f"worker-{index}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:
        console = Console(file=f, width=120, force_terminal=False)
        work(recipe, Path(run_dir), Path(ckpt), acc, console=console)


def run_sweep(
    recipe: Recipe,
    *,
    workers: int = 1,
    progress: bool = True,
    console: Console | None = None,
    report: bool = True,
) -> SweepResult:
    """Run ``recipe`` (resuming: finished points are skipped) and export the results."""
    console = console or Console(stderr=True)
    t0 = time.perf_counter()
    if workers < 1:
        raise SpikeliteError(f"workers must be >= 1, got {workers}")
    run_dir = Path(recipe.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.yaml").write_text(
        yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
    store = Store(run_dir / STORE)
    with torch_threads(recipe.threads):
        return _run_sweep(recipe, run_dir, store, workers=workers, progress=progress,
                          console=console, report=report, t0=t0)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (``None``: leave the setting alone)."""
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_sweep(recipe: Recipe, run_dir: Path, store: Store, *, workers: int, progress: bool,
               console: Console, report: bool, t0: float) -> SweepResult:
    ckpt, base_acc = prepare_baseline(recipe, run_dir, progress=progress, console=console)
    points = _points(recipe)
    keys = [k for k, _ in points]
    done_before = {k for k in keys if store.status(k) == "done"}
    recosted = _recost_stale(recipe, store, keys, run_dir, console)
    todo = len(keys) - len(done_before)
    console.print(f"sweep '{recipe.name}': {len(keys)} points, {len(done_before)} already "
                  f"done, {todo} to run" + (f" on {workers} workers" if workers > 1 else ""))
    base_energy: dict[str, float] = {}

    def report_row(row: dict[str, Any], out: Console) -> None:
        if is_baseline(row):
            base_energy["pj"] = row["energy_pj"]
        ratio = base_energy.get("pj", 0) / row["energy_pj"] if row["energy_pj"] else 0
        out.print(f"  {row['name']:<32} acc {row['accuracy']:.4f} "
                  f"({0.0 - row['accuracy_drop_pt'] + 0.0:+.2f} pt)  energy "
                  f"{fmt_energy(row['energy_pj'])}"
                  + (f" ({ratio:.1f}× less)" if ratio else "")
                  + f"  {row['deployed_bytes'] / 1e3:.1f} kB  {row['seconds']:.0f} s")

    for row in store.results([k for k, p in points if p.schedule == "baseline"]):
        base_energy["pj"] = row["energy_pj"]
    cols = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn()]
    with Progress(*cols, console=console, disable=not progress) as bar:
        task = bar.add_task("points", total=len(keys), completed=len(done_before))
        if todo and workers == 1:
            def on_done(row: dict[str, Any] | None, key: str, point: PointSpec,
                        error: str | None) -> None:
                bar.advance(task)
                if row is not None:
                    report_row(row, bar.console)

            work(recipe, run_dir, ckpt, base_acc, console=bar.console, on_done=on_done)
        elif todo:
            ctx = mp.get_context("spawn")
            threads = recipe.threads or max(1, (os.cpu_count() or 1) // workers)
            procs = [ctx.Process(target=_worker_main, args=(
                recipe.model_dump(mode="json"), str(run_dir), str(ckpt), base_acc, threads, i))
                for i in range(workers)]
            for p in procs:
                p.start()
            seen = set(done_before)
            while True:
                alive = any(p.is_alive() for p in procs)
                status = {r["key"]: r for r in store.records() if r["status"] != "running"}
                for k in keys:
                    if k in status and k not in seen:
                        seen.add(k)
                        if status[k]["status"] == "done":
                            report_row(status[k]["result"], bar.console)
                        else:
                            bar.console.print(f"  [red]{status[k]['name']} failed:[/] "
                                              f"{status[k]['error']}")
                bar.update(task, completed=len(seen))
                if not alive:
                    break
                time.sleep(0.5)
            for p in procs:
                p.join()
            bad = [p.exitcode for p in procs if p.exitcode != 0]
            if bad:
                console.print(f"[yellow]{len(bad)} worker(s) exited abnormally "
                              f"(codes {bad}); see {run_dir / 'logs'}[/]")
    records = {r["key"]: r for r in store.records()}
    rows = [records[k]["result"] for k in keys
            if k in records and records[k]["status"] == "done"]
    failed = [{"key": k, "name": records[k]["name"], "error": records[k]["error"]}
              for k in keys if k in records and records[k]["status"] != "done"]
    baseline = find_baseline(rows)
    add_ratios(rows, baseline)
    result = SweepResult(run_dir=run_dir, rows=rows, baseline=baseline, failed=failed,
                         ran=len({r["key"] for r in rows} - done_before),
                         skipped=len(done_before), recosted=recosted,
                         seconds=time.perf_counter() - t0)
    result.files["csv"] = write_csv(rows, run_dir / "results.csv")
    result.files["json"] = write_json(rows, run_dir / "results.json")
    if report and rows:
        result.files.update(write_outputs(run_dir, rows, recipe, baseline))
    return result


def _recost_stale(recipe: Recipe, store: Store, keys: list[str], run_dir: Path,
                  console: Console) -> int:
    """Re-profile finished points whose hardware costing differs from the recipe's."""
    from spikelite.data.spec import load_data
    from spikelite.sweep.point import recost
    from spikelite.sweep.recipe import hardware_key

    hw = hardware_key(recipe)
    wanted = set(keys)
    stale = [r for r in store.results() if r.get("hardware_key") != hw
             and (r["key"] in wanted or str(r.get("source", "")).startswith("search"))]
    if not stale:
        return 0
    console.print(f"re-costing {len(stale)} finished points under the recipe's hardware "
                  "settings (from their checkpoints, no training)")
    _, test = load_data(recipe.data)
    for row in stale:
        store.update(row["key"], recost(recipe, row, test, run_dir))
    return len(stale)


def write_outputs(run_dir: Path, rows: list[dict[str, Any]], recipe: Recipe,
                  baseline: dict[str, Any] | None) -> dict[str, Path]:
    """report.html, summary.md and the plots (see :mod:`spikelite.sweep.report`)."""
    from spikelite.hardware import get_preset
    from spikelite.sweep.report import write_report

    presets = []
    for name in recipe.hardware.presets:
        p = get_preset(name)
        presets.append({"name": p.name, "citation": p.citation,
                        "description": p.description, "values": p.values()})
    return write_report(run_dir, rows, recipe=recipe.model_dump(mode="json"),
                        presets=presets, objectives=tuple(recipe.objectives),
                        baseline_key=baseline["key"] if baseline else None,
                        title=f"spikelite sweep: {recipe.name}")
