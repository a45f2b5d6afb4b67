"""Job ``backup`` (nightly): a verified backup of the database, then the retention of the backup folder.

The work is :func:`euralis_lib.database.safeguard.backup_and_verify` (dump, checksum and manifest, restore into a
scratch database compared with the manifest, retention); the run records its figures. The backups
themselves live in the backup folder (``EURALIS_BACKUP_DIR``), not in the database they protect.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from euralis_lib.database import safeguard
from euralis_lib.jobs import base

JOB = "backup"


def run(engine: Engine, *, run_id: int | None, dossier: str | None, quotidiennes: int, hebdomadaires: int,
        verifier: bool) -> dict:
    """Back up the database of ``engine`` into ``dossier``, verify the copy, apply the retention."""
    params = base.arguments(locals())
    url = engine.url.render_as_string(hide_password=False)
    return base.execute(engine, JOB, params, run_id,
                        lambda: safeguard.backup_and_verify(url, dossier, quotidiennes, hebdomadaires, verifier),
                        lambda _conn, _rid, chiffres: chiffres)
