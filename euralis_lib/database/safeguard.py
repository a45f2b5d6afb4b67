"""The nightly safeguard and the backup command line: back up, verify the copy by restoring it into a scratch
database, apply retention; ``backup …`` and ``restore …`` subcommands.

It sits above :mod:`euralis_lib.database.backup` (write and read backups) and
:mod:`euralis_lib.database.restore` (restore and verify them), which never import each other's callers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from euralis_lib import config
from euralis_lib.database import db, restore
from euralis_lib.database.backup import (
    BackupError,
    apply_retention,
    create_backup,
    describe,
    list_backups,
)


def backup_and_verify(url: str | None, dossier: Path | str | None, quotidiennes: int, hebdomadaires: int,
                      verifier: bool) -> dict[str, Any]:
    """Back up, verify (restore into a scratch database), apply retention; the figures of the job's run.

    Raises :class:`BackupError` when a step fails (the scheduler then retries and alerts); the earlier
    backups are kept.
    """
    url = url or db.database_url()
    fait = create_backup(url, dossier)
    figures: dict[str, Any] = {"sauvegarde": fait.path.name, "dossier": str(fait.path.parent),
                               "octets": fait.manifest["dump"]["bytes"],
                               "duree_sauvegarde_s": fait.manifest["duration_s"],
                               "version_schema": fait.manifest["schema_version"]}
    if verifier:
        result = restore.verify(fait.path, url)
        if not result.ok:
            raise BackupError(f"backup {fait.path.name} failed its verification: {'; '.join(result.problems)}")
        figures["duree_verification_s"] = result.duration_s
    figures["supprimees"] = [p.name for p in apply_retention(fait.path.parent, quotidiennes, hebdomadaires)]
    return figures


def _cmd_backup(args: argparse.Namespace) -> int:
    if args.backup_action == "verify":
        result = restore.verify(Path(args.file))
        print(result.describe())
        return 0 if result.ok else 1
    if args.backup_action == "list":
        backups = list_backups(args.to)
        print("\n".join(map(describe, backups)) if backups else f"no backup in {args.to or config.backup_dir()}")
        return 0
    backup = create_backup(dest=args.to)
    print(f"backup written: {backup.path} ({backup.manifest['dump']['bytes'] / 1e6:.1f} MB in "
          f"{backup.manifest['duration_s']:.1f} s, schema {backup.manifest['schema_version']})")
    if args.verify:
        result = restore.verify(backup.path)
        print(result.describe())
        if not result.ok:
            return 1
    if args.keep_daily is not None:
        for folder in apply_retention(backup.path.parent, args.keep_daily, args.keep_weekly):
            print(f"retention: deleted {folder.name}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``backup [--to DIR] [--verify] [--keep-daily N --keep-weekly M]``, ``backup verify FILE``,
    ``backup list`` and ``restore FILE --yes`` to the CLI."""
    p = subparsers.add_parser("backup", help="back up the database (custom-format dump, checksum, manifest)")
    p.add_argument("--to", type=Path, default=None, help="backup folder (default: EURALIS_BACKUP_DIR or "
                                                          ".euralis/backups)")
    p.add_argument("--verify", action="store_true", help="then restore it into a scratch database and compare")
    p.add_argument("--keep-daily", type=int, default=None, help="then apply retention: newest of the last N days")
    p.add_argument("--keep-weekly", type=int, default=4, help="… and of the last M weeks (with --keep-daily)")
    actions = p.add_subparsers(dest="backup_action")
    v = actions.add_parser("verify", help="restore a backup into a scratch database and compare with its manifest")
    v.add_argument("file", help="backup folder or its euralis.dump")
    listing = actions.add_parser("list", help="backups in the folder, newest first, with their verification")
    listing.add_argument("--to", type=Path, default=argparse.SUPPRESS, help="backup folder")
    p.set_defaults(func=_cmd_backup)
    restore.register(subparsers)
