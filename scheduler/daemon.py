"""The scheduler daemon (``python -m scheduler daemon`` / ``make schedule``), built on APScheduler.

At start-up: the schedule is validated, runs left ``running`` by a process that is gone are marked
``failed`` (again every minute: whichever process looks first marks them), old reports are deleted,
and each job whose last fire time falls within the grace period without a run is run once (missed-run
policy). Then APScheduler fires the cron triggers;
a job never overlaps itself in one process (``max_instances=1``) nor across processes (advisory
lock). Retention runs again every day at 03:30; the alert digests are e-mailed every day at the schedule's
``alerts_digest_time`` (07:00 by default). Prometheus metrics are served on 127.0.0.1 (see
``euralis_lib.operations.metrics``). SIGTERM or Ctrl-C stops it; a run interrupted that
way is marked ``failed`` by the next process that looks (its job's lock is free).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from euralis_lib.database import db, migrations
from euralis_lib.jobs.schedule import Schedule
from euralis_lib.operations import metrics
from scheduler import runner

log = logging.getLogger("euralis.scheduler")


def startup(schedule: Schedule, engine: Engine, now: datetime | None = None) -> list:
    """Start-up duties; returns the missed runs (entry, fire time) that are due once."""
    migrations.apply_migrations(engine)
    runner.mark_orphans(engine)
    runner.purge_reports(schedule.reports_retention_days)
    now = now or schedule.now()
    missed = runner.missed_runs(schedule, engine, now)
    for entry, fire in missed:
        log.info("%s: missed its run of %s (within the %s grace period): running it once now",
                 entry.name, fire.isoformat(timespec="minutes"), schedule.missed_run_grace)
    return missed


def build_scheduler(schedule: Schedule, engine: Engine, stop: threading.Event, workers: int = 2) -> BackgroundScheduler:
    """An APScheduler with one cron job per entry, the ticks (orphan runs, disks), the daily reports retention and
    the daily alert digest e-mails."""
    sched = BackgroundScheduler(
        timezone=schedule.timezone, executors={"default": ThreadPoolExecutor(workers)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": max(1, int(schedule.missed_run_grace.total_seconds()))})
    for entry in schedule.entries.values():
        sched.add_job(runner.run_entry, entry.trigger, args=(schedule, entry, engine), kwargs={"stop": stop},
                      id=entry.name, name=entry.name)
    sched.add_job(runner.mark_orphans, IntervalTrigger(seconds=runner.ORPHANS_TICK.total_seconds()),
                  args=(engine,), id="_orphelins", name="runs whose process is gone")
    sched.add_job(runner.check_disks, IntervalTrigger(seconds=runner.DISKS_TICK.total_seconds()),
                  args=(engine,), id="_disques", name="disks of data, reports and backups (rule disque_plein)",
                  next_run_time=schedule.now())  # at start, then every tick
    sched.add_job(runner.purge_reports, CronTrigger(hour=3, minute=30, timezone=schedule.timezone),
                  args=(schedule.reports_retention_days,), id="_retention_rapports", name="reports retention")
    digest = schedule.alerts_digest_time
    sched.add_job(runner.send_alert_digests, CronTrigger(hour=digest.hour, minute=digest.minute,
                                                         timezone=schedule.timezone),
                  args=(engine,), id="_resume_alertes", name="daily alert digest e-mails")
    return sched


def run_daemon(schedule: Schedule, engine: Engine | None = None) -> int:
    """Run the scheduler until SIGTERM / Ctrl-C: the jobs run in the scheduler's threads while this thread
    waits. The SIGTERM handler only sets a flag: one that shut the scheduler down from the handler could
    interrupt this thread while it held a non-reentrant lock of the executor (a job being submitted) and
    deadlock it, and one that raised was swallowed by the scheduler's own ``except BaseException`` there."""
    engine = engine or db.get_engine()
    stop = threading.Event()
    missed = startup(schedule, engine)
    metriques = metrics.serve(engine)  # Prometheus on 127.0.0.1:EURALIS_METRICS_PORT (0 = off)
    sched = build_scheduler(schedule, engine, stop)
    for entry, _fire in missed:
        sched.add_job(runner.run_entry, args=(schedule, entry, engine), kwargs={"stop": stop},
                      id=f"_rattrapage_{entry.name}", name=f"{entry.name} (missed run)")
    recus: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: recus.append(signum))
    log.info("scheduler started with %s (%d jobs, time zone %s)", schedule.path, len(schedule.entries),
             schedule.timezone)
    for job in sched.get_jobs():
        log.info("  %-22s %s", job.name, job.trigger)
    try:
        sched.start()
        while not recus:
            time.sleep(0.2)  # a signal handler runs between two sleeps, in this thread
        log.info("signal %s: stopping the scheduler", signal.Signals(recus[0]).name)
    except KeyboardInterrupt:
        log.info("interrupted: stopping the scheduler")
    finally:
        stop.set()  # running jobs see it between attempts
        if sched.running:
            sched.shutdown(wait=False)
        if metriques is not None:
            metriques.shutdown()
    log.info("scheduler stopped")
    return 0
