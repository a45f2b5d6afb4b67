"""Database access: resolve the URL, build engines, read DataFrames, bulk-load with COPY.

Every query goes through bound parameters; connection failures become
:class:`DatabaseUnavailableError` with a message naming the host (never the password).
"""

from __future__ import annotations

import io
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from functools import lru_cache
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from euralis_lib import config
from euralis_lib.database import embedded
from euralis_lib.exceptions import DatabaseUnavailableError

# Seconds a pool keeps connections nobody uses: an open page's kernel, idle, then holds none (issue 22's
# « idle pages add no database connection »); the next query reconnects (a few milliseconds).
IDLE_S = 30.0

EMBEDDED_HINT = ("Unset EURALIS_DATABASE_URL to use the embedded PostgreSQL "
                 "('python -m euralis_lib db start'), or fix the URL.")


def normalize_url(url: str) -> str:
    """Force the psycopg2 driver (SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"}:
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def describe_url(url: str) -> str:
    """Where a URL points, for messages: host (or socket folder), port and database; no password."""
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "localhost"
    if isinstance(host, tuple):
        host = host[0]
    port = f":{parsed.port}" if parsed.port else ""
    return f"{host}{port}/{parsed.database or ''}"


def database_url(start_embedded: bool = True) -> str:
    """The URL to use: ``EURALIS_DATABASE_URL`` if set, else the embedded server (started if needed)."""
    external = config.external_database_url()
    if external:
        return normalize_url(external)
    pgdata = config.pgdata_dir()
    current = embedded.status(pgdata)
    if current.state == "running":
        return embedded.url_for(current)
    if not start_embedded:
        raise DatabaseUnavailableError(
            f"The embedded PostgreSQL ({pgdata}) is {current.state}: run 'python -m euralis_lib db start'.")
    return embedded.start(pgdata)


def close_idle_connections(engine: Engine, after_s: float = IDLE_S) -> Engine:
    """Have a daemon thread close ``engine``'s pooled connections once none was used for ``after_s`` seconds
    (none checked out meanwhile); the pool stays usable. The thread ends when the engine is gone."""
    derniere = [time.monotonic()]

    @sa.event.listens_for(engine, "checkin")
    def _rendue(*_args: object) -> None:
        derniere[0] = time.monotonic()

    ref = weakref.ref(engine)

    def _veille() -> None:
        while True:
            time.sleep(after_s / 2)
            moteur = ref()
            if moteur is None:
                return
            pool = moteur.pool
            if pool.checkedout() == 0 and pool.checkedin() and time.monotonic() - derniere[0] >= after_s:
                pool.dispose()
            del moteur, pool

    threading.Thread(target=_veille, name="euralis-connexions-inactives", daemon=True).start()
    return engine


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return close_idle_connections(sa.create_engine(url, pool_pre_ping=True, pool_size=3, max_overflow=2,
                                                   connect_args={"connect_timeout": 5, "application_name": "euralis"}))


def url_en_role(url: str, role: str) -> str:
    """``url`` whose every session runs as group role ``role`` (``options=-c role=…``): scheduled jobs run
    as ``euralis_job`` and command-line imports as ``euralis_import`` (``sql/110_roles.sql``), not as the
    migrating owner. ``RESET ROLE`` returns to ``role`` too, since it is the session's starting value."""
    if not role.replace("_", "").isalnum():
        raise ValueError(f"not a role name: {role!r}")
    parsed = make_url(normalize_url(url))
    options = " ".join(o for o in [parsed.query.get("options", ""), f"-c role={role}"] if o)
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


def get_engine(url: str | None = None) -> Engine:
    """A pooled engine for ``url`` (default: :func:`database_url`), shared within the process."""
    return _engine_for(normalize_url(url) if url else database_url())


def unavailable(url: str, exc: BaseException) -> DatabaseUnavailableError:
    """The user-facing error for a connection failure to ``url``."""
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DatabaseUnavailableError(
        f"Cannot reach the database at {describe_url(url)}: {reason}. {EMBEDDED_HINT}")


@contextmanager
def connect(engine: Engine, *, transaction: bool = False) -> Iterator[Connection]:
    """A connection (inside one transaction when asked), turning connection failures into a clear error."""
    with ExitStack() as stack:
        try:
            conn = stack.enter_context(engine.begin() if transaction else engine.connect())
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise unavailable(engine.url.render_as_string(hide_password=True), exc) from exc
        yield conn


def check_connection(engine: Engine) -> str:
    """Connect once and return the server version; raises DatabaseUnavailableError if unreachable."""
    with connect(engine) as conn:
        return str(conn.execute(sa.text("SHOW server_version")).scalar_one())


def read_df(engine_or_conn: Engine | Connection, sql: str,
            params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run a SELECT with bound parameters and return a DataFrame."""
    if isinstance(engine_or_conn, Engine):
        with connect(engine_or_conn) as conn:
            return pd.read_sql_query(sa.text(sql), conn, params=dict(params or {}))
    return pd.read_sql_query(sa.text(sql), engine_or_conn, params=dict(params or {}))


def copy_dataframe(conn: Connection, table: str, df: pd.DataFrame,
                   columns: Sequence[str] | None = None) -> int:
    """Bulk-load ``df`` into ``table`` with ``COPY ... FROM STDIN`` inside the caller's transaction."""
    from psycopg2 import sql as psql

    cols = list(columns or df.columns)
    buf = io.StringIO()
    df[cols].to_csv(buf, index=False, header=False, na_rep="")
    buf.seek(0)
    statement = psql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL '')").format(
        psql.Identifier(table), psql.SQL(", ").join(psql.Identifier(c) for c in cols))
    raw = conn.connection.driver_connection
    if _sous_rls(conn, table):
        # COPY FROM refuses tables whose row-level security applies to the current role (an admin
        # computing a plan from the dashboards): COPY into a temporary copy, then INSERT under the policies.
        copie = psql.Identifier(f"_copie_{table}")
        liste = psql.SQL(", ").join(psql.Identifier(c) for c in cols)
        with raw.cursor() as cur:
            cur.execute(psql.SQL("DROP TABLE IF EXISTS pg_temp.{c}; CREATE TEMP TABLE {c} ON COMMIT DROP AS "
                                 "SELECT {l} FROM {t} WITH NO DATA").format(c=copie, l=liste, t=psql.Identifier(table)))
            cur.copy_expert(psql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL '')").format(copie, liste)
                            .as_string(raw), buf)
            cur.execute(psql.SQL("INSERT INTO {t} ({l}) SELECT {l} FROM {c}").format(
                t=psql.Identifier(table), l=liste, c=copie))
            return cur.rowcount
    with raw.cursor() as cur:
        cur.copy_expert(statement.as_string(raw), buf)
        return cur.rowcount


def _sous_rls(conn: Connection, table: str) -> bool:
    """True when row-level security applies to the current role on ``table``."""
    return bool(conn.execute(sa.text(
        "SELECT c.relrowsecurity AND NOT (r.rolsuper OR r.rolbypassrls) FROM pg_class c, pg_roles r "
        "WHERE c.oid = to_regclass(:t) AND r.rolname = current_user"), {"t": table}).scalar())
