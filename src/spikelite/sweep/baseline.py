"""A sweep's baseline: trained (or converted from the user's checkpoint) once per recipe
and reused by every point — on one machine under a file lock, across machines through a
claimed row of the shared store; and the clean-up of a sweep's setup when it fails."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from spikelite.errors import SpikeliteError
from spikelite.sweep.recipe import Recipe, baseline_key
from spikelite.sweep.shared import artifacts_root
from spikelite.sweep.store import (
    STORE,
    Store,
)

#: Attempts a point gets within one run when the worker process running it dies (killed,
#: out of memory): the first, then one retry; after that it is reported as failed.
MAX_ATTEMPTS = 2


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
        if recipe.model.checkpoint is not None:
            return _convert_baseline(recipe, out, console=console)
        return _train_baseline(recipe, out, progress=progress, console=console)


def _convert_baseline(recipe: Recipe, out: Path, *, console: Console) -> tuple[Path, float]:
    """Your trained network (``model.factory`` + ``model.checkpoint``) as the baseline:
    converted, evaluated and saved as a spikelite checkpoint (no training)."""
    from spikelite.data.spec import load_data
    from spikelite.train import evaluate, save_checkpoint
    from spikelite.train.run import open_model

    m = recipe.model
    console.print(f"baseline: your network {m.factory} with weights {m.checkpoint} "
                  "(converted, not trained)")
    model, cfg = open_model(model=m, data=recipe.data)
    _, test = load_data(recipe.data)
    acc = evaluate(model, test, device=recipe.device)["accuracy"]
    ckpt = save_checkpoint(out / "converted", model, {**cfg, "metrics": {"test_accuracy": acc}})
    marker = out / "baseline.json"
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps({"checkpoint": str(ckpt), "accuracy": acc,
                               "best_accuracy": acc, "train_seconds": 0.0,
                               "source": {"factory": m.factory, "checkpoint": m.checkpoint}}))
    os.replace(tmp, marker)
    return ckpt, acc
def baseline_once(
    recipe: Recipe, store: Store, run_dir: Path, *, progress: bool = True,
    console: Console | None = None,
) -> tuple[Path, float]:
    """:func:`prepare_baseline` under the recipe's artifacts folder; with a shared store
    trained once for all machines: the first worker claims the row ``baseline-<hash>``
    and trains (heartbeat and lease as for a point), the others wait for it and load the
    checkpoint it names (relative to the artifacts folder). A baseline that failed twice
    stops every worker with its error."""
    console = console or Console(stderr=True)
    art = artifacts_root(recipe, run_dir)
    if not store.shared or recipe.baseline.checkpoint is not None:
        return prepare_baseline(recipe, art, progress=progress, console=console)
    key = f"baseline-{baseline_key(recipe)}"
    said = False
    while True:
        if store.claim(key, "baseline", {"baseline": recipe.baseline.model_dump(mode="json")}):
            try:
                with _heartbeat(store, key):
                    ckpt, acc = prepare_baseline(recipe, art, progress=progress,
                                                 console=console)
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    store.fail(key, f"{type(exc).__name__}: {exc}")
                raise
            store.finish(key, {"key": key, "name": "baseline", "accuracy": acc,
                               "checkpoint": os.path.relpath(ckpt, art)})
            return ckpt, acc
        rec = next(r for r in store.records() if r["key"] == key)
        if rec["status"] == "done":
            return art / rec["result"]["checkpoint"], float(rec["result"]["accuracy"])
        if rec["status"] == "failed" and rec["attempts"] >= MAX_ATTEMPTS:
            raise SpikeliteError(f"the baseline failed {rec['attempts']} times "
                                 f"({rec['error']}); fix it and rerun")
        if not said:
            console.print(f"waiting for the baseline, trained by {rec['worker']}",
                          highlight=False)
            said = True
        time.sleep(max(0.2, min(5.0, store.lease_s / 10)))


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
    console.print(f"baseline: training {recipe.model.label} on {recipe.data.name} "
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
def _heartbeat(store: Store, key: str, every: float | None = None) -> Iterator[None]:
    """Refresh the run's heartbeat from a background thread while it runs (every 30 s,
    or a quarter of the store's lease when that is shorter)."""
    stop = threading.Event()
    every = every if every is not None else min(30.0, store.lease_s / 4)

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


@contextmanager
def fresh_cleanup(run_dir: Path, recipe: Recipe) -> Iterator[None]:
    """Around a sweep's setup (folder, recipe, store, baseline): when it fails — a missing
    data root — remove exactly what it created: the files ``recipe.yaml`` and the store,
    and the folders ``baselines/<hash>``, ``baselines``, ``run_dir`` and its parents when
    they were not there before and hold nothing else. An existing sweep folder is never removed."""
    import shutil

    base = run_dir / "baselines" / baseline_key(recipe)
    parents = [p for p in reversed(run_dir.absolute().parents) if p != p.parent]
    paths = [*parents, run_dir, run_dir / "baselines", base, run_dir / "recipe.yaml",
             run_dir / STORE, *(run_dir / f"{STORE}{s}" for s in ("-wal", "-shm", "-journal"))]
    new = [p for p in paths if not (p.exists() or p.is_symlink())]
    try:
        yield
    except BaseException:
        for p in reversed(new):  # files first, then the folders deepest first
            if p.is_file() and not p.is_symlink():
                p.unlink(missing_ok=True)
        # the baseline's lock (and nothing else) goes with its folder
        if base in new and base.is_dir() and {q.name for q in base.iterdir()} <= {".lock"}:
            shutil.rmtree(base, ignore_errors=True)
        for p in reversed(new):
            if p.is_dir():
                with contextlib.suppress(OSError):
                    p.rmdir()
        raise
