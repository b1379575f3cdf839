"""Bad sweep recipes are refused before any work (issue #12, items 3-5).

Every case runs ``spikelite sweep`` on a bad recipe (and, for what the recipe alone decides,
:func:`load_recipe` too) and asserts exit code 2, one ``error:`` line naming the problem,
no traceback, and that nothing was written: no baseline trained, no sweep folder.
Then: a full disk (ENOSPC) while a sweep writes, and a killed worker / killed parent /
two concurrent runs on real worker processes.
"""

from __future__ import annotations

import copy
import csv
import errno
import io
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from spikelite.errors import SpikeliteError
from spikelite.sweep.recipe import Recipe, load_recipe
from spikelite.sweep.store import STORE, Store

runner = CliRunner()

BASE: dict[str, Any] = {
    "name": "tiny",
    "data": {"name": "digits", "time_steps": 4, "limit": 48},
    "model": {"name": "mlp", "kwargs": {"hidden": [24]}},
    "baseline": {"train": {"epochs": 1, "batch_size": 16, "lr": 0.005}},
    "finetune": {"epochs": 2, "batch_size": 16},
    "hardware": {"presets": ["horowitz45-derived"], "formats": ["dense"], "samples": 16},
    "points": [{"name": "fp32", "schedule": "baseline"}],
    "grid": [{"schedule": "ptq", "scheme": "duq", "bits": [4, 2]}],
}
SEARCH = {"trials": 2, "space": {"scheme": ["duq"], "bits": [2, 4]}}


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SPIKELITE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def recipe(**changes: Any) -> dict[str, Any]:
    """BASE with top-level keys replaced (``None`` deletes a key)."""
    d = copy.deepcopy(BASE)
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def with_points(*points: dict[str, Any], grid: list[Any] | None = None) -> dict[str, Any]:
    return recipe(points=[{"name": "fp32", "schedule": "baseline"}, *points],
                  grid=grid if grid is not None else [])


J4 = {"schedule": "joint", "scheme": "duq", "bits": 4}

# -- what the recipe alone decides (load_recipe and the CLI) ------------------------------
STATIC = {
    "no-points": (recipe(points=[], grid=[]), "the recipe has no points"),
    "no-points-key": (recipe(points=None, grid=None), "the recipe has no points"),
    "grid-bits-empty": (recipe(points=[], grid=[{"schedule": "ptq", "scheme": "duq",
                                                 "bits": []}]), "grid[0].bits is an empty list"),
    "grid-scheme-empty": (recipe(grid=[{"schedule": "ptq", "scheme": [], "bits": 4}]),
                          "grid[0].scheme is an empty list"),
    "grid-schedule-empty": (recipe(grid=[{"schedule": [], "scheme": "duq", "bits": 4}]),
                            "grid[0].schedule is an empty list"),
    "grid-sparsity-empty": (recipe(grid=[{"schedule": "joint", "method": "magnitude",
                                          "sparsity": []}]), "grid[0].sparsity is an empty list"),
    "grid-method-empty": (recipe(grid=[{"schedule": "joint", "method": [], "sparsity": 0.5}]),
                          "grid[0].method is an empty list"),
    "second-block-empty": (recipe(grid=[{"schedule": "ptq", "scheme": "duq", "bits": 4},
                                        {"schedule": "ptq", "scheme": "duq", "bits": []}]),
                           "grid[1].bits is an empty list"),
    "duplicate-explicit-names": (with_points({"name": "a", **J4},
                                             {"name": "a", **J4, "bits": 2}),
                                 "two different points are named 'a'"),
    "name-equals-grid-label": (recipe(points=[{"name": "ptq-duq4", "schedule": "ptq",
                                               "scheme": "duq", "bits": 8}]),
                               "two different points are named 'ptq-duq4'"),
    "same-label-other-finetune": (with_points(grid=[
        {"schedule": "joint", "scheme": "duq", "bits": 4},
        {"schedule": "joint", "scheme": "duq", "bits": 4, "finetune": {"epochs": 1}}]),
        "two different points are named 'joint-duq4'"),
    "same-settings-two-names": (with_points({"name": "a", **J4}, {"name": "b", **J4}),
                                "have the same settings"),
    "baseline-twice": (with_points({"name": "base2", "schedule": "baseline"}),
                       "have the same settings"),
    "duq-1-bit-point": (with_points({"name": "d1", **J4, "bits": 1}), "needs bits >= 2"),
    "duq-1-bit-grid": (recipe(grid=[{"schedule": "ptq", "scheme": "duq", "bits": [4, 1]}]),
                       "grid[0] combination 2"),
    "ternary-4-bit": (recipe(grid=[{"schedule": "ptq", "scheme": "ternary", "bits": 4}]),
                      "quantizer 'ternary' has exactly 3 levels"),
    "lsq-1-bit": (recipe(grid=[{"schedule": "ptq", "scheme": "lsq", "bits": 1}]),
                  "quantizer 'lsq' is signed"),
    "layer-bits-1": (with_points({"name": "lb", **J4, "layer_bits": {"fc1.module": 1}}),
                     "layer_bits['fc1.module']"),
    "layer-bits-bad-scheme": (with_points({"name": "lb", **J4, "layer_bits": {
        "fc1.module": {"scheme": "nope", "bits": 4}}}), "nope"),
    "quant-option-unknown": (with_points({"name": "qo", **J4, "quant_options": {"foo": 1}}),
                             "no option(s) foo"),
    "objective-sense": (recipe(objectives=["accuracy:maxx"]), "the sense must be 'max' or 'min'"),
    "objective-empty": (recipe(objectives=[":min"]), "bad objective"),
    "storage-scheme": (recipe(search={**SEARCH, "storage": "redis://localhost/0"}),
                       "unknown database 'redis'"),
    "storage-not-url": (recipe(search={**SEARCH, "storage": "my study"}),
                        "is not a database URL"),
    "storage-sqlite-no-file": (recipe(search={**SEARCH, "storage": "sqlite://"}),
                               "names no file"),
    "storage-no-host": (recipe(search={**SEARCH, "storage": "postgresql:///db"}),
                        "names no host"),
    "search-duq-1-bit": (recipe(search={**SEARCH, "space": {"scheme": ["duq"],
                                                            "bits": [1, 2]}}),
                         "search.space"),
    "search-method": (recipe(search={**SEARCH, "space": {"method": "bogus"}}),
                      "search.space.method"),
    "search-sparsity-range": (recipe(search={**SEARCH, "space": {"sparsity": [0.9, 0.1]}}),
                              "search.space.sparsity"),
    "search-schedule": (recipe(search={**SEARCH, "space": {"schedule": ["bogus"]}}),
                        "search.space.schedule"),
    "search-objective": (recipe(search={**SEARCH, "objectives": ["energy:sideways"]}),
                         "search.objectives"),
}

# -- what needs the data or the model (the CLI and preflight; still no training) ----------
CSNN = {"name": "csnn", "kwargs": {"widths": [4, 8]}}
QP = {"schedule": "qp", "method": "svs", "sparsity": 0.5}
RUNTIME = {
    "layer-bits-unknown-layer": (with_points({"name": "x", **J4,
                                              "layer_bits": {"no.such.layer": 2}}),
                                 "layer_bits names unknown layers ['no.such.layer']"),
    "layer-sparsity-unknown-layer": (with_points({"name": "x", "schedule": "joint",
                                                  "method": "magnitude",
                                                  "layer_sparsity": {"nope": 0.5}}),
                                     "layer_sparsity names unknown layers ['nope']"),
    "regularizer-unknown-layer": (with_points({"name": "x", "schedule": "finetune",
                                               "regularizer": {"name": "l1",
                                                               "layers": ["nope"]}}),
                                  "regularizer layers not in the model"),
    "regularizer-membrane-on-linear": (with_points({"name": "x", "schedule": "finetune",
                                                    "regularizer": {
                                                        "name": "l1", "source": "membrane",
                                                        "layers": ["fc1.module"]}}),
                                       "not spikelite neurons"),
    "baseline-regularizer-unknown": (recipe(baseline={**BASE["baseline"], "regularizer": {
        "name": "l1", "layers": ["nope"]}}), "baseline.regularizer"),
    "channel-pruning-without-convs": (with_points({"name": "x", **QP}),
                                      "no conv layer to prune"),
    "channel-ratio-unknown-conv": (recipe(model=CSNN, grid=[], points=[
        {"name": "x", **QP, "sparsity": 0.0, "layer_sparsity": {"nope": 0.5}}]),
        "unknown conv 'nope'"),
    "channel-ratio-last-conv": (recipe(model=CSNN, grid=[], points=[
        {"name": "x", **QP, "sparsity": 0.0, "layer_sparsity": {"conv2": 0.5}}]),
        "last conv"),
    "model-kwarg-unknown": (recipe(model={"name": "mlp", "kwargs": {"bogus": 1}}),
                            "has no parameter(s) 'bogus'"),
    "baseline-checkpoint-missing": (recipe(baseline={"checkpoint": "/nonexistent/ckpt"}),
                                    "is not a spikelite checkpoint"),
    "device-unknown": (recipe(device="quantum"), "device 'quantum'"),
    "data-root-missing": (recipe(data={"name": "nmnist", "root": "/nonexistent/nmnist"}),
                          "/nonexistent/nmnist"),
    "data-root-none": (recipe(data={"name": "nmnist"}), "needs root="),
    "data-option-unknown": (recipe(data={"name": "digits", "kwargs": {"bogus": 1}}),
                            "does not accept the option(s) ['bogus']"),
    "storage-missing-folder": (recipe(search={**SEARCH,
                                              "storage": "sqlite:////nonexistent/d/x.db"}),
                               "cannot open the search storage"),
    "storage-unreachable": (recipe(search={**SEARCH,
                                           "storage": "postgresql://u@127.0.0.1:1/db"}),
                            "search storage 'postgresql://u@127.0.0.1:1/db'"),
}


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def refused(tmp_path: Path, data: dict[str, Any], *extra: str) -> str:
    """Run the CLI on ``data``; assert exit 2, one error line, nothing written."""
    out = tmp_path / "out"
    res = runner.invoke(app(), ["sweep", str(write(tmp_path, data)), "--out", str(out),
                                "--no-progress", *extra])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.output.count("error:") == 1, res.output
    assert not (out / "baselines").exists() and not out.exists(), sorted(out.rglob("*"))
    return " ".join(res.output.split())


def app() -> Any:
    from spikelite.cli import app as cli_app

    return cli_app


@pytest.mark.parametrize("case", sorted(STATIC))
def test_load_recipe_refuses(case, tmp_path):
    data, needle = STATIC[case]
    with pytest.raises(SpikeliteError) as e:
        load_recipe(write(tmp_path, data))
    assert needle in str(e.value)


@pytest.mark.parametrize("case", sorted(STATIC))
def test_cli_refuses_before_work(case, tmp_path):
    data, needle = STATIC[case]
    assert needle in refused(tmp_path, data)


@pytest.mark.parametrize("case", sorted(RUNTIME))
def test_cli_refuses_what_needs_the_model_before_training(case, tmp_path):
    data, needle = RUNTIME[case]
    assert needle in refused(tmp_path, data)


@pytest.mark.parametrize("case", sorted(RUNTIME))
def test_run_sweep_refuses_before_writing_anything(case, tmp_path):
    from spikelite.sweep import run_sweep

    data, needle = RUNTIME[case]
    r = Recipe.model_validate({**data, "out": str(tmp_path / "out")})
    with pytest.raises(SpikeliteError) as e:
        run_sweep(r, progress=False, console=Console(file=io.StringIO()))
    assert needle in " ".join(str(e.value).split())
    assert not (tmp_path / "out").exists()


def test_search_without_optuna_is_one_line_before_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna → ImportError
    text = refused(tmp_path, recipe(search=SEARCH))
    assert "pip install 'spikelite[search]'" in text


@pytest.mark.parametrize(("args", "data", "needle"), [
    (["--workers", "0"], BASE, "workers must be an integer >= 1"),
    (["--storage", "redis://x/0"], recipe(search=SEARCH), "unknown database 'redis'"),
    (["--storage", "sqlite:///x.db"], BASE, "this recipe has none"),
    (["--set", "grid=[]", "--set", "points=[]"], BASE, "the recipe has no points"),
    (["--set", "grid=[{schedule: ptq, scheme: duq, bits: []}]"], BASE,
     "grid[0].bits is an empty list"),
])
def test_cli_options_refused_before_work(args, data, needle, tmp_path):
    assert needle in refused(tmp_path, data, *args)


def test_out_is_an_existing_file(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    res = runner.invoke(app(), ["sweep", str(write(tmp_path, BASE)), "--out", str(target),
                                "--no-progress"])
    assert res.exit_code == 2 and "is an existing file" in res.output, res.output
    assert target.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_out_in_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        res = runner.invoke(app(), ["sweep", str(write(tmp_path, BASE)), "--out",
                                    str(ro / "sweep"), "--no-progress"])
    finally:
        ro.chmod(0o700)
    assert res.exit_code == 2 and "is not writable" in res.output, res.output
    assert not (ro / "sweep").exists()


@pytest.mark.parametrize("command", ["sweep", "report"])
def test_a_corrupt_results_store_is_one_line_and_kept(command, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / STORE).write_bytes(b"not a database " * 100)
    args = ([str(write(tmp_path, BASE)), "--out", str(out), "--no-progress"]
            if command == "sweep" else [str(out)])
    res = runner.invoke(app(), [command, *args])
    assert res.exit_code == 2 and "file is not a database" in res.output, res.output
    assert "Traceback" not in res.output
    assert (out / STORE).read_bytes() == b"not a database " * 100
    assert not (out / "baselines").exists()


def test_every_builtin_recipe_passes_the_static_checks():
    from spikelite.sweep.recipe import builtin_recipes

    for name in builtin_recipes():
        assert load_recipe(name).check().expand(), name


# -- a full disk ---------------------------------------------------------------------------
def _enospc(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _sweep(tmp_path: Path) -> Any:
    return runner.invoke(app(), ["sweep", str(write(tmp_path, BASE)), "--out",
                                 str(tmp_path / "out"), "--no-progress", "--no-report"])


def _done(out: Path) -> dict[str, Any]:
    return {r["key"]: r["result"] for r in Store(out / STORE).records("done")}


@pytest.mark.parametrize("where", ["checkpoint", "store", "csv"])
def test_full_disk_is_one_line_leaves_nothing_partial_and_resumes(where, tmp_path,
                                                                 monkeypatch):
    import spikelite.sweep.store as store_mod
    import spikelite.train as train_mod

    out = tmp_path / "out"
    calls = {"n": 0}
    if where == "checkpoint":  # the second point's checkpoint write fills the disk
        real = train_mod.save_checkpoint

        def save(*a: Any, **k: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 2:
                _enospc()
            return real(*a, **k)

        monkeypatch.setattr(train_mod, "save_checkpoint", save)
    elif where == "store":  # SQLite's own "disk is full" on the second result
        real_finish = store_mod.Store.finish

        def finish(self: Any, key: str, result: dict[str, Any]) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise sqlite3.OperationalError("database or disk is full")
            real_finish(self, key, result)

        monkeypatch.setattr(store_mod.Store, "finish", finish)
    else:  # the results.csv export, after every point finished
        class Writer:
            def __init__(self, f: Any, **_: Any) -> None:
                self.f = f

            def writeheader(self) -> None:
                self.f.write("name,partial\n")

            def writerow(self, _row: Any) -> None:
                _enospc()

        monkeypatch.setattr(store_mod.csv, "DictWriter", Writer)
    res = _sweep(tmp_path)
    assert res.exit_code == 2, res.output
    assert "ENOSPC" in res.output and "Traceback" not in res.output, res.output
    assert res.output.count("error:") == 1
    assert not list((out / "artifacts").glob(".tmp-*"))  # no half-written point
    assert not (out / "results.csv").exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    before = _done(out)
    assert len(before) == (3 if where == "csv" else 1)
    cache = os.environ["SPIKELITE_CACHE"]
    monkeypatch.undo()
    monkeypatch.setenv("SPIKELITE_CACHE", cache)
    res = _sweep(tmp_path)  # space freed: the same command resumes
    assert res.exit_code == 0, res.output
    after = _done(out)
    assert len(after) == 3 and all(after[k] == v for k, v in before.items())
    with (out / "results.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 3
    assert sorted(p.name for p in (out / "artifacts").iterdir()) == sorted(after)


# -- another run holding points ------------------------------------------------------------
def test_points_held_by_another_live_run_are_waited_for(tmp_path):
    """A point held by a live process of another run is reported as such and waited for;
    when that run dies, this run takes the point over: right counts, complete rows."""
    from spikelite.sweep import run_sweep
    from spikelite.sweep.recipe import run_key

    r = Recipe.model_validate({**BASE, "out": str(tmp_path / "out")})
    key = run_key(r, r.expand()[1])
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store = Store(tmp_path / "out" / STORE)
        with store._tx() as con:  # the other run's live worker holds one point
            con.execute("INSERT INTO runs (key, name, status, config, worker, attempts, "
                        "started, heartbeat) VALUES (?, 'x', 'running', '{}', ?, 1, ?, ?)",
                        (key, f"{socket.gethostname()}:{holder.pid}", time.time(),
                         time.time()))
        log = io.StringIO()
        box: dict[str, Any] = {}
        t = threading.Thread(target=lambda: box.update(res=run_sweep(
            r, progress=False, report=False, console=Console(file=log, width=200))))
        t.start()
        deadline = time.time() + 60
        while "held by another run" not in log.getvalue() and time.time() < deadline:
            time.sleep(0.1)
        assert f"held by another run (pid {holder.pid})" in log.getvalue()
        assert t.is_alive() and store.status(key) == "running"  # waiting, not failing
    finally:
        holder.kill()
        holder.wait()
    t.join(60)
    res = box["res"]
    assert not res.failed and len(res.rows) == 3 and res.ran == 3 and res.others == 0
    taken = next(x for x in Store(tmp_path / "out" / STORE).records() if x["key"] == key)
    assert taken["status"] == "done" and taken["attempts"] == 2  # taken over, run once here


# -- real worker processes (a subprocess `spikelite sweep --workers 2`) ---------------------
SLOW = recipe(points=[{"name": "fp32", "schedule": "baseline"}], grid=[
    {"schedule": "joint", "scheme": "duq", "bits": [6, 4, 2], "method": "magnitude",
     "sparsity": 0.5, "finetune": {"epochs": 2, "batch_size": 16}}], threads=1)
N_SLOW = 4


def _spawn(tmp_path: Path, data: dict[str, Any], out: Path, workers: int,
           name: str = "run") -> subprocess.Popen[str]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = "from spikelite.cli import app; app()"
    # output to a file, not a pipe: workers inherit it, and reading a pipe to its end
    # would wait for orphan workers too
    with (tmp_path / f"{name}.log").open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-c", code, "sweep", str(path), "--out", str(out), "--workers",
             str(workers), "--no-progress", "--no-report"],
            stdout=log, stderr=subprocess.STDOUT, text=True, env=env)


def _output(proc: subprocess.Popen[str], tmp_path: Path, name: str = "run",
            timeout: float = 150) -> str:
    proc.wait(timeout=timeout)
    return (tmp_path / f"{name}.log").read_text()


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            cmd = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid and b"spawn_main" in cmd:
            out.append(int(p.name))
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_running(out: Path, proc: subprocess.Popen[str], n: int) -> list[dict[str, Any]]:
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        if (out / STORE).is_file():
            running = Store(out / STORE).records("running")
            if len(running) >= n:
                return running
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    pytest.fail(f"the sweep never ran {n} points at once")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_the_parent_kills_its_workers(tmp_path):
    out = tmp_path / "out"
    proc = _spawn(tmp_path, SLOW, out, workers=2)
    _wait_running(out, proc, 2)
    workers = _children(proc.pid)
    assert len(workers) == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 5
    while any(_running(w) for w in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert not [w for w in workers if _running(w)], "orphan workers kept running"


def test_a_killed_worker_has_its_point_retried_in_the_same_run(tmp_path):
    out = tmp_path / "out"
    proc = _spawn(tmp_path, SLOW, out, workers=2)
    victim = _wait_running(out, proc, 1)[0]
    os.kill(int(victim["worker"].rpartition(":")[2]), signal.SIGKILL)
    text = _output(proc, tmp_path)
    assert proc.returncode == 0, text
    assert f"while running {victim['name']}" in text and "retrying" in text
    assert f"{N_SLOW} points ({N_SLOW} run now, 0 reused)" in " ".join(text.split())
    records = {r["key"]: r for r in Store(out / STORE).records()}
    assert len(records) == N_SLOW and all(r["status"] == "done" for r in records.values())
    assert records[victim["key"]]["attempts"] == 2
    with (out / "results.csv").open() as f:
        assert len(list(csv.DictReader(f))) == N_SLOW
    assert not list((out / "artifacts").glob(".tmp-*"))


def test_two_concurrent_runs_give_right_counts_and_complete_results(tmp_path):
    out = tmp_path / "out"
    runs = [_spawn(tmp_path, SLOW, out, workers=w, name=f"r{w}") for w in (2, 1)]
    texts = [_output(p, tmp_path, f"r{w}") for p, w in zip(runs, (2, 1), strict=True)]
    for p, text in zip(runs, texts, strict=True):
        assert p.returncode == 0, text
        assert "failed" not in text and "None" not in text, text
    records = Store(out / STORE).records()
    assert len(records) == N_SLOW and all(r["status"] == "done" and r["attempts"] == 1
                                     for r in records)
    ran = 0
    for text in texts:
        m = re.search(rf"{N_SLOW} points \((\d+) run now, 0 reused"
                      r"(?:, (\d+) run by another run)?\)", " ".join(text.split()))
        assert m, text
        mine, others = int(m.group(1)), int(m.group(2) or 0)
        assert mine + others == N_SLOW
        ran += mine
    assert ran == N_SLOW  # every point ran once, in one of the two runs
    with (out / "results.csv").open() as f:
        assert sorted(r["key"] for r in csv.DictReader(f)) == sorted(r["key"] for r in records)
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == N_SLOW
