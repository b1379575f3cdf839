"""The results store: one SQLite row per run, shared by local worker processes.

A run goes ``running`` → ``done`` (or ``failed``) in single transactions: the result row,
its metrics and timings are written in one ``UPDATE``, so a worker killed at any moment
(even SIGKILL) leaves either no result or a complete one — never half a row. A ``running``
row is claimed again by the next worker when its worker is gone (the process no longer
exists on this host) or its heartbeat is older than ``lease_s`` (another host, or a hung
worker); ``failed`` runs are retried on the next sweep.
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from spikelite.errors import SpikeliteError
from spikelite.sweep.columns import LEADING, upgrade_row

#: File name of the results store inside a run folder.
STORE = "results.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    config TEXT NOT NULL,
    result TEXT,
    error TEXT,
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    heartbeat REAL,
    finished REAL
);
"""

#: errno values of a full disk or quota (ENOSPC, EDQUOT).
DISK_FULL_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if e)


class DiskFullError(SpikeliteError):
    """The disk (or quota) filled up while the sweep wrote; finished points are kept."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a full disk: ``OSError`` ENOSPC/EDQUOT or SQLite's
    "database or disk is full" (SQLITE_FULL)."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == getattr(sqlite3, "SQLITE_FULL", 13) or "disk is full" in str(exc)
    return isinstance(exc, DiskFullError)


def disk_full_error(where: str | Path) -> DiskFullError:
    """The one-line error for a full disk while writing ``where``."""
    return DiskFullError(
        f"no space left on the device (ENOSPC) while writing '{where}'; free some space "
        "and rerun the same command: finished points are kept and the sweep resumes")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(worker: str | None) -> bool | None:
    """Whether ``worker`` (``host:pid``) still runs; ``None`` when it is on another host."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


class Store:
    """SQLite results store at ``path`` (created on first use)."""

    def __init__(self, path: str | Path, *, lease_s: float = 1800.0) -> None:
        self.path = Path(path)
        self.lease_s = lease_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init_schema()

    def _init_schema(self, attempts: int = 200) -> None:
        """Switch to WAL and create the tables. Several workers may open a new store at
        once; SQLite answers a concurrent journal-mode change with "database is locked"
        without waiting on the busy timeout, so that case is retried with a short sleep."""
        for attempt in range(attempts):
            con = self._connect()
            try:
                mode = con.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    con.execute("PRAGMA journal_mode=WAL")
                con.executescript(SCHEMA)
                return
            except sqlite3.DatabaseError as exc:
                if is_disk_full(exc):
                    raise disk_full_error(self.path) from None
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise SpikeliteError(
                        f"'{self.path}' is not a readable results store ({exc}): it is "
                        "damaged or truncated; restore it, or move it away and run the sweep "
                        "again (its points are recomputed)") from None
                if attempt == attempts - 1:
                    raise SpikeliteError(
                        f"the results store '{self.path}' stayed locked while opening it "
                        f"({exc}); is another process holding a write transaction?") from None
                time.sleep(0.05 + 0.01 * attempt)
            finally:
                con.close()

    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise SpikeliteError(f"cannot open the results store '{self.path}': {exc}") from None
        con.row_factory = sqlite3.Row
        return con

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` serialises the workers)."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    # -- claiming and finishing ------------------------------------------------------------
    def claim(self, key: str, name: str, config: dict[str, Any]) -> bool:
        """Mark ``key`` as running by this process; ``False`` when it is done or another
        live worker holds it."""
        now = time.time()
        me = worker_id()
        with self._tx() as con:
            row = con.execute("SELECT status, worker, heartbeat FROM runs WHERE key = ?",
                              (key,)).fetchone()
            if row is not None:
                if row["status"] == "done":
                    return False
                if row["status"] == "running" and row["worker"] != me:
                    alive = _alive(row["worker"])
                    stale = now - (row["heartbeat"] or 0) > self.lease_s
                    if alive is not False and not stale:  # a live worker holds it
                        return False
            con.execute(
                "INSERT INTO runs (key, name, status, config, worker, attempts, started, "
                "heartbeat) VALUES (?, ?, 'running', ?, ?, 1, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET status='running', name=excluded.name, "
                "config=excluded.config, worker=excluded.worker, error=NULL, result=NULL, "
                "attempts=runs.attempts + 1, started=excluded.started, "
                "heartbeat=excluded.heartbeat, finished=NULL",
                (key, name, json.dumps(config, default=str), me, now, now))
        return True

    def heartbeat(self, key: str) -> None:
        with self._tx() as con:
            con.execute("UPDATE runs SET heartbeat = ? WHERE key = ? AND worker = ?",
                        (time.time(), key, worker_id()))

    def finish(self, key: str, result: dict[str, Any]) -> None:
        """Store the complete result of ``key`` (one statement, one transaction)."""
        for k, v in result.items():
            if isinstance(v, float) and math.isnan(v):
                result[k] = None
        with self._tx() as con:
            cur = con.execute(
                "UPDATE runs SET status='done', result=?, error=NULL, finished=? "
                "WHERE key = ? AND worker = ?",
                (json.dumps(result, default=float), time.time(), key, worker_id()))
            if cur.rowcount != 1:
                raise SpikeliteError(f"run {key} was taken over by another worker; its "
                                     "result is not stored twice")

    def update(self, key: str, result: dict[str, Any]) -> None:
        """Replace the result of a finished run (re-costing; one statement)."""
        with self._tx() as con:
            cur = con.execute("UPDATE runs SET result=? WHERE key = ? AND status = 'done'",
                              (json.dumps(result, default=float), key))
            if cur.rowcount != 1:
                raise SpikeliteError(f"run {key} is not finished; nothing to update")

    def abandon(self, key: str, worker: str, error: str) -> bool:
        """Mark ``key`` failed when it is still ``running`` under ``worker`` (a worker
        process that died holding it); ``True`` when the row changed."""
        with self._tx() as con:
            cur = con.execute("UPDATE runs SET status='failed', error=?, finished=? "
                              "WHERE key = ? AND status = 'running' AND worker = ?",
                              (error, time.time(), key, worker))
            return cur.rowcount == 1

    def fail(self, key: str, error: str) -> None:
        with self._tx() as con:
            con.execute("UPDATE runs SET status='failed', error=?, finished=? "
                        "WHERE key = ? AND worker = ?",
                        (error, time.time(), key, worker_id()))

    # -- reading ---------------------------------------------------------------------------
    def status(self, key: str) -> str | None:
        con = self._connect()
        try:
            row = con.execute("SELECT status FROM runs WHERE key = ?", (key,)).fetchone()
        finally:
            con.close()
        return None if row is None else str(row["status"])

    def records(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every run (or those with ``status``) as dicts, oldest first; result rows of an
        older schema are converted (:func:`~spikelite.sweep.columns.upgrade_row`)."""
        con = self._connect()
        try:
            q = "SELECT * FROM runs" + (" WHERE status = ?" if status else "") + \
                " ORDER BY started, key"
            rows = con.execute(q, (status,) if status else ()).fetchall()
        finally:
            con.close()
        out = []
        for r in rows:
            d = dict(r)
            try:
                d["config"] = json.loads(d["config"])
                d["result"] = upgrade_row(json.loads(d["result"])) if d["result"] else None
            except (TypeError, ValueError) as exc:
                raise SpikeliteError(
                    f"'{self.path}': the row of run {d.get('key')!r} holds invalid JSON "
                    f"({exc}); the store was edited or damaged: restore it, or move it away "
                    "and run the sweep again (its points are recomputed)") from None
            out.append(d)
        return out

    def results(self, keys: list[str] | None = None) -> list[dict[str, Any]]:
        """The result rows of the finished runs (restricted to ``keys`` in their order)."""
        done = {r["key"]: r["result"] for r in self.records("done")}
        if keys is None:
            return list(done.values())
        return [done[k] for k in keys if k in done]

    def counts(self) -> dict[str, int]:
        con = self._connect()
        try:
            rows = con.execute("SELECT status, COUNT(*) AS n FROM runs GROUP BY status")
            return {r["status"]: int(r["n"]) for r in rows}
        finally:
            con.close()


def columns(rows: list[dict[str, Any]]) -> list[str]:
    keys = {k for r in rows for k in r}
    return [c for c in LEADING if c in keys] + sorted(keys - set(LEADING))


def write_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Flat rows → CSV (written to a temporary file, then renamed)."""
    path = Path(path)
    cols = columns(rows)
    with _atomic(path) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return path


def write_json(rows: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    with _atomic(path) as tmp:
        tmp.write_text(json.dumps(rows, indent=2, default=float))
    return path


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A temporary file (unique per process, so two runs never share one) renamed onto
    ``path`` when the block succeeds and removed when it fails: ``path`` is either the
    old file or the complete new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
