"""PostgreSQL client side for a database URL: libpq connection strings (password kept out of command lines)
and the ``pg_dump``/``pg_restore`` binaries matching the server's major version.

The embedded server's wheel ships its own binaries (its Python ``pg_dump()`` wrapper is broken, so the
binaries are called directly); for an external server the closest version not older than the server's is
taken from ``/usr/lib/postgresql/*/bin`` or ``PATH`` (an older ``pg_dump`` refuses a newer server).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2.extensions import make_dsn
from sqlalchemy.engine import make_url

from euralis_lib.database import db
from euralis_lib.exceptions import EuralisError


class ClientToolError(EuralisError):
    """No suitable client binary, or a client tool (pg_dump, pg_restore) failed; the message says why."""


@dataclass(frozen=True)
class Server:
    """A database URL split for libpq clients: a connection string without the password, and the password."""

    url: str

    @property
    def database(self) -> str:
        """The database the URL names."""
        return make_url(self.url).database or ""

    @property
    def label(self) -> str:
        """``user@host:port/database`` for messages; never the password."""
        user = make_url(self.url).username
        return f"{user + '@' if user else ''}{db.describe_url(self.url)}"

    def dsn(self, database: str | None = None) -> str:
        """libpq connection string (no password) for ``database`` (default: the URL's)."""
        parsed = make_url(self.url)
        params: dict[str, Any] = {k: (v[0] if isinstance(v, tuple) else v) for k, v in parsed.query.items()}
        if parsed.host:
            params["host"] = parsed.host
        params.update(port=parsed.port, user=parsed.username, dbname=database or parsed.database)
        return make_dsn(**{k: v for k, v in params.items() if v is not None})

    def env(self) -> dict[str, str]:
        """Environment for the client binaries: the password goes through ``PGPASSWORD``, never the command line
        (a URL without password keeps the ``PGPASSWORD`` inherited, as the pipeline's kernels get it)."""
        env = dict(os.environ)
        password = make_url(self.url).password
        if password:
            env["PGPASSWORD"] = str(password)
        env.setdefault("PGCONNECT_TIMEOUT", "10")
        return env

    def scrub(self, text: str) -> str:
        """``text`` with the password masked (client tools never print it; this makes sure)."""
        password = make_url(self.url).password
        return text.replace(str(password), "***") if password else text

    def connect(self, database: str | None = None, autocommit: bool = False) -> psycopg2.extensions.connection:
        """A psycopg2 connection; an unreachable server becomes one clear line naming host and user."""
        try:
            conn = psycopg2.connect(self.dsn(database), password=make_url(self.url).password, connect_timeout=10)
        except psycopg2.OperationalError as exc:
            raise db.unavailable(make_url(self.url).set(database=database or self.database)
                                 .render_as_string(hide_password=True), exc) from exc
        conn.autocommit = autocommit
        return conn


@dataclass(frozen=True)
class ClientTools:
    """A folder holding ``pg_dump`` and ``pg_restore`` of one PostgreSQL major version."""

    bin_dir: Path
    version: str
    major: int

    def command(self, tool: str, *args: str) -> list[str]:
        """The command line of ``tool`` (pg_dump, pg_restore) with ``args``."""
        return [str(self.bin_dir / tool), *args]

    def run(self, server: Server, tool: str, *args: str, what: str) -> str:
        """Run a client tool; a failure raises :class:`ClientToolError` ``what: <its last error lines>``."""
        proc = subprocess.run(self.command(tool, *args), env=server.env(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise ClientToolError(f"{what}: {tool} {self.version} failed: {server.scrub(tail(proc.stderr))}")
        return proc.stdout


def tail(stderr: str, lines: int = 3) -> str:
    """The last meaningful lines of a tool's error output, on one line."""
    kept = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return " / ".join(kept[-lines:]) or "no error message"


def _candidate_dirs() -> list[Path]:
    if os.environ.get("EURALIS_PG_BIN"):
        return [Path(os.environ["EURALIS_PG_BIN"])]
    dirs = []
    try:
        from pgserver._commands import POSTGRES_BIN_PATH  # the embedded server's own binaries

        dirs.append(Path(POSTGRES_BIN_PATH))
    except ImportError:
        pass
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    found = shutil.which("pg_dump")
    if found:
        dirs.append(Path(found).parent)
    return dirs


def _tools_in(bin_dir: Path) -> ClientTools | None:
    if not all(os.access(bin_dir / tool, os.X_OK) for tool in ("pg_dump", "pg_restore")):
        return None
    try:
        out = subprocess.run([str(bin_dir / "pg_dump"), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"\b(\d+)(\.\d+)?", out.stdout)
    return ClientTools(bin_dir, match.group(0), int(match.group(1))) if match else None


def client_tools(server_major: int) -> ClientTools:
    """``pg_dump``/``pg_restore`` whose major version is the server's, else the closest newer one.

    Looked for in ``EURALIS_PG_BIN`` alone when set, else the embedded server's wheel, then
    ``/usr/lib/postgresql/*/bin`` and ``PATH``. An older ``pg_dump`` refuses a newer server.
    """
    found = [t for t in map(_tools_in, _candidate_dirs()) if t is not None]
    usable = [t for t in found if t.major >= server_major]
    if not usable:
        seen = ", ".join(f"{t.version} ({t.bin_dir})" for t in found) or "none"
        raise ClientToolError(
            f"no pg_dump/pg_restore of major version {server_major} or newer for this PostgreSQL {server_major} "
            f"server (found: {seen}). Install postgresql-client-{server_major} (or newer) or set EURALIS_PG_BIN "
            "to the bin folder holding them.")
    return min(usable, key=lambda t: t.major)


def server_major(conn: psycopg2.extensions.connection) -> tuple[str, int]:
    """(version text, major version) of the server behind ``conn``."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version'), current_setting('server_version_num')::int")
        version, num = cur.fetchone()
    return version, num // 10_000
