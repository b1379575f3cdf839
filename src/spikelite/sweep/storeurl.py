"""Results-store URLs (``spikelite sweep --store URL``): parse, normalise, redact, and turn
a failed connection into one line.

Accepted: ``postgresql://user[:password]@host[:port]/database`` (also ``postgres://`` and
``postgresql+psycopg://``; always opened with psycopg 3, extra ``postgres``) for a store
shared by many machines, and ``sqlite:///path/results.sqlite`` for the embedded one-machine
store (the default, ``OUT/results.sqlite``, needs no URL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from spikelite.errors import MissingExtraError, SpikeliteError

#: The optional extra that brings the PostgreSQL driver (psycopg 3) and SQLAlchemy.
EXTRA = "postgres"
#: Seconds a connection attempt waits for the server (libpq waits forever by default).
CONNECT_TIMEOUT_S = 10

_URL = re.compile(r"([A-Za-z][A-Za-z0-9]*)(\+[A-Za-z0-9_]+)?://(.*)", re.S)


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL: ``kind`` is ``"sqlite"`` (``path`` set) or ``"postgresql"``
    (``url`` is the SQLAlchemy URL with the psycopg 3 driver)."""

    kind: str
    url: str
    path: Path | None = None

    @property
    def shared(self) -> bool:
        """Whether several machines can use it (a server, not a local file)."""
        return self.kind == "postgresql"

    @property
    def public(self) -> str:
        """The URL with its password replaced by ``***`` (for logs, files and reports)."""
        return redact(self.url)


def redact(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``***``."""
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)


def parse_store_url(url: str, what: str = "--store") -> StoreURL:
    """Check ``url`` without connecting and return it parsed; a malformed URL or an
    unsupported database raises :class:`SpikeliteError` naming the fix."""
    text = str(url).strip()
    m = _URL.fullmatch(text)
    if m is None:
        raise SpikeliteError(
            f"{what} {redact(text)!r} is not a database URL; write "
            "'postgresql://user@host/database' (shared by many machines) or "
            "'sqlite:///path/results.sqlite' (one machine)")
    scheme, driver, rest = m.group(1).lower(), (m.group(2) or "")[1:].lower(), m.group(3)
    if scheme == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        if not path.strip("/"):
            raise SpikeliteError(f"{what} {text!r} names no file; write "
                                 "'sqlite:///path/to/results.sqlite'")
        return StoreURL("sqlite", f"sqlite:///{path}", Path(path))
    if scheme not in ("postgresql", "postgres"):
        raise SpikeliteError(
            f"{what} {redact(text)!r}: unsupported database '{scheme}'; the results store is "
            "PostgreSQL ('postgresql://user@host/database', shared by many machines) or "
            "SQLite ('sqlite:///path/results.sqlite')")
    if driver not in ("", "psycopg"):
        raise SpikeliteError(
            f"{what} {redact(text)!r}: the results store talks to PostgreSQL through psycopg 3; "
            f"write 'postgresql://…' or 'postgresql+psycopg://…' instead of '+{driver}'")
    netloc, _, db = rest.partition("/")
    host = netloc.rpartition("@")[2]
    if not host and "host=" not in db:
        raise SpikeliteError(f"{what} {redact(text)!r} names no host; write e.g. "
                             "'postgresql://user@host:5432/database'")
    port = host.rpartition("]")[2].partition(":")[2] if host.startswith("[") else \
        host.partition(":")[2]
    if port and not port.isdigit():
        raise SpikeliteError(f"{what} {redact(text)!r}: the port {port!r} is not a number; "
                             "write e.g. 'postgresql://user@host:5432/database'")
    if not db.split("?", 1)[0]:
        raise SpikeliteError(f"{what} {redact(text)!r} names no database; write e.g. "
                             "'postgresql://user@host/database'")
    return StoreURL("postgresql", f"postgresql+psycopg://{rest}")


def require_driver() -> None:
    """psycopg 3 and SQLAlchemy are importable, else :class:`MissingExtraError`."""
    for module, package in (("psycopg", "psycopg"), ("sqlalchemy", "sqlalchemy")):
        try:
            __import__(module)
        except ImportError as exc:
            raise MissingExtraError(package, EXTRA, "a PostgreSQL results store (--store "
                                    "postgresql://…)") from exc


def connect_error(exc: BaseException, url: str) -> SpikeliteError:
    """A failed connection to the server at ``url`` as one line naming the cause: the
    server unreachable, the authentication refused, the database unknown (by SQLSTATE,
    else by libpq's message)."""
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None) or ""
    msg = " ".join(str(orig).split()) or type(orig).__name__
    low = msg.lower()
    where = redact(url).replace("postgresql+psycopg://", "postgresql://")
    if state == "3D000" or ("database" in low and "does not exist" in low):
        return SpikeliteError(f"the results store {where!r}: the database does not exist on "
                              f"that server ({_first(msg)}); create it (createdb NAME) or fix "
                              "the database name in --store")
    if state in ("28P01", "28000") or "authentication failed" in low or \
            "password" in low or ("role" in low and "does not exist" in low):
        return SpikeliteError(f"the results store {where!r} refused the login "
                              f"({_first(msg)}); check the user and password (in the URL, "
                              "PGPASSWORD or ~/.pgpass)")
    return SpikeliteError(f"cannot reach the results store {where!r} ({_first(msg)}); is the "
                          "PostgreSQL server running and reachable from this machine "
                          "(host, port, firewall)?")


def _first(msg: str) -> str:
    return msg if len(msg) <= 200 else msg[:197] + "..."
