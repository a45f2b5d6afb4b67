"""``python -m euralis_lib health [--json]``: is the workbench healthy? Exit 0 ok, 1 warning, 2 critical.

Checks the database, pending migrations, each scheduled job's last success against its schedule, runs
whose process is gone (marked failed here if nobody did), recent failures, the age of the last verified
backup, free disk for the data, reports and backups, and whether the dashboards answer. Every check
returns a status and a one-line reason, never a traceback: a check that cannot run (database down)
says why, so cron or a monitoring system can act on the exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib import config
from euralis_lib.database import backup, db, migrations
from euralis_lib.exceptions import EuralisError
from euralis_lib.jobs import runs
from euralis_lib.jobs.schedule import load_schedule
from euralis_lib.operations import ops

OK, WARNING, CRITICAL = 0, 1, 2
NAMES = ("OK", "WARNING", "CRITICAL")


@dataclass(frozen=True)
class Check:
    """One check: name, status (0/1/2) and a one-line reason; ``skipped`` when it could not apply here."""

    name: str
    status: int
    detail: str
    skipped: bool = False

    def line(self) -> str:
        """``STATUS    name: detail``."""
        return f"{'SKIPPED' if self.skipped else NAMES[self.status]:<9} {self.name}: {self.detail}"


@dataclass(frozen=True)
class Thresholds:
    """When a check turns warning or critical."""

    backup_warning: timedelta = timedelta(hours=26)
    backup_critical: timedelta = timedelta(hours=78)
    disk_warning_pct: float = 10.0
    disk_critical_pct: float = 5.0
    late_runs_warning: int = 2  # scheduled fire times since the last success
    late_runs_critical: int = 4
    failures_window: timedelta = timedelta(hours=24)


def check_migrations(engine: Engine) -> Check:
    """Pending migration files, files edited after being applied, or a database newer than the code."""
    files = {m.version: m for m in migrations.discover()}
    with db.connect(engine) as conn:
        if conn.execute(sa.text("SELECT to_regclass('public.schema_migrations')")).scalar() is None:
            return Check("migrations", CRITICAL, "no schema: run 'python -m euralis_lib migrate'")
        applied = dict(conn.execute(sa.text("SELECT version, checksum FROM schema_migrations")).all())
    edited = [files[v].path.name for v in applied if v in files and files[v].checksum != applied[v]]
    if edited:
        return Check("migrations", CRITICAL, f"applied file(s) edited since: {', '.join(edited)}")
    pending = [files[v].path.name for v in sorted(files) if v not in applied]
    if pending:
        return Check("migrations", WARNING, f"{len(pending)} pending ({', '.join(pending)}): run "
                                            "'python -m euralis_lib migrate'")
    unknown = sorted(set(applied) - set(files))
    if unknown:
        return Check("migrations", WARNING, f"the database has migration(s) {', '.join(unknown)} this code does not "
                                            "know: update the workbench")
    return Check("migrations", OK, f"schema up to date ({max(applied)})")


def check_jobs(engine: Engine, now: datetime, limits: Thresholds) -> list[Check]:
    """Each scheduled job against its cron: how many fire times went by since its last success."""
    schedule = load_schedule(check_notebooks=False)
    derniers = ops.last_runs(engine).set_index("job")
    checks = []
    for entry in schedule.entries.values():
        succes = derniers["dernier_succes"].get(entry.name) if entry.name in derniers.index else None
        if succes is None or pd.isna(succes):
            checks.append(Check(f"job {entry.name}", WARNING, f"never succeeded (cron '{entry.cron}')"))
            continue
        succes = pd.Timestamp(succes).to_pydatetime()
        manques = len(entry.fires_between(max(succes, now - timedelta(days=60)), now))
        status = (CRITICAL if manques >= limits.late_runs_critical else
                  WARNING if manques >= limits.late_runs_warning else OK)
        retard = f", {manques} scheduled run(s) since" if manques else ""
        checks.append(Check(f"job {entry.name}", status, f"last success {succes.astimezone(UTC):%Y-%m-%d %H:%M}Z"
                                                          f"{retard} (cron '{entry.cron}')"))
    return checks


def check_orphans(engine: Engine) -> Check:
    """Runs left ``running`` by a process that is gone: marked failed here, after which they count as
    failures (:func:`check_failures`); critical while one remains that could not be marked."""
    marques = runs.mark_orphans(engine)
    restants = runs.count_orphans(engine)
    if restants:
        return Check("orphans", CRITICAL, f"{restants} run(s) still 'running' whose process is gone could not be "
                                          "marked failed (rights of this database user?)")
    if marques:
        return Check("orphans", OK, "marked failed now (process gone, see failures): " + ", ".join(
            f"{o.job} (run {o.run_id}, pid {o.pid} on {o.hote})" for o in marques))
    return Check("orphans", OK, "no run left 'running' by a process that is gone")


def check_failures(engine: Engine, limits: Thresholds) -> Check:
    """Failed or abandoned runs in the window whose job has not succeeded since."""
    with db.connect(engine) as conn:
        rows = conn.execute(sa.text("""
            SELECT f.job, count(*) AS n, max(f.run_id) AS dernier FROM job_runs f
            WHERE f.statut IN ('failed', 'abandoned') AND f.debut >= clock_timestamp() - CAST(:w AS interval)
              AND NOT EXISTS (SELECT 1 FROM job_runs s WHERE s.job = f.job AND s.statut = 'success'
                              AND s.run_id > f.run_id)
            GROUP BY f.job ORDER BY f.job"""), {"w": f"{limits.failures_window.total_seconds()} seconds"}).all()
    if not rows:
        return Check("failures", OK, f"no unresolved failure in the last "
                                     f"{limits.failures_window.total_seconds() / 3600:g} h")
    return Check("failures", WARNING, "unresolved: " + ", ".join(f"{r.job} ({r.n}, last run {r.dernier})"
                                                                 for r in rows))


def check_backup(dest: Path, now: datetime, limits: Thresholds) -> Check:
    """Age of the newest verified backup; a newer backup that failed its verification is a warning."""
    backups = backup.list_backups(dest)
    verifiee = next((b for b in backups if b.verified), None)
    if verifiee is None:
        return Check("backup", CRITICAL, f"no verified backup in {dest} ('python -m euralis_lib backup --verify')")
    age = now - verifiee.created_at
    status = CRITICAL if age > limits.backup_critical else WARNING if age > limits.backup_warning else OK
    detail = f"last verified backup {verifiee.path.name}, {age.total_seconds() / 3600:.1f} h old"
    echec = next((b for b in backups if b.verification and not b.verified and b.created_at > verifiee.created_at), None)
    if echec is not None:
        status = max(status, WARNING)
        detail += f"; newer backup {echec.path.name} FAILED its verification"
    return Check("backup", status, detail)


class DiskUsage(NamedTuple):
    """Bytes of a filesystem (:func:`shutil.disk_usage`)."""

    total: int
    used: int
    free: int

    @property
    def occupation_pct(self) -> float:
        """How full the filesystem is: used bytes, percent of its size (rule ``disque_plein``)."""
        return 100.0 * self.used / self.total


def disk_usage(path: Path) -> DiskUsage:
    """Total, used and free bytes of the filesystem holding ``path`` (or its nearest existing parent)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return DiskUsage(*shutil.disk_usage(existing))


def disk_folders(engine: Engine | None, backup_dir: Path | None = None) -> dict[str, Path]:
    """The folders whose disks are watched: the database's data (when visible from here), reports, backups."""
    data = data_folder(engine)
    return {**({"data": data} if data is not None else {}), "reports": config.reports_dir(),
            "backups": backup_dir or config.backup_dir()}


def check_disk(label: str, path: Path, limits: Thresholds) -> Check:
    """Free space on the filesystem holding ``path`` (or its nearest existing parent)."""
    usage = disk_usage(path)
    pct = 100.0 * usage.free / usage.total
    status = CRITICAL if pct < limits.disk_critical_pct else WARNING if pct < limits.disk_warning_pct else OK
    return Check(f"disk {label}", status, f"{usage.free / 2**30:.1f} GiB free ({pct:.0f} %) for {path}")


def dashboards_urls(value: str | None = None) -> list[str]:
    """The dashboard instances to probe: ``value`` or ``EURALIS_DASHBOARDS_URL`` (several URLs separated by
    commas, one per Voilà instance: ``deploy`` prints the line), else ``http://127.0.0.1:$EURALIS_PORT/voila/tree``."""
    value = value or os.environ.get("EURALIS_DASHBOARDS_URL") or \
        f"http://127.0.0.1:{os.environ.get('EURALIS_PORT', '8866')}/voila/tree"
    return [u.strip() for u in value.split(",") if u.strip()]


def check_dashboards(urls: list[str], timeout: float = 5) -> list[Check]:
    """Each dashboard instance answers HTTP. One instance down among several is a warning (nginx sends its
    users to the others, logged in); critical when none answers."""
    checks = []
    for url in urls:
        name = "dashboards" if len(urls) == 1 else f"dashboards {urllib.parse.urlsplit(url).netloc}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                checks.append(Check(name, OK, f"{url} answers ({resp.status})"))
        except (urllib.error.URLError, OSError) as exc:
            checks.append(Check(name, CRITICAL, f"{url} does not answer: {getattr(exc, 'reason', exc)}"))
    if any(c.status == OK for c in checks):
        checks = [Check(c.name, WARNING, f"{c.detail}; the other instances serve its users")
                  if c.status != OK else c for c in checks]
    return checks


def _guarded(name: str, fn: Callable[[], Check | list[Check]]) -> list[Check]:
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 — a monitoring check reports, it never crashes
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return [Check(name, CRITICAL, f"check failed: {type(exc).__name__}: {reason}")]
    return result if isinstance(result, list) else [result]


def data_folder(engine: Engine | None) -> Path | None:
    """The database's data folder when it is visible from here (embedded, or a local server that tells)."""
    if not config.external_database_url():
        return config.pgdata_dir()
    if engine is None:
        return None
    try:
        with db.connect(engine) as conn:
            folder = Path(conn.execute(sa.text("SHOW data_directory")).scalar_one())
    except (sa.exc.DBAPIError, EuralisError):  # reserved to superusers and pg_read_all_settings
        return None
    return folder if folder.exists() else None


def run_checks(dashboards_url: str | None = None, limits: Thresholds = Thresholds(),
               backup_dir: Path | None = None, now: datetime | None = None) -> list[Check]:
    """Every check, in order; database-dependent checks are reported as not run when the database is down."""
    now = now or datetime.now(UTC)
    checks: list[Check] = []
    engine = None
    try:
        url = db.database_url(start_embedded=False)
        version = db.check_connection(db.get_engine(url))
        engine = db.get_engine(url)
        checks.append(Check("database", OK, f"{db.describe_url(url)} answers (PostgreSQL {version})"))
    except EuralisError as exc:
        checks.append(Check("database", CRITICAL, str(exc)))
    if engine is not None:
        checks += _guarded("migrations", lambda: check_migrations(engine))
        checks += _guarded("jobs", lambda: check_jobs(engine, now, limits))
        checks += _guarded("orphans", lambda: check_orphans(engine))
        checks += _guarded("failures", lambda: check_failures(engine, limits))
    else:
        checks += [Check(name, CRITICAL, "not checked: the database is unreachable", skipped=True)
                   for name in ("migrations", "jobs", "orphans", "failures")]
    dest = backup_dir or config.backup_dir()
    checks += _guarded("backup", lambda: check_backup(dest, now, limits))
    dossiers = disk_folders(engine, dest)
    if "data" not in dossiers:
        checks.append(Check("disk data", OK, "not checked: the database server's data folder is not visible here "
                                             "(monitor the server's disk)", skipped=True))
    for label, chemin in dossiers.items():
        checks += _guarded(f"disk {label}", lambda label=label, chemin=chemin: check_disk(label, chemin, limits))
    checks += _guarded("dashboards", lambda: check_dashboards(dashboards_urls(dashboards_url)))
    return checks


def overall(checks: list[Check]) -> int:
    """The worst status."""
    return max((c.status for c in checks), default=OK)


def _cmd_health(args: argparse.Namespace) -> int:
    limits = Thresholds(backup_warning=timedelta(hours=args.backup_max_age_hours),
                        backup_critical=timedelta(hours=3 * args.backup_max_age_hours))
    checks = run_checks(args.dashboards_url, limits)
    code = overall(checks)
    if args.json:
        print(json.dumps({"status": NAMES[code].lower(), "code": code,
                          "checks": [{**asdict(c), "status": NAMES[c.status].lower()} for c in checks]},
                         ensure_ascii=False, indent=2))
    else:
        print("\n".join(c.line() for c in checks))
        print(f"overall: {NAMES[code]}")
    return code


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``health [--json] [--dashboards-url URL] [--backup-max-age-hours H]`` to the CLI."""
    p = subparsers.add_parser("health", help="health checks for monitoring: exit 0 ok, 1 warning, 2 critical")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--dashboards-url", default=None, metavar="URL,…",
                   help="dashboard instances to probe, comma separated (default: EURALIS_DASHBOARDS_URL or "
                        "http://127.0.0.1:EURALIS_PORT/voila/tree)")
    p.add_argument("--backup-max-age-hours", type=float, default=26,
                   help="warning beyond this age of the last verified backup, critical beyond 3 times it")
    p.set_defaults(func=_cmd_health)
