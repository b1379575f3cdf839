"""One sweep across many machines: a PostgreSQL results store (a real, throwaway server)
shared by processes with separate output folders and their own host names."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from spikelite.cli import app
from spikelite.errors import MissingExtraError, SpikeliteError
from spikelite.sweep import Store, run_sweep
from spikelite.sweep.recipe import run_key
from spikelite.sweep.shared import sweep_id

from ._pg import wait_until
from ._tiny import tiny_recipe

runner = CliRunner()
#: Columns that measure wall time, not the result.
TIMING = ("seconds", "train_seconds")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SPIKELITE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _db(pg_server, name: str) -> str:
    return pg_server.create_database(name)


def _strip(rows):
    return sorted(({k: v for k, v in r.items() if k not in TIMING} for r in rows),
                  key=lambda r: r["key"])


def test_three_machines_share_one_store_every_point_once(tmp_path, pg_server):
    url = _db(pg_server, "three")
    recipe = tiny_recipe(tmp_path / "unused", threads=1)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe.model_dump(mode="json")))
    shared = tmp_path / "shared"
    code = "from spikelite.cli import app; app()"
    procs = []
    for i in range(3):  # three "machines": own host name, own output folder
        env = {**os.environ, "SPIKELITE_HOST": f"machine-{i}",
               "PYTHONPATH": os.pathsep.join(sys.path)}
        cmd = [sys.executable, "-c", code, "sweep", str(path), "--store", url, "--out",
               str(tmp_path / f"m{i}"), "--artifacts", str(shared), "--no-progress",
               "--no-report"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(outs)
    store = Store(url, sweep=sweep_id(recipe))
    recs = store.records()
    keys = sorted(run_key(recipe, p) for p in recipe.expand())
    points = [r for r in recs if not r["key"].startswith("baseline-")]
    base = [r for r in recs if r["key"].startswith("baseline-")]
    assert sorted(r["key"] for r in points) == keys  # one row per point
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in recs)  # each once
    assert len(base) == 1 and base[0]["attempts"] == 1  # the baseline trained once
    assert len(list((shared / "baselines").iterdir())) == 1
    assert sorted(p.name for p in (shared / "artifacts").iterdir()) == keys
    assert not any((tmp_path / f"m{i}" / "results.sqlite").exists() for i in range(3))
    # every machine exported every row, and they equal a one-machine (SQLite) run
    one = run_sweep(tiny_recipe(tmp_path / "one", threads=1), progress=False,
                    report=False)
    want = _strip(one.rows)
    for i in range(3):
        got = yaml.safe_load((tmp_path / f"m{i}" / "results.json").read_text())
        assert _strip(got) == want
    assert _strip([r["result"] for r in points]) == [
        {k: v for k, v in r.items() if k not in ("energy_ratio", "size_ratio")}
        for r in want]
    # report / pareto / export from any machine: here a folder that holds nothing
    elsewhere = tmp_path / "laptop"
    res = runner.invoke(app, ["pareto", str(elsewhere), "--store", url])
    assert res.exit_code == 0, res.output
    assert "Pareto front" in res.output
    res = runner.invoke(app, ["report", str(elsewhere), "--store", url])
    assert res.exit_code == 0, res.output
    assert (elsewhere / "report.html").is_file() and (elsewhere / "breakdown.png").is_file()
    res = runner.invoke(app, ["export", str(elsewhere), "--store", url, "--point",
                              "ptq-duq4", "--out", str(tmp_path / "p.nir"), "--no-check"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p.nir").is_file()


def _machine(recipe_dump: dict, host: str, ckpt: str, acc: float) -> None:
    os.environ["SPIKELITE_HOST"] = host
    import torch

    torch.set_num_threads(1)
    from spikelite.sweep import work
    from spikelite.sweep.recipe import Recipe

    recipe = Recipe.model_validate(recipe_dump)
    work(recipe, Path(recipe.out), Path(ckpt), acc)


def test_a_killed_machines_point_is_taken_over_after_its_lease(tmp_path, pg_server,
                                                                monkeypatch):
    url = _db(pg_server, "lease")
    monkeypatch.setenv("SPIKELITE_HOST", "machine-b")
    grid = [{"schedule": "joint", "scheme": "duq", "bits": [8, 4, 2],
             "method": "magnitude", "sparsity": 0.5}]
    recipe = tiny_recipe(tmp_path / "a", points=[], grid=grid, threads=1, store=url,
                         artifacts=str(tmp_path / "shared"), lease_s=2.0)
    from spikelite.sweep.sweep import baseline_once

    store = Store(url, sweep=sweep_id(recipe), lease_s=2.0)
    ckpt, acc = baseline_once(recipe, store, tmp_path / "a", progress=False)
    proc = mp.get_context("spawn").Process(target=_machine, args=(
        recipe.model_dump(mode="json"), "machine-a", str(ckpt), acc))
    proc.start()
    ok = wait_until(lambda: store.counts().get("done", 0) >= 2 and  # baseline + a point
                    store.counts().get("running", 0) == 1, timeout=120, poll=0.02)
    if not ok:
        proc.kill()
        pytest.fail(f"machine a never got going: {store.counts()}")
    os.kill(proc.pid, signal.SIGKILL)  # mid-point
    proc.join()
    before = {r["key"]: r for r in store.records()}
    killed = [k for k, r in before.items() if r["status"] == "running"]
    assert len(killed) == 1 and before[killed[0]]["worker"].startswith("machine-a:")
    done_before = {k for k, r in before.items()
                   if r["status"] == "done" and not k.startswith("baseline-")}
    # machine b joins late: it takes what is left, and the killed point once its lease ran out
    late = recipe.model_copy(update={"out": str(tmp_path / "b")})
    t0 = time.time()
    res = run_sweep(late, progress=False, report=False)
    after = {r["key"]: r for r in store.records()}
    assert not res.failed and len(res.rows) == 3
    assert res.skipped == len(done_before) and res.ran == 3 - len(done_before)
    assert after[killed[0]]["status"] == "done" and after[killed[0]]["attempts"] == 2
    assert after[killed[0]]["worker"].startswith("machine-b:")
    assert time.time() - after[killed[0]]["started"] < time.time() - t0 + 1
    for k in done_before:  # finished rows are kept, not redone
        assert after[k]["attempts"] == 1 and after[k]["result"] == before[k]["result"]


def test_two_sweeps_on_one_server_do_not_mix(tmp_path, pg_server):
    url = _db(pg_server, "two")
    a = tiny_recipe(tmp_path / "a", name="alpha", store=url)
    b = tiny_recipe(tmp_path / "b", name="beta", store=url)
    assert sweep_id(a) != sweep_id(b)
    sa, sb = Store(url, sweep=sweep_id(a)), Store(url, sweep=sweep_id(b))
    key = run_key(a, a.expand()[0])
    assert key == run_key(b, b.expand()[0])  # same point, same key ...
    assert sa.claim(key, "fp32", {}) and sb.claim(key, "fp32", {})  # ... two rows
    sa.finish(key, {"key": key, "name": "fp32", "accuracy": 0.5})
    assert sa.status(key) == "done" and sb.status(key) == "running"
    assert sb.results() == [] and len(sa.results()) == 1
    from spikelite.sweep.backends import list_sweeps

    assert sorted(list_sweeps(url)) == sorted([sweep_id(a), sweep_id(b)])
    # reading one sweep from the server alone needs its name when there are several
    res = runner.invoke(app, ["pareto", str(tmp_path / "x"), "--store", url])
    assert res.exit_code != 0 and "--sweep" in res.output
    sa.close()
    sb.close()


@pytest.mark.parametrize("case", ["unreachable", "password", "database", "malformed",
                                  "driver"])
def test_store_errors_are_one_line_before_any_training(tmp_path, pg_server, case,
                                                        monkeypatch):
    from spikelite.sweep.preflight import preflight

    port = pg_server.port
    url = {"unreachable": f"postgresql://u@127.0.0.1:{_closed_port()}/db",
           "password": pg_server.password_url("wrong"),
           "database": pg_server.url("no_such_db"),
           "malformed": f"postgresql://u@127.0.0.1:{port}x/db",
           "driver": pg_server.url()}[case]
    want = {"unreachable": "cannot reach the results store", "password": "refused the login",
            "database": "database does not exist", "malformed": "is not a number",
            "driver": "spikelite[postgres]"}[case]
    if case == "driver":
        monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    out = tmp_path / "s"
    with pytest.raises((SpikeliteError, MissingExtraError)) as info:
        preflight(tiny_recipe(out, store=url))
    msg = str(info.value)
    assert want in msg and "\n" not in msg and "wrong" not in msg  # password hidden
    if case == "driver":
        assert isinstance(info.value, MissingExtraError) and info.value.extra == "postgres"
    assert not out.exists()  # nothing written, nothing trained
    res = runner.invoke(app, ["sweep", "demo", "--store", url, "--out", str(out),
                              "--no-progress", "--set", "data.limit=16"])
    assert res.exit_code != 0 and want in res.output and not (out / "baselines").exists()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_search_trials_use_the_shared_server(tmp_path, pg_server):
    from spikelite.sweep.search import storage_url

    url = pg_server.url()
    r = tiny_recipe(tmp_path / "s", store=url, search={"trials": 2})
    assert storage_url(r, None) == url.replace("postgresql://", "postgresql+psycopg://")
    assert storage_url(r, "sqlite:///x.db") == "sqlite:///x.db"
    assert storage_url(tiny_recipe(tmp_path / "s", search={"trials": 2}), None).startswith(
        "sqlite:///")
