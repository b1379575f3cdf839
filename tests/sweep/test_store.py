"""The SQLite store: atomic finish, claims, reclaiming a dead worker's run, exports."""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import sqlite3

from spikelite.sweep.store import Store, write_csv


def test_claim_finish_and_skip_when_done(tmp_path):
    s = Store(tmp_path / "r.sqlite")
    assert s.claim("k1", "a", {"x": 1})
    s.finish("k1", {"key": "k1", "name": "a", "accuracy": 0.5})
    assert s.status("k1") == "done"
    assert not s.claim("k1", "a", {"x": 1})
    assert s.results() == [{"key": "k1", "name": "a", "accuracy": 0.5}]


def _exit_after_claim(path: str) -> None:
    Store(path).claim("k2", "b", {})


def test_a_dead_workers_run_is_claimed_again(tmp_path):
    path = tmp_path / "r.sqlite"
    p = mp.get_context("spawn").Process(target=_exit_after_claim, args=(str(path),))
    p.start()
    p.join()
    s = Store(path)
    rec = s.records()[0]
    assert rec["status"] == "running" and rec["result"] is None
    assert s.claim("k2", "b", {})  # its worker is gone
    assert s.records()[0]["attempts"] == 2


def test_a_live_workers_run_is_not_taken(tmp_path):
    path = tmp_path / "r.sqlite"
    with sqlite3.connect(path) as con:
        Store(path)  # creates the schema
        con.execute("INSERT INTO runs (key, name, status, config, worker, attempts, started, "
                    "heartbeat) VALUES ('k3', 'c', 'running', '{}', 'otherhost:1', 1, "
                    "strftime('%s','now'), strftime('%s','now'))")
    s = Store(path)
    assert not s.claim("k3", "c", {})  # another host, fresh heartbeat
    stale = Store(path, lease_s=-1.0)
    assert stale.claim("k3", "c", {})  # its heartbeat is older than the lease


def test_failed_runs_are_retried_and_keep_their_error(tmp_path):
    s = Store(tmp_path / "r.sqlite")
    s.claim("k", "a", {})
    s.fail("k", "ValueError: boom")
    assert s.records()[0]["error"] == "ValueError: boom"
    assert s.claim("k", "a", {})
    assert s.records()[0]["error"] is None


def test_csv_export_has_leading_columns_and_all_rows(tmp_path):
    rows = [{"name": "a", "accuracy": 0.9, "zeta": 1, "key": "k1"},
            {"name": "b", "accuracy": 0.8, "energy_pj": 3.0, "key": "k2"}]
    path = write_csv(rows, tmp_path / "r.csv")
    with path.open() as f:
        got = list(csv.DictReader(f))
    assert [r["name"] for r in got] == ["a", "b"]
    header = path.read_text().splitlines()[0].split(",")
    assert header[:3] == ["name", "accuracy", "energy_pj"]
    assert json.loads(json.dumps(got))[1]["energy_pj"] == "3.0"


def _open_and_claim(path: str, i: int, start: float) -> None:
    import time

    time.sleep(max(0.0, start - time.time()))  # all processes open the new store at once
    store = Store(path)
    assert store.claim(f"k{i}", f"p{i}", {"i": i})
    store.finish(f"k{i}", {"name": f"p{i}"})


def test_many_processes_creating_one_store_at_once_all_succeed(tmp_path):
    # regression: a concurrent `PRAGMA journal_mode=WAL` on a fresh file raised
    # "database is locked" (it does not wait on the busy timeout) and killed a worker
    import time

    path = tmp_path / "new" / "results.sqlite"
    ctx = mp.get_context("fork")
    for rnd in range(3):
        start = time.time() + 0.3
        procs = [ctx.Process(target=_open_and_claim, args=(str(path), 10 * rnd + i, start))
                 for i in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 8
        path.unlink()
        for extra in ("-wal", "-shm"):
            path.with_name(path.name + extra).unlink(missing_ok=True)
