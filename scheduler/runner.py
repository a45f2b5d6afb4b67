"""One scheduled run: advisory lock, the papermill runner, retries with backoff, failure alert.

Also the start-up duties of a scheduler: runs left ``running`` by a dead process are marked
``abandoned``, missed runs are found, old report folders are deleted.

Locks: ``pg_try_advisory_lock(hashtextextended('euralis-job:' || job, 0))`` on a dedicated
connection held for the whole run (retries included). Another scheduler — on this machine or
another one using the same database — that fires the same job meanwhile records a ``skipped`` run
and logs it. If the process dies, PostgreSQL releases the lock with its connection.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from euralis_lib import config, pipeline, runs
from euralis_lib.db import connect
from scheduler.config import Entry, Schedule

log = logging.getLogger("euralis.scheduler")
STALE_REMOTE_RUN = timedelta(hours=24)
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Outcome:
    """What happened to one scheduled run: 'success', 'failed' or 'skipped', and the runs recorded."""

    statut: str
    run_ids: list[int]
    message: str


@contextmanager
def job_lock(engine: Engine, job: str) -> Iterator[bool]:
    """Hold the job's advisory lock for the block; yields False (without waiting) if someone has it."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        key = {"k": f"euralis-job:{job}"}
        got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), key).scalar())
        try:
            yield got
        finally:
            if got:
                conn.execute(sa.text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), key)


def raise_failure_alert(conn: Connection, job: str, run: runs.Run | None, tentatives: int) -> None:
    """A critical alert (no site) for a job that still failed after its retries; never duplicated."""
    run_id = run.run_id if run else None
    erreur = (run.erreur if run and run.erreur else "erreur inconnue")[:500]
    conn.execute(sa.text(
        "INSERT INTO alertes (horodatage, site_code, type, severite, message, source, run_id, cle_dedup) "
        "VALUES (clock_timestamp(), NULL, 'job_echec', 'critique', :msg, 'scheduler', :rid, :cle) "
        "ON CONFLICT DO NOTHING"),
        {"msg": f"Le job {job} a échoué après {tentatives} tentative(s) : {erreur}. Rapport : "
                f"{run.rapport_path if run else '—'}. Les résultats précédents sont conservés.",
         "rid": run_id, "cle": f"job_echec:{job}:{run_id}"})


def run_entry(schedule: Schedule, entry: Entry, engine: Engine, declencheur: str = "planifie",
              stop: threading.Event | None = None, progress: bool = False) -> Outcome:
    """Run one entry now: lock, execute (retrying with backoff), alert on final failure."""
    stop = stop or threading.Event()
    with job_lock(engine, entry.name) as got:
        if not got:
            rid = runs.start_run(engine, entry.name, entry.parameters, notebook=str(entry.notebook),
                                 declencheur=declencheur)
            message = (f"{entry.name}: skipped, already running under another scheduler "
                       f"(advisory lock held); this process is {socket.gethostname()}:{os.getpid()}")
            runs.fail_run(engine, rid, message, statut="skipped")
            log.info(message)
            return Outcome("skipped", [rid], message)
        run_ids: list[int] = []
        tentatives = schedule.retries + 1
        for tentative in range(1, tentatives + 1):
            log.info("%s: start (attempt %d/%d)", entry.name, tentative, tentatives)
            try:
                run = pipeline.execute_notebook(entry.name, entry.notebook, entry.parameters,
                                                declencheur=declencheur, engine=engine, progress=progress)
            except pipeline.JobFailedError as exc:
                if exc.run is not None:
                    run_ids.append(exc.run.run_id)
                log.warning("%s: attempt %d/%d failed: %s", entry.name, tentative, tentatives, exc)
                if tentative < tentatives:
                    attente = schedule.retry_backoff_seconds * 2 ** (tentative - 1)
                    log.info("%s: retry in %.0f s", entry.name, attente)
                    if stop.wait(attente):
                        break
                    continue
                with connect(engine, transaction=True) as conn:
                    raise_failure_alert(conn, entry.name, exc.run, tentative)
                return Outcome("failed", run_ids, str(exc))
            run_ids.append(run.run_id)
            duree = (run.fin - run.debut).total_seconds() if run.fin else float("nan")
            log.info("%s: success, run %d in %.1f s, report %s", entry.name, run.run_id, duree, run.rapport_path)
            return Outcome("success", run_ids, f"run {run.run_id}")
        return Outcome("failed", run_ids, f"{entry.name}: stopped during the retry wait")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_abandoned(engine: Engine, now: datetime | None = None) -> list[int]:
    """Runs still ``running`` whose process is gone become ``abandoned``; returns their ids.

    A run of this machine is abandoned when its process no longer exists; a run of another machine
    when it has been running for more than 24 hours (we cannot see its process).
    """
    hote = socket.gethostname()
    with connect(engine) as conn:
        rows = conn.execute(sa.text(
            "SELECT run_id, job, hote, pid, debut, coalesce(:now, clock_timestamp()) - debut AS age "
            "FROM job_runs WHERE statut = 'running' ORDER BY run_id"), {"now": now}).all()
    abandoned = []
    for r in rows:
        if r.hote == hote and r.pid is not None and not _pid_alive(r.pid):
            raison = f"abandoned: process {r.pid} on {r.hote} stopped while the job was running"
        elif r.hote != hote and r.age > STALE_REMOTE_RUN:
            raison = f"abandoned: running on {r.hote} for more than {STALE_REMOTE_RUN} without finishing"
        else:
            continue
        runs.fail_run(engine, r.run_id, raison, statut="abandoned")
        log.warning("run %d (%s) %s", r.run_id, r.job, raison)
        abandoned.append(r.run_id)
    return abandoned


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
