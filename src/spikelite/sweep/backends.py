"""The two databases under :class:`~spikelite.sweep.store.Store`: an embedded SQLite file
(one machine, no server) and a PostgreSQL server (many machines).

A backend only opens DB-API connections, begins/ends transactions and spells the SQL of
its engine; the claim/heartbeat/lease logic is written once in the store. SQLite
serialises writers with ``BEGIN IMMEDIATE``; PostgreSQL locks the claimed row
(``SELECT … FOR UPDATE``) and inserts new rows with ``ON CONFLICT DO NOTHING``, so two
machines never both claim one point. Each PostgreSQL sweep lives in its own schema
(``spikelite_<name>_<hash>``), so several sweeps on one server never mix.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from spikelite.errors import SpikeliteError
from spikelite.sweep.storeurl import CONNECT_TIMEOUT_S, connect_error, redact, require_driver

#: The runs table; ``{real}`` is a 64-bit float (PostgreSQL's REAL is 32-bit: a Unix
#: time in it would be off by minutes).
RUNS = """
CREATE TABLE IF NOT EXISTS {table} (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    config TEXT NOT NULL,
    result TEXT,
    error TEXT,
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started {real},
    heartbeat {real},
    finished {real}
)"""
#: Per-sweep facts (the recipe, where the artifacts are), PostgreSQL only.
META = "CREATE TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY, v TEXT NOT NULL)"
#: Schema-name prefix of the sweeps in a PostgreSQL database.
PREFIX = "spikelite_"


def namespace(sweep: str) -> str:
    """The PostgreSQL schema of sweep ``sweep``: ``spikelite_`` + lower-case letters,
    digits and ``_`` (at most 63 characters, PostgreSQL's limit)."""
    s = re.sub(r"[^a-z0-9_]+", "_", sweep.lower()).strip("_") or "sweep"
    return (PREFIX + s)[:63]


class SqliteBackend:
    """An SQLite file (WAL); one connection per operation."""

    shared = False
    lock = ""  # BEGIN IMMEDIATE already holds the write lock

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self.runs = "runs"
        path.parent.mkdir(parents=True, exist_ok=True)

    def sql(self, text: str) -> str:
        return text.replace("{T}", self.runs).replace("{lock}", self.lock)

    def connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise SpikeliteError(f"cannot open the results store '{self.path}': {exc}") from None

    def begin(self, con: Any) -> None:
        con.execute("BEGIN IMMEDIATE")

    def commit(self, con: Any) -> None:
        con.execute("COMMIT")

    def rollback(self, con: Any) -> None:
        con.execute("ROLLBACK")

    def init_schema(self, attempts: int = 200) -> None:
        """Switch to WAL and create the table. Several workers may open a new store at
        once; SQLite answers a concurrent journal-mode change with "database is locked"
        without waiting on the busy timeout, so that case is retried with a short sleep."""
        for attempt in range(attempts):
            con = self.connect()
            try:
                mode = con.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    con.execute("PRAGMA journal_mode=WAL")
                con.executescript(RUNS.format(table="runs", real="REAL") + ";")
                return
            except sqlite3.DatabaseError as exc:
                if "disk is full" in str(exc) or getattr(exc, "sqlite_errorcode", 0) == 13:
                    raise  # the store turns it into DiskFullError
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


class PostgresBackend:
    """A PostgreSQL database through psycopg 3, connections pooled by SQLAlchemy (pre-
    pinged, so a restarted server costs one reconnect, not a failed point); one schema
    per sweep."""

    shared = True
    lock = " FOR UPDATE"

    def __init__(self, url: str, sweep: str) -> None:
        require_driver()
        from sqlalchemy import create_engine
        from sqlalchemy.exc import ArgumentError

        self.url = url
        self.where = redact(url).replace("postgresql+psycopg://", "postgresql://")
        self.schema = namespace(sweep)
        self.runs = f'"{self.schema}".runs'
        self.meta = f'"{self.schema}".meta'
        try:
            self.engine = create_engine(
                url, pool_size=2, max_overflow=8, pool_pre_ping=True,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_S,
                              "application_name": "spikelite"})
        except (ArgumentError, ValueError) as exc:
            raise SpikeliteError(f"--store {self.where!r} is not a valid PostgreSQL URL "
                                 f"({exc}); write 'postgresql://user@host:5432/database'"
                                 ) from None

    def sql(self, text: str) -> str:
        text = text.replace("%", "%%").replace("?", "%s")
        return text.replace("{T}", self.runs).replace("{lock}", self.lock)

    def connect(self) -> Any:
        try:
            return self.engine.raw_connection()
        except Exception as exc:
            raise connect_error(exc, self.url) from None

    def begin(self, con: Any) -> None:
        """psycopg opens the transaction with the first statement."""

    def commit(self, con: Any) -> None:
        con.commit()

    def rollback(self, con: Any) -> None:
        con.rollback()

    def init_schema(self) -> None:
        """Create the sweep's schema and tables (under an advisory lock: concurrent
        ``CREATE SCHEMA IF NOT EXISTS`` can collide)."""
        con = self.connect()
        try:
            cur = con.cursor()
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            cur.execute(RUNS.format(table=self.runs, real="DOUBLE PRECISION"))
            cur.execute(META.format(table=self.meta))
            con.commit()
        finally:
            con.close()

    def dispose(self) -> None:
        self.engine.dispose()


def list_sweeps(url: str) -> list[str]:
    """The sweep schemas in the PostgreSQL database at ``url`` (without the prefix)."""
    backend = PostgresBackend(url, "probe")
    con = backend.connect()
    try:
        cur = con.cursor()
        cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s ORDER BY 1",
                    (PREFIX.replace("_", "\\_") + "%",))
        names = [r[0][len(PREFIX):] for r in cur.fetchall()]
    finally:
        con.close()
        backend.dispose()
    return names
