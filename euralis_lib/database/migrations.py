"""Ordered, idempotent SQL migrations from ``sql/``, recorded in ``schema_migrations``.

Each file runs in its own transaction together with its bookkeeping row: a failed file rolls back
whole. An advisory lock serialises concurrent runners. A file changed after it was applied is
refused (migrations are immutable; add a new file instead).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib.config import SQL_DIR
from euralis_lib.database.db import connect
from euralis_lib.exceptions import MigrationError

_LOCK_KEY = 74_201_001
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: str
    path: Path

    @property
    def checksum(self) -> str:
        """sha256 of the file's bytes."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Migration files in order; refuses badly named files and duplicate versions."""
    found: dict[str, Migration] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_description.sql")
        if match.group(1) in found:
            raise MigrationError(f"{path.name}: version {match.group(1)} is used twice")
        found[match.group(1)] = Migration(match.group(1), path)
    return list(found.values())


def apply_migrations(engine: Engine, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations; return the names of the files applied (empty when up to date)."""
    applied_now: list[str] = []
    with connect(engine) as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        conn.commit()
        try:
            conn.execute(sa.text(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, "
                "nom text NOT NULL, checksum text NOT NULL, applique_le timestamptz NOT NULL DEFAULT now())"))
            conn.commit()
            done = dict(conn.execute(sa.text("SELECT version, checksum FROM schema_migrations")).all())
            conn.commit()
            for migration in discover(sql_dir):
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"{migration.path.name} changed after it was applied to this database. "
                            "Migrations are immutable: revert the edit and add a new numbered file.")
                    continue
                try:
                    with conn.begin():
                        conn.exec_driver_sql(migration.path.read_text())
                        conn.execute(sa.text(
                            "INSERT INTO schema_migrations (version, nom, checksum) VALUES (:v, :n, :c)"),
                            {"v": migration.version, "n": migration.path.name, "c": migration.checksum})
                except sa.exc.DBAPIError as exc:
                    raise MigrationError(
                        f"{migration.path.name} failed and was rolled back: {str(exc.orig).strip()}") from exc
                applied_now.append(migration.path.name)
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            conn.commit()
    return applied_now


def has_timescaledb(engine: Engine) -> bool:
    """True when the timescaledb extension is installed in the database."""
    with connect(engine) as conn:
        return bool(conn.execute(sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")).scalar_one())
