"""The embedded PostgreSQL: a private cluster under ``.euralis/pgdata`` run through ``pgserver``.

The server listens only on a unix socket inside its data folder (no TCP port to collide with).
It keeps running after the command that started it exits, until ``db stop``. As root, pgserver
runs the server as a ``pgserver`` system user it creates and adds read/traverse permission
(``g+rx,o+rx``) to every parent folder of the data folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from euralis_lib.config import EMBEDDED_DATABASE
from euralis_lib.exceptions import EmbeddedServerError

logging.getLogger("pgserver").setLevel(logging.WARNING)


def _runtime_dir() -> None:
    """pgserver keeps its inter-process lock under the XDG runtime folder: give it a private one when unset."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        path = Path(f"/tmp/euralis-runtime-{os.geteuid()}")
        path.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(path)


_runtime_dir()


@dataclass(frozen=True)
class EmbeddedStatus:
    """State of the embedded cluster: absent, stopped, running, or broken (with a reason)."""

    state: str
    pgdata: Path
    pid: int | None = None
    socket_dir: Path | None = None
    detail: str = ""

    def describe(self) -> str:
        """One line for people."""
        if self.state == "running":
            return f"running (pid {self.pid}) in {self.pgdata}, socket in {self.socket_dir}"
        if self.state == "broken":
            return f"broken: {self.detail}"
        return f"{self.state} ({self.pgdata})"


def _postmaster(pgdata: Path) -> tuple[int, Path | None] | None:
    """(pid, socket dir) from postmaster.pid, or None when the file is absent or unreadable."""
    pidfile = pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 5 or not lines[0].strip().isdigit():
        return None
    socket_dir = Path(lines[4].strip()) if lines[4].strip() else None
    return int(lines[0]), socket_dir


def _is_postgres(pid: int) -> bool:
    try:
        return psutil.Process(pid).name() in {"postgres", "postmaster"}
    except psutil.Error:
        return False


def status(pgdata: Path) -> EmbeddedStatus:
    """Inspect the data folder without changing anything."""
    if not pgdata.exists() or not any(pgdata.iterdir()):
        return EmbeddedStatus("absent", pgdata)
    if not (pgdata / "PG_VERSION").exists() or not (pgdata / "global" / "pg_control").exists():
        return EmbeddedStatus(
            "broken", pgdata,
            detail=f"{pgdata} is not empty but holds no complete PostgreSQL cluster (an interrupted "
                   "initialisation?). Nothing was touched: run 'python -m euralis_lib db reset' to "
                   "recreate it (this deletes the embedded data) or move the folder away.")
    info = _postmaster(pgdata)
    if info is None:
        return EmbeddedStatus("stopped", pgdata)
    pid, socket_dir = info
    if _is_postgres(pid):
        return EmbeddedStatus("running", pgdata, pid=pid, socket_dir=socket_dir)
    return EmbeddedStatus("stopped", pgdata, detail=f"stale postmaster.pid (pid {pid} is not running)")


def _server_user() -> str | None:
    return "pgserver" if os.geteuid() == 0 else None


def _pg_ctl(args: list[str], pgdata: Path) -> None:
    from pgserver._commands import pg_ctl

    pg_ctl(args, pgdata=pgdata, user=_server_user(), timeout=60)


def start(pgdata: Path) -> str:
    """Start the cluster (initialising it on first use) and return the SQLAlchemy URL of its database."""
    current = status(pgdata)
    if current.state == "broken":
        raise EmbeddedServerError(current.detail)
    if current.state != "running":
        # A stale pid file whose pid now belongs to another process would make pgserver believe
        # the server runs; PostgreSQL itself recreates the file on start.
        if "stale" in current.detail:
            (pgdata / "postmaster.pid").unlink(missing_ok=True)
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        import pgserver
        # pgserver caches one handle per folder and process; a handle to a server stopped since
        # would be returned as is, so drop it to really start again.
        pgserver.PostgresServer._instances.pop(pgdata.resolve(), None)
        try:
            pgserver.get_server(pgdata, cleanup_mode=None)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, AssertionError) as exc:
            log = pgdata / "log"
            tail = log.read_text()[-1500:] if log.exists() else "(no log)"
            raise EmbeddedServerError(
                f"The embedded PostgreSQL in {pgdata} did not start ({exc}).\nEnd of its log:\n{tail}"
            ) from exc
        current = status(pgdata)
        if current.state != "running":
            raise EmbeddedServerError(f"The embedded PostgreSQL in {pgdata} did not stay up: see {pgdata / 'log'}.")
    _ensure_database(current.socket_dir)
    return url_for(current)


def url_for(current: EmbeddedStatus, database: str = EMBEDDED_DATABASE) -> str:
    """SQLAlchemy URL (psycopg2 driver) of a database on a running embedded cluster."""
    if current.state != "running" or current.socket_dir is None:
        raise EmbeddedServerError("The embedded PostgreSQL is not running: run 'python -m euralis_lib db start'.")
    return f"postgresql+psycopg2://postgres@/{database}?host={current.socket_dir}"


def _ensure_database(socket_dir: Path | None) -> None:
    import psycopg2
    from psycopg2 import errors

    conn = psycopg2.connect(dbname="postgres", user="postgres", host=str(socket_dir))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,))
            if cur.fetchone() is None:
                try:
                    cur.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
                except errors.DuplicateDatabase:
                    pass
    finally:
        conn.close()


def fresh_database(socket_dir: Path, name: str) -> str:
    """Drop (if present) and create database ``name`` on a running embedded cluster; its SQLAlchemy URL.

    For throw-away databases (benchmarks): never call it on the user's database.
    """
    import psycopg2

    if name == EMBEDDED_DATABASE:
        raise EmbeddedServerError(f"refusing to recreate the working database {name!r}")
    conn = psycopg2.connect(dbname="postgres", user="postgres", host=str(socket_dir))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return f"postgresql+psycopg2://postgres@/{name}?host={socket_dir}"


def stop(pgdata: Path) -> bool:
    """Stop the cluster if it runs (fast shutdown: open sessions are ended). True if it was running."""
    current = status(pgdata)
    if current.state != "running":
        return False
    _pg_ctl(["-w", "-m", "fast", "stop"], pgdata)
    handles = pgdata / ".handle_pids.json"
    if handles.exists():
        handles.write_text(json.dumps([]))
    return True


def reset(pgdata: Path) -> None:
    """Stop the cluster and delete its data folder."""
    if status(pgdata).state == "running":
        stop(pgdata)
    shutil.rmtree(pgdata, ignore_errors=True)


@contextmanager
def throwaway_cluster(prefix: str = "eurb-") -> Iterator[Path]:
    """A private PostgreSQL cluster under /tmp (benchmarks, validation); yields its socket folder, deleted after.

    Backups made meanwhile (the ``backup`` job among the jobs) go to a folder of the cluster, never to the
    user's backup folder, whose retention they would otherwise upset."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    base.chmod(0o755)
    saved = os.environ.get("EURALIS_BACKUP_DIR")
    os.environ["EURALIS_BACKUP_DIR"] = str(base / "backups")
    try:
        start(base / "pgdata")
        yield status(base / "pgdata").socket_dir
    finally:
        os.environ.pop("EURALIS_BACKUP_DIR") if saved is None else os.environ.update(EURALIS_BACKUP_DIR=saved)
        stop(base / "pgdata")
        shutil.rmtree(base, ignore_errors=True)
