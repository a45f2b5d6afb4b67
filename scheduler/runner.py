"""One scheduled run: the library's papermill runner with the schedule's retries, and the failure alert.

Also the start-up and periodic duties of a scheduler: runs left ``running`` by a process that is gone
are marked ``failed`` (:func:`euralis_lib.jobs.runs.mark_orphans`), missed runs are found, old report
folders are deleted, the disks of the data, reports and backups are measured for rule ``disque_plein``, and
the daily alert digests are e-mailed.

The job's lock (:func:`euralis_lib.jobs.runs.job_lock`, taken by the runner for all attempts) keeps a
job from running twice at once: another scheduler — on this machine or another one using the same
database — or a pipeline or dashboard button that starts the same job meanwhile records a
``skipped`` run. If the process dies, PostgreSQL releases the lock with its connection.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib import config
from euralis_lib.alerts import courriels
from euralis_lib.database.db import connect
from euralis_lib.jobs import pipeline, runs
from euralis_lib.jobs.schedule import Entry, Schedule
from euralis_lib.operations import health

log = logging.getLogger("euralis.scheduler")
ORPHANS_TICK = timedelta(minutes=1)
DISKS_TICK = timedelta(minutes=5)
# The watched folders as the admins read them in the alert (and in its key).
DOSSIERS = {"data": "données", "reports": "rapports", "backups": "sauvegardes"}
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Outcome:
    """What happened to one scheduled run: 'success', 'failed' or 'skipped', and the runs recorded."""

    statut: str
    run_ids: list[int]
    message: str


def run_entry(schedule: Schedule, entry: Entry, engine: Engine, declencheur: str = "planifie",
              stop: threading.Event | None = None, progress: bool = False) -> Outcome:
    """Run one entry now: the job's lock, its attempts with backoff (and the alert after the last failure)."""
    log.info("%s: start (%d attempt(s) at most)", entry.name, schedule.retries + 1)
    try:
        run = pipeline.execute_notebook(entry.name, entry.notebook, entry.parameters, declencheur=declencheur,
                                        engine=engine, attempts=schedule.retries + 1,
                                        backoff_s=schedule.retry_backoff_seconds, stop=stop, progress=progress,
                                        publier=True)
    except runs.JobBusyError as exc:
        log.info("%s", exc)
        return Outcome("skipped", [exc.run_id], str(exc))
    except pipeline.JobFailedError as exc:
        log.warning("%s", exc)  # the job_echec alert is raised by pipeline.execute_notebook
        return Outcome("failed", [r.run_id for r in exc.tentatives], str(exc))
    duree = (run.fin - run.debut).total_seconds() if run.fin else float("nan")
    log.info("%s: success, run %d in %.1f s, report %s", entry.name, run.run_id, duree, run.rapport_path)
    return Outcome("success", [run.run_id], f"run {run.run_id}")


def mark_orphans(engine: Engine) -> list[runs.Orphan]:
    """The scheduler's start-up and tick: runs whose process is gone (their job's lock is free) are marked
    ``failed``, on any machine using the database; returns and logs them."""
    orphelins = runs.mark_orphans(engine)
    for o in orphelins:
        log.warning("run %d (%s) marked failed: its process %s on %s is gone", o.run_id, o.job, o.pid, o.hote)
    return orphelins


def check_disks(engine: Engine, backup_dir: Path | None = None) -> list[int]:
    """The scheduler's disk tick: how full each watched disk is (:func:`health.disk_folders`), handed to the
    database, which raises rule ``disque_plein`` past its threshold (sql/194, once per folder and day); returns
    the ids of the alerts raised."""
    ids = []
    with connect(engine, transaction=True) as conn:
        for dossier, chemin in health.disk_folders(engine, backup_dir).items():
            usage = health.disk_usage(chemin)
            alerte = conn.execute(sa.text("SELECT alerte_disque(:dossier, :chemin, :pct, :libre)"), {
                "dossier": DOSSIERS[dossier], "chemin": str(chemin), "pct": usage.occupation_pct,
                "libre": usage.free}).scalar()
            if alerte is not None:
                log.warning("disk of the %s (%s) is %.0f %% full: alert %d", dossier, chemin, usage.occupation_pct,
                            alerte)
                ids.append(alerte)
    return ids


def send_alert_digests(engine: Engine) -> int:
    """The scheduler's daily alert digest: each opted-in user's e-mail of the alerts he reads since his last one
    (:func:`courriels.envoyer_resumes`; nothing without ``EURALIS_SMTP_URL``); how many were sent."""
    envoyes = courriels.envoyer_resumes(engine)
    log.info("alert digests: %d e-mail(s) sent", envoyes)
    return envoyes


def missed_runs(schedule: Schedule, engine: Engine, now: datetime) -> list[tuple[Entry, datetime]]:
    """Entries whose last fire time within the grace period has no run since (missed-run policy)."""
    if schedule.missed_run_grace <= timedelta(0):
        return []
    missed = []
    for entry in schedule.entries.values():
        fires = entry.fires_between(now - schedule.missed_run_grace, now)
        if not fires:
            continue
        last = fires[-1]
        with connect(engine) as conn:
            ran = conn.execute(sa.text(
                "SELECT EXISTS (SELECT 1 FROM job_runs WHERE job = :job AND debut >= :t AND statut <> 'skipped')"),
                {"job": entry.name, "t": last}).scalar()
        if not ran:
            missed.append((entry, last))
    return missed


def purge_reports(retention_days: int, today: date | None = None, root: Path | None = None) -> list[Path]:
    """Delete ``reports/<YYYY-MM-DD>/`` folders older than ``retention_days``; other files are kept."""
    root = root or config.reports_dir()
    limite = (today or date.today()) - timedelta(days=retention_days)
    deleted = []
    if not root.is_dir():
        return deleted
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and _DATE_DIR.match(folder.name):
            try:
                jour = date.fromisoformat(folder.name)
            except ValueError:
                continue
            if jour < limite:
                shutil.rmtree(folder)
                deleted.append(folder)
    if deleted:
        log.info("reports retention (%d days): deleted %s", retention_days, ", ".join(p.name for p in deleted))
    return deleted
