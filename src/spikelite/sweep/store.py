"""The results store: one row per run, shared by local worker processes (SQLite, the
default) or by the workers of many machines (PostgreSQL, ``--store postgresql://…``).

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


def host() -> str:
    """This machine's name in worker ids: ``SPIKELITE_HOST`` if set (where hostnames are
    not unique, e.g. containers), else the hostname."""
    return os.environ.get("SPIKELITE_HOST") or socket.gethostname()


def worker_id() -> str:
    return f"{host()}:{os.getpid()}"


def _alive(worker: str | None) -> bool | None:
    """Whether ``worker`` (``host:pid``) still runs; ``None`` when it is on another host."""
    if not worker or ":" not in worker:
        return False
    where, _, pid = worker.rpartition(":")
    if where != host():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


class Store:
    """The results store: an SQLite file at ``where`` (a path, or ``sqlite:///path``;
    created on first use) or, for a ``postgresql://`` URL, the schema of sweep ``sweep``
    on that server, shared by every machine that names it (:mod:`~spikelite.sweep.backends`).

    The claim/heartbeat/lease logic below is the same for both; only the connection, the
    transaction and the row lock differ. ``calls`` and ``seconds`` count the store
    operations of this object and the time spent in them (the store's overhead)."""

    def __init__(self, where: str | Path, *, lease_s: float = 1800.0,
                 sweep: str | None = None) -> None:
        from spikelite.sweep.backends import PostgresBackend, SqliteBackend
        from spikelite.sweep.storeurl import parse_store_url

        self.lease_s = lease_s
        self.calls = 0
        self.seconds = 0.0
        parsed = parse_store_url(where) if isinstance(where, str) and "://" in where else None
        self.backend: Any
        if parsed is not None and parsed.shared:
            if not sweep:
                raise SpikeliteError("a shared results store needs the sweep's name (the "
                                     "schema its rows live in); pass sweep=...")
            self.backend = PostgresBackend(parsed.url, sweep)
        else:
            path = parsed.path if parsed is not None else Path(where)
            assert path is not None
            self.backend = SqliteBackend(path)
        self.path = getattr(self.backend, "path", None)
        self.where = self.backend.where
        self.shared = bool(self.backend.shared)
        try:
            self.backend.init_schema()
        except sqlite3.DatabaseError as exc:
            if is_disk_full(exc):
                raise disk_full_error(self.where) from None
            raise

    def _connect(self) -> Any:
        con = self.backend.connect()
        if isinstance(con, sqlite3.Connection):
            con.row_factory = sqlite3.Row
        return con

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One write transaction (SQLite: ``BEGIN IMMEDIATE`` serialises the workers;
        PostgreSQL: row locks, see :meth:`claim`)."""
        t0 = time.perf_counter()
        con = self._connect()
        try:
            self.backend.begin(con)
            try:
                yield con
            except BaseException:
                self.backend.rollback(con)
                raise
            self.backend.commit(con)
        finally:
            con.close()
            self.calls += 1
            self.seconds += time.perf_counter() - t0

    def _exec(self, con: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
        cur = con.cursor()
        cur.execute(self.backend.sql(sql), params)
        return cur

    @staticmethod
    def _rows(cur: Any) -> list[dict[str, Any]]:
        names = [d[0] for d in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        con = self._connect()
        try:
            rows = self._rows(self._exec(con, sql, params))
            if self.shared:
                con.rollback()  # end the read's implicit transaction
            return rows
        finally:
            con.close()
            self.calls += 1
            self.seconds += time.perf_counter() - t0

    # -- claiming and finishing ------------------------------------------------------------
    def claim(self, key: str, name: str, config: dict[str, Any]) -> bool:
        """Mark ``key`` as running by this process; ``False`` when it is done or another
        live worker holds it (its heartbeat younger than ``lease_s``, and on this host its
        process still running). A new key is inserted (``ON CONFLICT DO NOTHING``: of two
        machines inserting it at once one wins); an existing row is locked (``FOR UPDATE``
        on PostgreSQL) before it is judged, so a point is never claimed twice."""
        now = time.time()
        me = worker_id()
        cfg = json.dumps(config, default=str)
        with self._tx() as con:
            cur = self._exec(
                con, "INSERT INTO {T} (key, name, status, config, worker, attempts, started, "
                "heartbeat) VALUES (?, ?, 'running', ?, ?, 1, ?, ?) "
                "ON CONFLICT(key) DO NOTHING", (key, name, cfg, me, now, now))
            if cur.rowcount == 1:
                return True
            rows = self._rows(self._exec(
                con, "SELECT status, worker, heartbeat FROM {T} WHERE key = ?{lock}", (key,)))
            row = rows[0]
            if row["status"] == "done":
                return False
            if row["status"] == "running" and row["worker"] != me:
                alive = _alive(row["worker"])
                stale = now - (row["heartbeat"] or 0) > self.lease_s
                if alive is not False and not stale:  # a live worker holds it
                    return False
            self._exec(
                con, "UPDATE {T} SET status='running', name=?, config=?, worker=?, "
                "error=NULL, result=NULL, attempts=attempts + 1, started=?, heartbeat=?, "
                "finished=NULL WHERE key = ?", (name, cfg, me, now, now, key))
        return True

    def heartbeat(self, key: str) -> None:
        with self._tx() as con:
            self._exec(con, "UPDATE {T} SET heartbeat = ? WHERE key = ? AND worker = ?",
                       (time.time(), key, worker_id()))

    def finish(self, key: str, result: dict[str, Any]) -> None:
        """Store the complete result of ``key`` (one statement, one transaction)."""
        for k, v in result.items():
            if isinstance(v, float) and math.isnan(v):
                result[k] = None
        with self._tx() as con:
            cur = self._exec(
                con, "UPDATE {T} SET status='done', result=?, error=NULL, finished=? "
                "WHERE key = ? AND worker = ? AND status = 'running'",
                (json.dumps(result, default=float), time.time(), key, worker_id()))
            if cur.rowcount != 1:
                raise SpikeliteError(f"run {key} was taken over by another worker; its "
                                     "result is not stored twice")

    def update(self, key: str, result: dict[str, Any]) -> None:
        """Replace the result of a finished run (re-costing; one statement)."""
        with self._tx() as con:
            cur = self._exec(con, "UPDATE {T} SET result=? WHERE key = ? AND status = 'done'",
                             (json.dumps(result, default=float), key))
            if cur.rowcount != 1:
                raise SpikeliteError(f"run {key} is not finished; nothing to update")

    def abandon(self, key: str, worker: str, error: str) -> bool:
        """Mark ``key`` failed when it is still ``running`` under ``worker`` (a worker
        process that died holding it); ``True`` when the row changed."""
        with self._tx() as con:
            cur = self._exec(con, "UPDATE {T} SET status='failed', error=?, finished=? "
                             "WHERE key = ? AND status = 'running' AND worker = ?",
                             (error, time.time(), key, worker))
            return bool(cur.rowcount == 1)

    def fail(self, key: str, error: str) -> None:
        with self._tx() as con:
            self._exec(con, "UPDATE {T} SET status='failed', error=?, finished=? "
                       "WHERE key = ? AND worker = ?", (error, time.time(), key, worker_id()))

    # -- reading ---------------------------------------------------------------------------
    def status(self, key: str) -> str | None:
        rows = self._read("SELECT status FROM {T} WHERE key = ?", (key,))
        return None if not rows else str(rows[0]["status"])

    def records(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every run (or those with ``status``) as dicts, oldest first; result rows of an
        older schema are converted (:func:`~spikelite.sweep.columns.upgrade_row`)."""
        q = "SELECT * FROM {T}" + (" WHERE status = ?" if status else "") + \
            " ORDER BY started, key"
        out = []
        for d in self._read(q, (status,) if status else ()):
            try:
                d["config"] = json.loads(d["config"])
                d["result"] = upgrade_row(json.loads(d["result"])) if d["result"] else None
            except (TypeError, ValueError) as exc:
                raise SpikeliteError(
                    f"'{self.where}': the row of run {d.get('key')!r} holds invalid JSON "
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
        rows = self._read("SELECT status, COUNT(*) AS n FROM {T} GROUP BY status")
        return {r["status"]: int(r["n"]) for r in rows}

    # -- per-sweep facts (shared stores) ---------------------------------------------------
    def set_meta(self, key: str, value: str) -> None:
        """Record a fact of the sweep (its recipe, ...) in a shared store."""
        if not self.shared:
            return
        meta = self.backend.meta
        with self._tx() as con:
            cur = con.cursor()
            cur.execute(f"INSERT INTO {meta} (k, v) VALUES (%s, %s) ON CONFLICT (k) DO "
                        "UPDATE SET v = EXCLUDED.v", (key, value))

    def meta(self, key: str) -> str | None:
        if not self.shared:
            return None
        con = self._connect()
        try:
            cur = con.cursor()
            cur.execute(f"SELECT v FROM {self.backend.meta} WHERE k = %s", (key,))
            row = cur.fetchone()
            con.rollback()
        finally:
            con.close()
        return None if row is None else str(row[0])

    def close(self) -> None:
        """Close a shared store's pooled connections (SQLite holds none)."""
        dispose = getattr(self.backend, "dispose", None)
        if dispose is not None:
            dispose()


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
