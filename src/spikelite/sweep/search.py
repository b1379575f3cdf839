"""Multi-objective search with Optuna (extra ``search``): maximize accuracy, minimize
energy (or size), under a maximum accuracy loss, over schedules, quantizers, bit widths
and sparsities — per layer with ``space.per_layer: true`` (mixed precision).

Every trial is an ordinary sweep point: it runs through the same store (a point already
done by the grid or by another worker is reused, not re-trained) and lands in
``results.csv``. The Optuna study lives at ``storage`` — by default
``sqlite:///OUT/optuna.sqlite3``; with a PostgreSQL URL, workers on several machines
(each running ``spikelite sweep RECIPE --storage URL``) share one study.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from spikelite.errors import SpikeliteError, require
from spikelite.sweep.devices import worker_device
from spikelite.sweep.preflight import open_storage
from spikelite.sweep.recipe import PointSpec, Recipe, baseline_key, run_key
from spikelite.sweep.shared import artifacts_root, is_shared, store_for
from spikelite.sweep.store import Store, worker_id
from spikelite.sweep.storeurl import parse_store_url

CONSTRAINT = "constraint"


def storage_url(recipe: Recipe, storage: str | None) -> str:
    """``--storage``, else ``search.storage``, else the recipe's shared PostgreSQL store
    (``--store``: the study's tables next to the sweep's), else ``OUT/optuna.sqlite3``."""
    s = storage or (recipe.search.storage if recipe.search else None)
    if s:
        return s
    if recipe.store and is_shared(recipe):
        return parse_store_url(recipe.store).url
    return f"sqlite:///{(Path(recipe.out) / 'optuna.sqlite3').resolve()}"


def study_name(recipe: Recipe) -> str:
    assert recipe.search is not None
    return recipe.search.study or f"{recipe.name}-{baseline_key(recipe)}"


def suggest_point(trial: Any, recipe: Recipe, layers: list[str]) -> PointSpec:
    """Draw a point from ``recipe.search.space``."""
    assert recipe.search is not None
    sp = recipe.search.space
    schedule = trial.suggest_categorical("schedule", sp.schedule)
    scheme = trial.suggest_categorical("scheme", sp.scheme)
    lo, hi = sp.sparsity
    raw: dict[str, Any] = {"schedule": schedule, "scheme": scheme, "method": sp.method}
    if sp.per_layer:
        raw["bits"] = max(sp.bits)
        raw["layer_bits"] = {n: trial.suggest_categorical(f"bits[{n}]", sp.bits)
                             for n in layers}
        raw["layer_sparsity"] = {n: trial.suggest_float(f"sparsity[{n}]", lo, hi, step=0.05)
                                 for n in layers}
    else:
        raw["bits"] = trial.suggest_categorical("bits", sp.bits)
        raw["sparsity"] = trial.suggest_float("sparsity", lo, hi, step=0.05)
    if sp.finetune is not None:
        raw["finetune"] = sp.finetune
    return PointSpec.model_validate(raw)


def _values(row: dict[str, Any], objectives: list[Any]) -> list[float]:
    out = []
    for o in objectives:
        v = row.get(o.column)
        if v is None:
            raise SpikeliteError(f"objective column '{o.column}' is not in the results; "
                                 f"available: {', '.join(sorted(row))}")
        out.append(float(v))
    return out


def _wait_for(store: Store, key: str, poll: float = 2.0) -> dict[str, Any] | None:
    """Another worker runs ``key``: wait for its row (``None`` if it failed)."""
    while True:
        st = store.status(key)
        if st == "done":
            return store.results([key])[0]
        if st != "running":
            return None
        time.sleep(poll)


def optimize(
    recipe: Recipe,
    *,
    storage: str,
    baseline_ckpt: Path,
    baseline_accuracy: float,
    trials: int,
    console: Console | None = None,
    worker: int = 0,
) -> None:
    """Run trials in this process until the study has ``trials`` finished ones. Worker
    ``worker`` samples with seed ``search.seed + worker``, so parallel workers draw
    different points (same seed → the same draws, i.e. duplicated trials)."""
    optuna = require("optuna", "search", "multi-objective search")
    from spikelite.core.synaptic import synaptic_layers
    from spikelite.data.spec import load_data
    from spikelite.sweep.pareto import Objective
    from spikelite.sweep.point import execute, release
    from spikelite.train import load_model

    assert recipe.search is not None
    console = console or Console(stderr=True)
    search = recipe.search
    objectives = [Objective.parse(o) for o in search.objectives]
    run_dir = artifacts_root(recipe)
    store = store_for(recipe)
    model, _ = load_model(baseline_ckpt)
    layers = [n for n, _ in synaptic_layers(model)]
    data = load_data(recipe.data)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: Any) -> list[float]:
        try:
            point = suggest_point(trial, recipe, layers)
        except ValidationError as exc:  # an invalid combination of the space
            raise optuna.TrialPruned(str(exc.errors()[0]["msg"])) from None
        key = run_key(recipe, point)
        trial.set_user_attr("key", key)
        trial.set_user_attr("worker", worker_id())
        trial.set_user_attr("name", point.label)
        if store.claim(key, point.label, point.model_dump()):
            try:
                row = execute(recipe, point, key, baseline_ckpt, data, run_dir,
                              baseline_accuracy=baseline_accuracy, console=console)
                row["source"] = f"search trial {trial.number}"
                store.finish(key, row)
                release(run_dir, key)
            except Exception as exc:
                store.fail(key, f"{type(exc).__name__}: {exc}")
                raise
        else:
            row = store.results([key])[0] if store.status(key) == "done" else \
                _wait_for(store, key)
            if row is None:
                raise SpikeliteError(f"point {point.label} failed in another worker")
        drop = float(row["accuracy_drop_pt"])
        limit = search.max_accuracy_drop_pt
        value = drop - limit if limit is not None else 0.0
        trial.set_user_attr(CONSTRAINT, [value])
        if native_constraints:  # optuna >= 5: feasible when <= 0
            trial.set_constraint("max_accuracy_drop_pt", value)
        console.print(f"trial {trial.number}: {point.label} acc {row['accuracy']:.4f} "
                      f"energy {row['energy_pj']:.4g} pJ")
        return _values(row, objectives)

    def constraints(trial: Any) -> list[float]:
        return list(trial.user_attrs.get(CONSTRAINT, [1.0]))

    native_constraints = hasattr(optuna.trial.Trial, "set_constraint")
    legacy = {} if native_constraints else {"constraints_func": constraints}
    if search.sampler == "nsga2":
        pop = search.population or min(50, max(4, trials // 4))
        sampler = optuna.samplers.NSGAIISampler(seed=search.seed + worker,
                                                population_size=pop, **legacy)
    elif search.sampler == "tpe":
        sampler = optuna.samplers.TPESampler(seed=search.seed + worker, **legacy)
    else:
        sampler = optuna.samplers.RandomSampler(seed=search.seed + worker)
    study = optuna.create_study(
        study_name=study_name(recipe), storage=open_storage(optuna, storage), sampler=sampler,
        directions=["maximize" if o.sense == "max" else "minimize" for o in objectives],
        load_if_exists=True)
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL,
              optuna.trial.TrialState.PRUNED)
    if len(study.get_trials(deepcopy=False, states=states)) >= trials:
        return
    study.optimize(objective, n_trials=trials, catch=(Exception,),
                   callbacks=[optuna.study.MaxTrialsCallback(trials, states=states)])


def _search_worker(recipe_data: dict[str, Any], storage: str, ckpt: str, acc: float,
                   trials: int, threads: int, index: int, parent: int | None = None) -> None:
    if parent is not None:
        from spikelite.sweep.sweep import die_with_parent

        die_with_parent(parent)
    import torch

    from spikelite.core import memory
    from spikelite.sweep.devices import pin

    memory.retain_unless_disabled()  # SPIKELITE_RETAIN_MEMORY=0: off
    torch.set_num_threads(threads)
    recipe = Recipe.model_validate(recipe_data)
    pin(recipe.device)
    log = Path(recipe.out) / "logs" / f"search-{index}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:
        optimize(recipe, storage=storage, baseline_ckpt=Path(ckpt), baseline_accuracy=acc,
                 trials=trials, console=Console(file=f, width=120), worker=index)


def run_search(
    recipe: Recipe,
    *,
    workers: int = 1,
    storage: str | None = None,
    console: Console | None = None,
    progress: bool = True,
    check: bool = True,
) -> dict[str, Any]:
    """Run ``recipe.search`` (resuming the study if it exists) with ``workers`` local
    processes; returns the study's summary (trial counts, storage, study name). The
    recipe is checked first (:func:`~spikelite.sweep.preflight.preflight`; ``check=False``
    skips it when :func:`~spikelite.sweep.sweep.run_sweep` already did)."""
    optuna = require("optuna", "search", "multi-objective search")
    from spikelite.sweep.sweep import baseline_once, export_tables, fresh_cleanup, torch_threads

    if recipe.search is None:
        raise SpikeliteError("the recipe has no `search:` section")
    if check:
        from spikelite.sweep.preflight import preflight

        preflight(recipe, storage=storage)
    console = console or Console(stderr=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_dir = Path(recipe.out)
    with fresh_cleanup(run_dir, recipe):
        run_dir.mkdir(parents=True, exist_ok=True)
        url = storage_url(recipe, storage)
        if recipe.devices:  # the baseline (and a single worker) on the first device
            recipe = recipe.model_copy(update={"device": recipe.devices[0]})
        store = store_for(recipe)  # created here, so workers never race to create it
        with torch_threads(recipe.threads):
            ckpt, acc = baseline_once(recipe, store, run_dir, progress=progress,
                                      console=console)
    trials = recipe.search.trials
    console.print(f"search: {trials} trials, objectives {', '.join(recipe.search.objectives)}"
                  f", storage {url}, study {study_name(recipe)}")
    if workers <= 1:
        with torch_threads(recipe.threads):
            optimize(recipe, storage=url, baseline_ckpt=ckpt, baseline_accuracy=acc,
                     trials=trials, console=console)
    else:
        # create the study once so the workers only load it (no creation race)
        optuna.create_study(study_name=study_name(recipe), storage=open_storage(optuna, url),
                            load_if_exists=True,
                            directions=["maximize" if o.endswith(":max") else "minimize"
                                        for o in _parsed(recipe.search.objectives)])
        ctx = mp.get_context("spawn")
        threads = recipe.threads or max(1, (os.cpu_count() or 1) // workers)
        dump = recipe.model_dump(mode="json")
        procs = [ctx.Process(target=_search_worker, args=(
            {**dump, "device": worker_device(i, recipe.devices)} if recipe.devices else dump,
            url, str(ckpt), acc, trials, threads, i,
            os.getpid()))
            for i in range(workers)]
        for p in procs:
            p.start()
        _follow(optuna, study_name(recipe), url, procs, console)
        for p in procs:
            p.join()
        bad = [p.exitcode for p in procs if p.exitcode != 0]
        if bad:
            raise SpikeliteError(f"{len(bad)} search worker(s) failed (exit codes {bad}); "
                                 f"see {run_dir / 'logs'}")
    export_tables(run_dir)
    study = optuna.load_study(study_name=study_name(recipe),
                              storage=open_storage(optuna, url))
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return {"storage": url, "study": study.study_name, "trials": counts,
            "complete": counts.get("COMPLETE", 0), "requested": trials}


def _follow(optuna: Any, name: str, url: str, procs: list[Any], console: Console) -> None:
    """Print each trial as the worker processes finish it, until they exit."""
    study = optuna.load_study(study_name=name, storage=open_storage(optuna, url))
    seen: set[int] = set()
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL,
            optuna.trial.TrialState.PRUNED)
    while True:
        alive = any(p.is_alive() for p in procs)
        for t in study.get_trials(deepcopy=False, states=done):
            if t.number in seen:
                continue
            seen.add(t.number)
            label = t.user_attrs.get("name", "?")
            if t.state == optuna.trial.TrialState.COMPLETE:
                vals = ", ".join(f"{v:.4g}" for v in t.values)
                console.print(f"  trial {t.number:>3} {label:<34} {vals}")
            else:
                console.print(f"  trial {t.number:>3} {label:<34} {t.state.name.lower()}")
        if not alive:
            return
        time.sleep(1.0)


def _parsed(objectives: list[str]) -> list[str]:
    from spikelite.sweep.pareto import Objective

    return [f"{o.column}:{o.sense}" for o in (Objective.parse(s) for s in objectives)]
