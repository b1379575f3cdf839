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
import errno
import multiprocessing as mp
import os
import sqlite3
import time
import traceback
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from spikelite.errors import SpikeliteError
from spikelite.hardware.units import fmt_energy
from spikelite.sweep.baseline import (  # noqa: F401  (re-exported)
    MAX_ATTEMPTS,
    _heartbeat,
    _locked,
    _train_baseline,
    baseline_once,
    fresh_cleanup,
    prepare_baseline,
)
from spikelite.sweep.columns import add_ratios, find_baseline, is_baseline
from spikelite.sweep.devices import worker_device
from spikelite.sweep.recipe import PointSpec, Recipe, run_key
from spikelite.sweep.shared import artifacts_root, public_dump, store_for
from spikelite.sweep.store import (  # noqa: F401  (STORE re-exported)
    STORE,
    DiskFullError,
    Store,
    _alive,
    _atomic,
    disk_full_error,
    is_disk_full,
    worker_id,
    write_csv,
    write_json,
)
from spikelite.sweep.workers import (  # noqa: F401  (re-exported)
    ORPHAN_EXIT,
    die_with_parent,
    torch_threads,
)

#: Exit code of a worker process that stopped on a full disk (ENOSPC's errno).
DISK_FULL_EXIT = 28
#: errno values that mean "cannot write there" (one line, not a traceback).
_WRITE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
                           errno.EISDIR, errno.EEXIST})


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
    #: points finished during this run by another run sharing the folder
    others: int = 0


def _points(recipe: Recipe) -> list[tuple[str, PointSpec]]:
    return [(run_key(recipe, p), p) for p in recipe.expand()]


def run_order(recipe: Recipe, points: list[tuple[str, PointSpec]]) -> list[tuple[str, PointSpec]]:
    """The order workers claim points in: baseline points first (their row is the
    reference the others are printed against), then the most fine-tuning epochs first
    (longest processing time first, so parallel workers finish together instead of one
    running the last long point alone); ties keep the recipe order. Results are written
    in recipe order whatever this order is."""
    def epochs(p: PointSpec) -> float:
        if p.schedule == "baseline":
            return float("inf")
        ft = p.finetune or recipe.finetune
        return float(ft.max_epochs or ft.epochs)
    return sorted(points, key=lambda kp: -epochs(kp[1]))


def work(
    recipe: Recipe,
    run_dir: Path,
    baseline_ckpt: Path,
    baseline_accuracy: float,
    *,
    console: Console | None = None,
    on_done: Callable[[dict[str, Any] | None, str, PointSpec, str | None], None] | None = None,
    lease_s: float | None = None,
    keys: Collection[str] | None = None,
) -> int:
    """Claim and run the points of ``recipe`` (only those in ``keys``, if given) one by
    one until none is left; returns how many this call ran. Safe to call from several
    processes at once. A full disk stops the loop with :class:`DiskFullError` (the point's
    half-written artifacts removed; it runs again when the sweep is resumed)."""
    try:
        return _work(recipe, run_dir, baseline_ckpt, baseline_accuracy, console=console,
                     on_done=on_done, lease_s=lease_s, keys=keys)
    except DiskFullError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full_error(run_dir) from None
        raise


def _work(recipe: Recipe, run_dir: Path, baseline_ckpt: Path, baseline_accuracy: float, *,
          console: Console | None, on_done: Any, lease_s: float | None,
          keys: Collection[str] | None) -> int:
    from spikelite.data.spec import load_data
    from spikelite.sweep.point import clean_stale_tmp, execute, release

    console = console or Console(stderr=True)
    store = store_for(recipe, run_dir, lease_s=lease_s)
    art = artifacts_root(recipe, run_dir)
    if art == run_dir:  # a shared folder's temporaries may belong to another machine's pid
        clean_stale_tmp(run_dir)
    data = None
    ran = 0
    for key, point in run_order(recipe, _points(recipe)):
        if keys is not None and key not in keys:
            continue
        if not store.claim(key, point.label, point.model_dump()):
            continue
        if data is None:
            data = load_data(recipe.data)
        try:
            with _heartbeat(store, key):
                row = execute(recipe, point, key, baseline_ckpt, data, art,
                              baseline_accuracy=baseline_accuracy, console=console)
            store.finish(key, row)
            release(run_dir, key)
            ran += 1
            if on_done:
                on_done(row, key, point, None)
        except Exception as exc:  # one bad point must not lose the others
            if is_disk_full(exc):  # ... but a full disk fails every point: stop
                with contextlib.suppress(Exception):
                    store.fail(key, "stopped: no space left on the device (ENOSPC)")
                raise disk_full_error(run_dir) from None
            msg = f"{type(exc).__name__}: {exc}"
            store.fail(key, msg)
            console.print(f"[red]point {point.label} failed:[/] {msg}")
            if not isinstance(exc, SpikeliteError):  # a bug, not bad input: keep the trace
                console.print(traceback.format_exc(), markup=False, highlight=False)
            if on_done:
                on_done(None, key, point, msg)
    return ran


def _worker_main(recipe_data: dict[str, Any], run_dir: str, ckpt: str, acc: float,
                 threads: int, index: int, parent: int | None = None,
                 keys: list[str] | None = None) -> None:
    """Entry point of a worker process (spawned): runs points (those in ``keys``, if
    given) until none is left; ends with its ``parent`` process."""
    if parent is not None:
        die_with_parent(parent)
    import torch

    from spikelite.core import memory
    from spikelite.sweep.devices import pin

    memory.retain_unless_disabled()  # SPIKELITE_RETAIN_MEMORY=0: off

    torch.set_num_threads(threads)
    recipe = Recipe.model_validate(recipe_data)
    pin(recipe.device)
    log = Path(run_dir) / "logs" / f"worker-{index}.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as f:
            console = Console(file=f, width=120, force_terminal=False)
            try:
                work(recipe, Path(run_dir), Path(ckpt), acc, console=console,
                     keys=None if keys is None else set(keys))
            except DiskFullError as exc:
                with contextlib.suppress(Exception):
                    console.print(f"error: {exc}", markup=False)
                raise
    except Exception as exc:
        if is_disk_full(exc):
            os._exit(DISK_FULL_EXIT)
        raise


def run_sweep(
    recipe: Recipe,
    *,
    workers: int = 1,
    progress: bool = True,
    console: Console | None = None,
    report: bool = True,
    check: bool = True,
) -> SweepResult:
    """Run ``recipe`` (resuming: finished points are skipped) and export the results.

    First the recipe is checked against its data and model without training
    (:func:`~spikelite.sweep.preflight.preflight`; ``check=False`` skips it), so a bad
    recipe fails before anything is written. Points held by another live run on the same
    folder are waited for; a point whose worker process dies is retried once
    (:data:`MAX_ATTEMPTS`). A full disk ends in :class:`DiskFullError` (one line; rerun
    to resume)."""
    console = console or Console(stderr=True)
    t0 = time.perf_counter()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SpikeliteError(f"workers must be an integer >= 1, got {workers!r}")
    if check:
        from spikelite.sweep.preflight import preflight

        preflight(recipe)
    run_dir = Path(recipe.out)
    with writing(run_dir):
        with fresh_cleanup(run_dir, recipe):
            run_dir.mkdir(parents=True, exist_ok=True)
            text = yaml.safe_dump(public_dump(recipe), sort_keys=False)
            with _atomic(run_dir / "recipe.yaml") as tmp:
                tmp.write_text(text)
            store = store_for(recipe, run_dir)
            store.set_meta("recipe", text)
            if recipe.devices:  # the baseline and points run here (one worker) on the first
                recipe = recipe.model_copy(update={"device": recipe.devices[0]})
            with torch_threads(recipe.threads):
                ckpt, base_acc = baseline_once(recipe, store, run_dir, progress=progress,
                                               console=console)
        with torch_threads(recipe.threads):
            return _run_sweep(recipe, run_dir, store, (ckpt, base_acc), workers=workers,
                              progress=progress, console=console, report=report, t0=t0)


def export_tables(run_dir: Path) -> dict[str, Path]:
    """Rewrite ``results.csv``/``results.json`` with every finished row of the sweep
    folder — the grid's in recipe order, then the search trials (what ``spikelite
    report`` writes)."""
    from spikelite.sweep.rundir import read_run_dir

    rows, _ = read_run_dir(run_dir)
    with _locked(run_dir / ".export.lock"):
        return {"csv": write_csv(rows, run_dir / "results.csv"),
                "json": write_json(rows, run_dir / "results.json")}


@contextmanager
def writing(run_dir: Path) -> Iterator[None]:
    """Turn a full disk or an unwritable folder into one :class:`SpikeliteError` line."""
    try:
        yield
    except SpikeliteError:
        raise
    except (OSError, sqlite3.Error) as exc:
        if is_disk_full(exc):
            raise disk_full_error(run_dir) from None
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            where = exc.filename or run_dir
            raise SpikeliteError(f"cannot write '{where}' ({exc.strerror}); choose another "
                                 "--out or fix the folder's permissions") from None
        raise


def _run_sweep(recipe: Recipe, run_dir: Path, store: Store, baseline: tuple[Path, float], *,
               workers: int, progress: bool, console: Console, report: bool,
               t0: float) -> SweepResult:
    ckpt, base_acc = baseline
    points = _points(recipe)
    keys = [k for k, _ in points]
    done_before = {k for k in keys if store.status(k) == "done"}
    recosted = _recost_stale(recipe, store, keys, artifacts_root(recipe, run_dir), console)
    todo = len(keys) - len(done_before)
    console.print(f"sweep '{recipe.name}': {len(keys)} points, {len(done_before)} already "
                  f"done, {todo} to run" + (f" on {workers} workers" if workers > 1 else ""))
    base_energy: dict[str, float] = {}

    def report_row(row: dict[str, Any], out: Console, note: str = "") -> None:
        if is_baseline(row):
            base_energy["pj"] = row["energy_pj"]
        ratio = base_energy.get("pj", 0) / row["energy_pj"] if row["energy_pj"] else 0
        out.print(f"  {row['name']:<32} acc {row['accuracy']:.4f} "
                  f"({0.0 - row['accuracy_drop_pt'] + 0.0:+.2f} pt)  energy "
                  f"{fmt_energy(row['energy_pj'])}"
                  + (f" ({ratio:.1f}× less)" if ratio else "")
                  + f"  {row['deployed_bytes'] / 1e3:.1f} kB  {row['seconds']:.0f} s" + note)

    for row in store.results([k for k, p in points if p.schedule == "baseline"]):
        base_energy["pj"] = row["energy_pj"]
    cols = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*cols, console=console, disable=not progress) as bar:
        task = bar.add_task("points", total=len(keys), completed=len(done_before))
        driver = _Driver(recipe, run_dir, store, points, ckpt, base_acc, workers=workers,
                         console=bar.console, report_row=report_row,
                         advance=lambda n: bar.update(task, completed=n), seen=done_before,
                         lease_s=recipe.lease_s,
                         poll=max(0.2, min(5.0, recipe.lease_s / 10)) if store.shared else 0.5)
        if todo:
            with _watch(run_dir, store, driver.names, bar, progress):
                driver.run()
    records = {r["key"]: r for r in store.records()}
    rows = [records[k]["result"] for k in keys
            if k in records and records[k]["status"] == "done"]
    failed = [{"key": k, "name": records[k]["name"] if k in records else driver.names[k],
               "error": records[k]["error"] if k in records else "never ran"}
              for k in keys if k not in records or records[k]["status"] != "done"]
    new = {r["key"] for r in rows} - done_before
    ran = {k for k in new if records[k]["worker"] in driver.ours}
    baseline = find_baseline(rows)
    add_ratios(rows, baseline)
    result = SweepResult(run_dir=run_dir, rows=rows, baseline=baseline, failed=failed,
                         ran=len(ran), skipped=len(done_before), recosted=recosted,
                         seconds=time.perf_counter() - t0, others=len(new - ran))
    table = rows
    if recipe.search is not None:  # the tables hold the search trials too (as the report)
        from spikelite.sweep.rundir import read_run_dir

        table, _ = read_run_dir(run_dir)
    with _locked(run_dir / ".export.lock"):  # two runs on one folder: one writer at a time
        result.files["csv"] = write_csv(table, run_dir / "results.csv")
        result.files["json"] = write_json(table, run_dir / "results.json")
        if report and rows:
            result.files.update(write_outputs(run_dir, rows, recipe, baseline))
    store.close()
    return result


def _watch(run_dir: Path, store: Store, names: dict[str, str], bar: Progress,
           enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """Show the running points' epochs while the block runs (see :mod:`.progress`)."""
    if not enabled:
        return contextlib.nullcontext()
    from spikelite.sweep.progress import PointWatcher

    def running() -> list[str]:
        return [r["key"] for r in store.records("running") if r["key"] in names]

    return PointWatcher(run_dir, names, bar, running)


class _Driver:
    """Runs a sweep's points to the end: in this process or in worker processes, retrying
    a point whose worker died (:data:`MAX_ATTEMPTS`), and waiting for points another live
    run on the same folder holds, until every point is done or failed."""

    def __init__(self, recipe: Recipe, run_dir: Path, store: Store,
                 points: list[tuple[str, PointSpec]], ckpt: Path, acc: float, *,
                 workers: int, console: Console, report_row: Callable[..., None],
                 advance: Callable[[int], None], seen: set[str], poll: float = 0.5,
                 lease_s: float = 300.0) -> None:
        self.recipe, self.run_dir, self.store = recipe, run_dir, store
        self.keys = [k for k, _ in points]
        self.names = {k: p.label for k, p in points}
        self.ckpt, self.acc, self.workers = ckpt, acc, workers
        self.console, self.report_row, self.advance = console, report_row, advance
        self.seen = set(seen)
        self.poll, self.lease_s = poll, lease_s
        self.ours = {worker_id()}  # this run's processes (host:pid)
        self.deaths: dict[str, int] = {}
        self.started = time.time()
        self.index = 0
        self._waiting = ""

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        targets: list[str] | None = None  # first round: every point (failed ones retried)
        stuck = 0
        while True:
            if self.workers == 1:
                self._inline(targets)
            else:
                self._parallel(targets)
            while True:
                recs = self._records()
                pending = [k for k in self.keys
                           if k not in recs or recs[k]["status"] == "running"]
                if not pending:
                    return
                held = {k: recs[k]["worker"] for k in pending
                        if k in recs and self._held(recs[k])}
                claimable = [k for k in pending if k not in held]
                if claimable:
                    break
                self._wait(held)
            stuck = stuck + 1 if claimable == targets else 0
            if stuck >= 2:  # nobody could run them twice in a row: report, do not spin
                self.console.print(f"[red]{len(claimable)} point(s) could not be run: "
                                   f"{', '.join(self.names[k] for k in claimable)}[/]")
                return
            targets = claimable

    def _records(self) -> dict[str, dict[str, Any]]:
        wanted = set(self.keys)
        recs = {r["key"]: r for r in self.store.records() if r["key"] in wanted}
        for k in self.keys:  # report what finished (here or in another run) once
            r = recs.get(k)
            if r is None or r["status"] == "running" or k in self.seen:
                continue
            if r["status"] == "failed" and (r["finished"] or 0) < self.started:
                continue  # failed in an earlier run: it is retried now
            self.seen.add(k)
            other = "" if r["worker"] in self.ours else " (by another run)"
            if r["status"] == "done":
                self.report_row(r["result"], self.console, other)
            else:
                self.console.print(f"  [red]{r['name']} failed{other}:[/] {r['error']}",
                                   highlight=False)
        self.advance(len(self.seen))
        return recs

    def _held(self, rec: dict[str, Any]) -> bool:
        """A running row another live process holds (not one of ours, not stale)."""
        if rec["status"] != "running" or rec["worker"] in self.ours:
            return False
        fresh = time.time() - (rec["heartbeat"] or 0) <= self.lease_s
        return fresh and _alive(rec["worker"]) is not False

    def _wait(self, held: dict[str, str]) -> None:
        """Wait until a point held by another run finishes or its holder dies."""
        pids = sorted({w.rpartition(":")[2] for w in held.values()}, key=str)
        msg = (f"{len(held)} point(s) held by another run (pid {', '.join(pids)}), waiting "
               f"for it: {', '.join(self.names[k] for k in held)}")
        if msg != self._waiting:
            self.console.print(f"[yellow]{msg}[/]", highlight=False)
            self._waiting = msg
        while True:
            time.sleep(self.poll)
            recs = self._records()
            for k, w in held.items():
                r = recs.get(k)
                if r is None or r["worker"] != w or not self._held(r):
                    return

    # -- one round -------------------------------------------------------------------------
    def _inline(self, targets: list[str] | None) -> None:
        def on_done(row: dict[str, Any] | None, key: str, point: PointSpec,
                    error: str | None) -> None:
            self.seen.add(key)
            self.advance(len(self.seen))
            if row is not None:
                self.report_row(row, self.console)

        work(self.recipe, self.run_dir, self.ckpt, self.acc, console=self.console,
             on_done=on_done, lease_s=self.lease_s, keys=targets)

    def _parallel(self, targets: list[str] | None) -> None:
        ctx = mp.get_context("spawn")
        n = self.workers if targets is None else max(1, min(self.workers, len(targets)))
        threads = self.recipe.threads or max(1, (os.cpu_count() or 1) // self.workers)
        host = worker_id().rpartition(":")[0]
        dump = self.recipe.model_dump(mode="json")
        procs: list[tuple[Any, int]] = []
        handled: set[int] = set()

        def start(keys: list[str] | None) -> None:
            i = self.index
            self.index += 1
            # one device per worker, round-robin (a retried point takes the next one)
            placed = ({**dump, "device": worker_device(i, self.recipe.devices)}
                      if self.recipe.devices else dump)
            p = ctx.Process(target=_worker_main, args=(
                placed, str(self.run_dir), str(self.ckpt), self.acc, threads, i, os.getpid(),
                keys))
            p.start()
            procs.append((p, i))
            self.ours.add(f"{host}:{p.pid}")

        for _ in range(n):
            start(targets)
        try:
            while True:
                self._records()
                for p, i in list(procs):
                    if p.pid in handled or p.is_alive():
                        continue
                    handled.add(p.pid)
                    p.join()
                    if p.exitcode == 0:
                        continue
                    if p.exitcode == DISK_FULL_EXIT:
                        raise disk_full_error(self.run_dir)
                    self._worker_died(p, i, f"{host}:{p.pid}", start)
                if len(handled) == len(procs):
                    return
                time.sleep(self.poll)
        finally:
            for p, _ in procs:  # on an error here (Ctrl-C, a full disk) stop them
                if p.is_alive():
                    p.terminate()
                    p.join()

    def _worker_died(self, p: Any, index: int, wid: str,
                     start: Callable[[list[str]], None]) -> None:
        """Retry the points the dead worker held (up to :data:`MAX_ATTEMPTS` in this run),
        then report them as failed."""
        recs = self._records()
        lost = [k for k in self.keys
                if k in recs and recs[k]["status"] == "running" and recs[k]["worker"] == wid]
        log = self.run_dir / "logs" / f"worker-{index}.log"
        self.console.print(
            f"[yellow]worker {index} (pid {p.pid}) exited with code {p.exitcode}"
            + (f" while running {', '.join(self.names[k] for k in lost)}" if lost else "")
            + f"; see {log}[/]", highlight=False)
        for k in lost:
            self.deaths[k] = self.deaths.get(k, 0) + 1
            if self.deaths[k] < MAX_ATTEMPTS:
                self.console.print(f"  retrying {self.names[k]} (attempt "
                                   f"{self.deaths[k] + 1} of {MAX_ATTEMPTS})", highlight=False)
                start([k])
            else:
                self.store.abandon(k, wid, f"its worker process died {self.deaths[k]} times "
                                   f"while running it (last exit code {p.exitcode}); see "
                                   f"{self.run_dir / 'logs'}")


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
    return write_report(run_dir, rows, recipe=public_dump(recipe),
                        artifacts=artifacts_root(recipe, run_dir), presets=presets,
                        objectives=tuple(recipe.objectives),
                        baseline_key=baseline["key"] if baseline else None,
                        title=f"spikelite sweep: {recipe.name}")
