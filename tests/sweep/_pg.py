"""A throwaway PostgreSQL server for the shared-store tests and benchmarks.

``initdb`` + ``pg_ctl`` in a fresh temporary folder, listening on 127.0.0.1 at a free port
(and a unix socket in that folder). PostgreSQL refuses to run as root, so under root the
server runs as an unprivileged user (``nobody``) via ``runuser``/``setpriv``, with the
folder chowned to it. Local connections are trusted, except the role ``pwuser`` that must
give its password (to test a refused login). :func:`skip_reason` says why no server can be
started here (no binaries, no unprivileged user), or ``None``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

USER = "nobody"
PASSWORD = "s3cret"


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).is_file():
            return str(root / name)
    return None


def _as_user() -> list[str] | None:
    """The command prefix that runs a program unprivileged ([] when not root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return None
    for tool, prefix in (("runuser", ["runuser", "-u", USER, "--"]),
                         ("setpriv", ["setpriv", f"--reuid={USER}", "--regid=nogroup",
                                      "--clear-groups", "--"])):
        if shutil.which(tool):
            return prefix
    return None


def skip_reason() -> str | None:
    """Why no test server can run here, or ``None``."""
    if _bin("initdb") is None or _bin("pg_ctl") is None:
        return "no PostgreSQL binaries (initdb, pg_ctl) on PATH"
    if _as_user() is None:
        return f"running as root and no unprivileged user ({USER}) / runuser to start PostgreSQL"
    try:
        import psycopg  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError:
        return "the `postgres` extra (psycopg 3, SQLAlchemy) is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running server: ``url(db)`` for the trusted superuser ``spikelite``."""

    root: Path
    port: int
    prefix: list[str]

    def url(self, db: str = "spikelite", user: str = "spikelite") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def password_url(self, password: str = PASSWORD, db: str = "spikelite") -> str:
        return f"postgresql://pwuser:{password}@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([*self.prefix, _bin("pg_ctl"), "-D", str(self.root / "data"), "-m",
                        "immediate", "-w", "stop"], capture_output=True, timeout=60,
                       check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PgServer:
    """Start a server (the caller stops it with :meth:`PgServer.stop`)."""
    prefix = _as_user()
    assert prefix is not None
    root = Path(tempfile.mkdtemp(prefix="spikelite-pg-"))
    if os.geteuid() == 0:
        pw = pwd.getpwnam(USER)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data = root / "data"
    port = _free_port()
    server = PgServer(root, port, prefix)
    try:
        run = {"capture_output": True, "text": True, "timeout": 120, "check": True,
               "cwd": root}
        subprocess.run([*prefix, _bin("initdb"), "-D", str(data), "-U", "spikelite",
                        "--auth=trust", "-E", "UTF8", "--no-sync"], **run)
        hba = data / "pg_hba.conf"
        body = ("local all all trust\n"
                "host all pwuser 127.0.0.1/32 scram-sha-256\n"
                "host all all 127.0.0.1/32 trust\n")
        subprocess.run([*prefix, "sh", "-c", f"cat > {hba}"], input=body, **run)
        opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        subprocess.run([*prefix, _bin("pg_ctl"), "-D", str(data), "-o", opts, "-l",
                        str(root / "log"), "-w", "-t", "60", "start"], **run)
        import psycopg

        with psycopg.connect(server.url("postgres"), autocommit=True) as con:
            con.execute("CREATE DATABASE spikelite")
            con.execute(f"CREATE ROLE pwuser LOGIN PASSWORD '{PASSWORD}'")
            con.execute("GRANT ALL ON DATABASE spikelite TO pwuser")
    except BaseException:
        log = root / "log"
        with contextlib.suppress(OSError):
            print(log.read_text()[-2000:])
        server.stop()
        raise
    return server


def wait_until(cond, timeout: float = 60.0, poll: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(poll)
    return False
