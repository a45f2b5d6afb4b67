"""Backups: a custom-format ``pg_dump`` made with the server's own client binaries, its sha256 and a manifest.

Each backup is a folder ``euralis-<UTC time>/`` in the backup folder (``EURALIS_BACKUP_DIR``, default
``.euralis/backups``) holding ``euralis.dump``, ``euralis.dump.sha256`` (``sha256sum`` format) and
``manifest.json`` (time, server version, schema version, rows and a content checksum per table). It
is written as a hidden ``.partial-…`` folder and renamed when complete, so a failed backup (disk
full, folder not writable, server gone) never leaves a folder that looks valid. The manifest's
figures and the dump come from one snapshot (``pg_export_snapshot``), so they agree while jobs write.
Retention keeps the newest backup of each of the last N days and of each of the last M ISO weeks.
Verifying and restoring live in :mod:`euralis_lib.database.restore`, the client binaries in
:mod:`euralis_lib.database.pgclient`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg2
from psycopg2 import sql as psql

from euralis_lib import config
from euralis_lib.database import db
from euralis_lib.database.pgclient import Server, client_tools, server_major, tail
from euralis_lib.exceptions import EuralisError

DUMP = "euralis.dump"
MANIFEST = "manifest.json"
VERIFICATION = "verification.json"
MANIFEST_FORMAT = 1
_NAME = re.compile(r"^euralis-(\d{8}T\d{6}Z)(?:-\d+)?$")
_PARTIAL = re.compile(r"^\.partial-\d{8}T\d{6}Z-(\d+)$")
_STALE_PARTIAL = timedelta(hours=24)
# Session settings under which a row's text, hence the content checksum, is reproducible.
STABLE_TEXT = ("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
               "SET extra_float_digits = 1; SET bytea_output = 'hex'")


class BackupError(EuralisError):
    """A backup, verification or restore was refused or failed; the message says what is left as it was."""


def table_figures(cur: psycopg2.extensions.cursor) -> dict[str, dict[str, Any]]:
    """Rows and an order-independent content checksum (sum of row-text hashes) of every table of ``public``;
    a populated materialized view is marked ``"vue": true`` (the dump holds its query, not its rows)."""
    cur.execute(STABLE_TEXT)
    cur.execute("""SELECT c.relname, c.relkind = 'm' FROM pg_class c
                   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'm')
                     AND NOT c.relispartition AND (c.relkind <> 'm' OR c.relispopulated) ORDER BY 1""")
    figures = {}
    for name, vue in cur.fetchall():
        cur.execute(psql.SQL("SELECT count(*), coalesce(sum(hashtext(t::text)::bigint), 0)::text FROM public.{} t")
                    .format(psql.Identifier(name)))
        rows, checksum = cur.fetchone()
        figures[name] = {"rows": int(rows), "checksum": checksum, **({"vue": True} if vue else {})}
    return figures


def schema_version(cur: psycopg2.extensions.cursor) -> dict[str, str] | None:
    """The last applied migration (``{"version": "090", "file": "090_timescale.sql"}``), None before any."""
    cur.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
    if not cur.fetchone()[0]:
        return None
    cur.execute("SELECT version, nom FROM schema_migrations ORDER BY version DESC LIMIT 1")
    row = cur.fetchone()
    return {"version": row[0], "file": row[1]} if row else None


def has_timescaledb(cur: psycopg2.extensions.cursor) -> bool:
    """True when the database uses the timescaledb extension (restores then need its pre/post steps)."""
    cur.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
    return bool(cur.fetchone()[0])


@dataclass(frozen=True)
class Backup:
    """One complete backup folder, its manifest and (once verified) its verification record."""

    path: Path
    manifest: dict[str, Any]
    verification: dict[str, Any] | None

    @property
    def dump(self) -> Path:
        """The dump file."""
        return self.path / self.manifest["dump"]["file"]

    @property
    def created_at(self) -> datetime:
        """When the snapshot was taken (UTC)."""
        return datetime.fromisoformat(self.manifest["created_at"])

    @property
    def verified(self) -> bool:
        """True when a verification restored it and found every table as in the manifest."""
        return bool(self.verification and self.verification.get("ok"))


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_file(path: Path, text: str) -> None:
    """Write and fsync ``text`` (the caller renames the folder or file once everything is on disk)."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _os_error(exc: OSError, dest: Path) -> BackupError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        what = "no space left on the device of" if exc.errno != errno.EFBIG else "file size limit reached in"
        return BackupError(f"{what} the backup folder {dest} ({exc.strerror}). Nothing was kept from this attempt; "
                           "earlier backups are untouched.")
    return BackupError(f"cannot write the backup in {dest}: {exc.strerror or exc}. Nothing was kept from this attempt; "
                       "earlier backups are untouched.")


def _purge_partials(dest: Path) -> None:
    """Remove ``.partial-…`` folders left by a backup process that died (or older than a day)."""
    for folder in dest.glob(".partial-*"):
        match = _PARTIAL.match(folder.name)
        if not match:
            continue
        pid = int(match.group(1))
        age = time.time() - folder.stat().st_mtime
        alive = pid != os.getpid() and Path(f"/proc/{pid}").exists()
        if not alive or age > _STALE_PARTIAL.total_seconds():
            shutil.rmtree(folder, ignore_errors=True)


def _dump(server: Server, partial: Path) -> dict[str, Any]:
    """Run pg_dump on an exported snapshot and collect the manifest's figures in that same snapshot."""
    with closing(server.connect(autocommit=True)) as conn:
        version, major = server_major(conn)
        tools = client_tools(major)
        conn.autocommit = False
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = cur.fetchone()[0]
            proc = subprocess.Popen(
                tools.command("pg_dump", "--format=custom", "--no-password", f"--snapshot={snapshot}",
                              f"--file={partial / DUMP}", f"--dbname={server.dsn()}"),
                env=server.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                figures = {"tables": table_figures(cur), "schema": schema_version(cur),
                           "timescaledb": has_timescaledb(cur)}
            finally:
                _, err = proc.communicate()  # the snapshot must stay open until pg_dump is done
        conn.rollback()
    if proc.returncode != 0:
        raise BackupError(f"pg_dump {tools.version} failed on {server.label}: {server.scrub(tail(err))}. Nothing was "
                          "kept from this attempt; earlier backups are untouched.")
    return {"server_version": version, "server_major": major, "pg_dump": f"{tools.version} ({tools.bin_dir})",
            **figures}


def create_backup(url: str | None = None, dest: Path | str | None = None) -> Backup:
    """Dump the database to a new backup folder in ``dest`` (default :func:`config.backup_dir`)."""
    server = Server(url or db.database_url())
    dest = Path(dest or config.backup_dir()).resolve()
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = f"{now:%Y%m%dT%H%M%SZ}"
    partial = dest / f".partial-{stamp}-{os.getpid()}"
    try:
        dest.mkdir(parents=True, exist_ok=True)
        _purge_partials(dest)
        partial.mkdir()
    except OSError as exc:
        raise _os_error(exc, dest) from exc
    try:
        figures = _dump(server, partial)
        dump = partial / DUMP
        digest, size = sha256_file(dump), dump.stat().st_size
        write_file(partial / f"{DUMP}.sha256", f"{digest}  {DUMP}\n")
        manifest = {"format": MANIFEST_FORMAT, "created_at": now.isoformat(), "database": server.label,
                    "server_version": figures["server_version"], "pg_dump": figures["pg_dump"],
                    "schema_version": (figures["schema"] or {}).get("version"),
                    "schema_migration": (figures["schema"] or {}).get("file"),
                    "timescaledb": figures["timescaledb"],
                    "dump": {"file": DUMP, "bytes": size, "sha256": digest},
                    "duration_s": round(time.perf_counter() - started, 2), "tables": figures["tables"]}
        write_file(partial / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        _fsync(dump)
        _fsync(partial)
        final, n = dest / f"euralis-{stamp}", 1
        while final.exists():
            n += 1
            final = dest / f"euralis-{stamp}-{n}"
        partial.rename(final)
        _fsync(dest)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _os_error(exc, dest) from exc
        raise
    return Backup(final, manifest, None)


def read_backup(folder: Path) -> Backup | None:
    """The backup in ``folder``, or None when it is not a complete backup folder."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        datetime.fromisoformat(manifest["created_at"])
        if not isinstance(manifest["dump"]["file"], str):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        verification = json.loads((folder / VERIFICATION).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        verification = None
    return Backup(folder, manifest, verification)


def list_backups(dest: Path | str | None = None) -> list[Backup]:
    """Complete backups in ``dest``, newest first (partial folders and other files are ignored)."""
    dest = Path(dest or config.backup_dir())
    if not dest.is_dir():
        return []
    found = [b for f in dest.iterdir() if f.is_dir() and _NAME.match(f.name) and (b := read_backup(f))]
    return sorted(found, key=lambda b: (b.created_at, b.path.name), reverse=True)


def apply_retention(dest: Path | str | None, daily: int, weekly: int) -> list[Path]:
    """Keep the newest backup of each of the last ``daily`` days and ``weekly`` ISO weeks (UTC) and the
    newest verified one; delete the other backups. Returns the folders deleted."""
    if daily < 1 or weekly < 0:
        raise BackupError(f"retention keeps at least 1 daily backup and 0 or more weekly ones, not {daily}/{weekly}")
    backups = list_backups(dest)
    keep, days, weeks = set(), [], []
    for b in backups:
        day, week = b.created_at.date(), b.created_at.isocalendar()[:2]
        if day not in days and len(days) < daily:
            days.append(day)
            keep.add(b.path)
        if week not in weeks and len(weeks) < weekly:
            weeks.append(week)
            keep.add(b.path)
    newest_verified = next((b for b in backups if b.verified), None)
    keep.update(b.path for b in backups[:1] + ([newest_verified] if newest_verified else []))
    deleted = [b.path for b in backups if b.path not in keep]
    for folder in deleted:
        shutil.rmtree(folder)
    return deleted


def describe(backup: Backup) -> str:
    """One line per backup for people: name, size, schema, verification."""
    m, v = backup.manifest, backup.verification
    check = ("not verified" if v is None else
             f"verified {v['verified_at'][:16]}Z: {'ok' if v['ok'] else 'FAILED (' + '; '.join(v['problems']) + ')'}")
    return (f"{backup.path.name}  {m['dump']['bytes'] / 1e6:8.1f} MB  PostgreSQL {m['server_version']}, "
            f"schema {m['schema_version']}  {check}")


def backups_table(dest: Path | str | None = None) -> pd.DataFrame:
    """The backups of ``dest``, newest first, with French column names (job report and Ops page)."""
    rows = [{"Sauvegarde": b.path.name, "Date": b.created_at,
             "Taille (Mo)": round(b.manifest["dump"]["bytes"] / 1e6, 1), "Schéma": b.manifest["schema_version"],
             "PostgreSQL": b.manifest["server_version"],
             "Vérifiée le": datetime.fromisoformat(b.verification["verified_at"]) if b.verification else None,
             "Vérification": ("non vérifiée" if b.verification is None else "réussie" if b.verified else
                              "ÉCHEC : " + "; ".join(b.verification.get("problems", [])))}
            for b in list_backups(dest)]
    return pd.DataFrame(rows, columns=["Sauvegarde", "Date", "Taille (Mo)", "Schéma", "PostgreSQL", "Vérifiée le",
                                       "Vérification"])
