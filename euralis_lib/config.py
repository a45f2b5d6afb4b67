"""Configuration from the environment: where the project lives and which database to use.

``EURALIS_DATABASE_URL`` selects an external PostgreSQL/TimescaleDB; without it the project runs
its own embedded PostgreSQL under ``EURALIS_HOME`` (default ``<project>/.euralis``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = PROJECT_ROOT / "sql"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
REPORTS_DIR = PROJECT_ROOT / "reports"

SITES = ("LL", "LS", "MT")
EMBEDDED_DATABASE = "euralis"


def home_dir() -> Path:
    """Folder holding the embedded database and other local state (git-ignored)."""
    return Path(os.environ.get("EURALIS_HOME", PROJECT_ROOT / ".euralis")).resolve()


def pgdata_dir() -> Path:
    """Data folder of the embedded PostgreSQL cluster."""
    return home_dir() / "pgdata"


def external_database_url() -> str | None:
    """The external database URL when ``EURALIS_DATABASE_URL`` is set, else None."""
    url = os.environ.get("EURALIS_DATABASE_URL", "").strip()
    return url or None


def reports_dir() -> Path:
    """Where executed notebooks and exports go (``EURALIS_REPORTS_DIR`` overrides)."""
    return Path(os.environ.get("EURALIS_REPORTS_DIR", REPORTS_DIR)).resolve()


def backup_dir() -> Path:
    """Where backups go (``EURALIS_BACKUP_DIR`` overrides; put it on another disk in production)."""
    return Path(os.environ.get("EURALIS_BACKUP_DIR", home_dir() / "backups")).resolve()


# Debian's Chromium (never a downloaded browser): PDF reports, the browser tests and the serving benchmark.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--lang=fr-FR"]


def chromium() -> str:
    """The Chromium executable, found as ``make browser`` finds it (``chromium`` on PATH, Debian's package);
    FileNotFoundError saying how to install it when there is none."""
    found = shutil.which("chromium")
    if found is None:
        raise FileNotFoundError("chromium is not installed: run `make browser` (Debian package chromium; "
                                "`make test` and .ci/run install it as root)")
    return found
