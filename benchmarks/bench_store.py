"""Scaling of the shared (PostgreSQL) results store: 1, 2, 4, 8 worker processes, each as
its own "machine" (own host name), on one throwaway server (tests/sweep/_pg.py).

Two kinds of point:

* ``sleep`` — a point is ``claim → sleep(--point-s) → finish`` with the heartbeat thread
  of a real sweep: the store and work queue alone, as with GPU-bound points whose CPU
  use is nil (what 100 GPUs would put on the store).
* ``tiny`` — real sweep points (``spikelite.sweep.work`` on the tiny MLP of the tests, PTQ
  points, ``threads: 1``): on this 2-core machine they compete for the CPU past 2 workers.

Per row: points per minute, duplicates (points finished more than once; must be 0), store
calls and the time spent in them per point (the store's overhead: transactions and reads,
the failed claims of points other workers hold included).

    python benchmarks/bench_store.py                     # both kinds, 1 2 4 8 workers
    python benchmarks/bench_store.py --kind sleep --points 200 --workers 1 2 4 8 16
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "sweep"))
sys.path.insert(0, str(ROOT / "src"))


def _sleep_worker(url: str, sweep: str, keys: list[str], point_s: float, host: str,
                  start: Any, out: Any) -> None:
    os.environ["SPIKELITE_HOST"] = host
    from spikelite.sweep.store import Store
    from spikelite.sweep.sweep import _heartbeat

    store = Store(url, sweep=sweep, lease_s=60.0)
    store.calls, store.seconds = 0, 0.0
    start.wait()  # every worker has imported and connected: the clock starts
    t0 = time.time()
    mine = []
    for key in keys:  # the loop of spikelite.sweep.work: claim in order, skip held ones
        if not store.claim(key, key, {"k": key}):
            continue
        with _heartbeat(store, key, every=point_s / 2):
            time.sleep(point_s)
        store.finish(key, {"key": key, "name": key, "accuracy": 1.0})
        mine.append(key)
    out.put((mine, store.calls, store.seconds, time.time(), t0))
    store.close()


def _tiny_worker(recipe_dump: dict[str, Any], ckpt: str, acc: float, host: str,
                 start: Any, out: Any) -> None:
    os.environ["SPIKELITE_HOST"] = host
    import torch

    torch.set_num_threads(1)
    from spikelite.sweep import store as store_mod
    from spikelite.sweep import work
    from spikelite.sweep.recipe import Recipe

    made: list[Any] = []
    init = store_mod.Store.__init__

    def counting(self: Any, *a: Any, **k: Any) -> None:  # collect this process's stores
        init(self, *a, **k)
        made.append(self)

    store_mod.Store.__init__ = counting  # type: ignore[method-assign]
    from spikelite.data.spec import load_data
    from spikelite.sweep.point import execute  # noqa: F401  (imported before the clock)

    recipe = Recipe.model_validate(recipe_dump)
    load_data(recipe.data)
    start.wait()
    t0 = time.time()
    ran = work(recipe, Path(recipe.out), Path(ckpt), acc)
    out.put((ran, sum(s.calls for s in made), sum(s.seconds for s in made), time.time(), t0))


def run(kind: str, n: int, server: Any, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from spikelite.sweep.store import Store

    url = server.create_database(f"bench_{kind}_{n}")
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start = ctx.Barrier(n)
    if kind == "sleep":
        sweep = "bench"
        keys = [f"p{i:04d}" for i in range(args.points)]
        procs = [ctx.Process(target=_sleep_worker, args=(
            url, sweep, keys, args.point_s, f"m{i}", start, out)) for i in range(n)]
    else:
        from spikelite.sweep.shared import sweep_id
        from spikelite.sweep.sweep import baseline_once

        recipe = _tiny(tmp / f"t{n}", url, args.points)
        sweep = sweep_id(recipe)
        ckpt, acc = baseline_once(recipe, Store(url, sweep=sweep), tmp / f"t{n}",
                                  progress=False)
        keys = []
        procs = [ctx.Process(target=_tiny_worker, args=(
            recipe.model_dump(mode="json"), str(ckpt), acc, f"m{i}", start, out))
            for i in range(n)]
    for p in procs:
        p.start()
    got = [out.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
    end, begin = max(g[3] for g in got), min(g[4] for g in got)
    store = Store(url, sweep=sweep)
    recs = [r for r in store.records() if not r["key"].startswith("baseline-")]
    store.close()
    finished = sum(len(g[0]) if isinstance(g[0], list) else g[0] for g in got)
    points = len(recs)
    dup = finished - len({r["key"] for r in recs if r["status"] == "done"}) + \
        sum(max(0, r["attempts"] - 1) for r in recs)
    calls = sum(g[1] for g in got)
    secs = sum(g[2] for g in got)
    return {"kind": kind, "workers": n, "points": points,
            "per_min": points / (end - begin) * 60, "duplicates": dup,
            "calls_per_point": calls / points, "store_ms_per_point": secs / points * 1e3,
            "wall_s": end - begin}


def _tiny(out: Path, url: str, points: int) -> Any:
    from spikelite.sweep.recipe import Recipe

    bits = [8, 6, 5, 4, 3, 2]
    grid = [{"schedule": "ptq", "scheme": s, "bits": bits} for s in ("duq", "rescaw")]
    grid.append({"schedule": "ptq", "scheme": "uniform", "bits": bits})
    rec = Recipe.model_validate({
        "name": "bench", "out": str(out), "threads": 1, "store": url,
        "data": {"name": "digits", "time_steps": 4, "limit": 48},
        "model": {"name": "mlp", "kwargs": {"hidden": [24]}},
        "baseline": {"train": {"epochs": 1, "batch_size": 16, "lr": 0.005}},
        "finetune": {"epochs": 1, "batch_size": 16},
        "hardware": {"presets": ["horowitz45-derived"], "formats": ["dense"], "samples": 16},
        "grid": grid})
    keep = rec.expand()[:points]
    return rec.model_copy(update={"grid": [], "points": keep})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kind", choices=["sleep", "tiny", "both"], default="both")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--points", type=int, default=None,
                    help="points per run (default: 120 sleep, 16 tiny)")
    ap.add_argument("--point-s", type=float, default=0.25, help="seconds a sleep point takes")
    args = ap.parse_args()
    import tempfile

    import _pg

    reason = _pg.skip_reason()
    if reason:
        sys.exit(f"cannot start a PostgreSQL server here: {reason}")
    server = _pg.start_server()
    print(f"# {os.cpu_count()} cores; PostgreSQL on 127.0.0.1:{server.port}", flush=True)
    print("| points | workers | points/min | duplicates | store calls/point | "
          "store time/point | wall |")
    print("|---|---|---|---|---|---|---|")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            kinds = ["sleep", "tiny"] if args.kind == "both" else [args.kind]
            for kind in kinds:
                default = 120 if kind == "sleep" else 16
                a = argparse.Namespace(**{**vars(args), "points": args.points or default})
                for n in args.workers:
                    r = run(kind, n, server, a, Path(tmp))
                    label = (f"sleep {a.point_s:g} s" if kind == "sleep" else "tiny PTQ")
                    print(f"| {r['points']} × {label} | {n} | {r['per_min']:.0f} | "
                          f"{r['duplicates']} | {r['calls_per_point']:.1f} | "
                          f"{r['store_ms_per_point']:.1f} ms | {r['wall_s']:.1f} s |",
                          flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
