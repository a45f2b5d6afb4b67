"""``python -m scheduler daemon|run JOB|list|crontab [--schedule FILE]``.

Errors in the schedule file or the database are one clear line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from euralis_lib import config
from euralis_lib.exceptions import EuralisError
from euralis_lib.jobs.schedule import Schedule, load_schedule


def _cmd_daemon(schedule: Schedule, _args: argparse.Namespace) -> int:
    from scheduler import daemon

    return daemon.run_daemon(schedule)


def _cmd_run(schedule: Schedule, args: argparse.Namespace) -> int:
    from euralis_lib.database import db, migrations
    from scheduler import runner

    engine = db.get_engine()
    migrations.apply_migrations(engine)
    outcome = runner.run_entry(schedule, schedule.entry(args.job), engine, declencheur="manuel", progress=True)
    print(f"{args.job}: {outcome.statut} ({outcome.message})")
    return 1 if outcome.statut == "failed" else 0


def _cmd_list(schedule: Schedule, _args: argparse.Namespace) -> int:
    from euralis_lib.database import db
    from euralis_lib.operations import ops
    from euralis_lib.presentation import formatting

    now = schedule.now()
    table = ops.schedule_table(schedule, db.get_engine(), now)
    print(f"{schedule.path} — time zone {schedule.timezone}, now {formatting.horodatage(now)}")
    print(formatting.tableau(table).to_string(index=False))
    return 0


def _cmd_crontab(schedule: Schedule, _args: argparse.Namespace) -> int:
    root = config.PROJECT_ROOT
    print(f"# Euralis Workbench jobs, equivalent to {schedule.path} (install with: crontab -e).")
    print("# cron cannot hold a lock across machines by itself: each line goes through 'python -m scheduler run',\n"
          "# which takes the job's PostgreSQL advisory lock, retries and raises the failure alert.")
    print(f"CRON_TZ={schedule.timezone}")
    for entry in schedule.entries.values():
        fields = entry.cron.split()
        ligne = (f"cd {root} && .venv/bin/python -m scheduler --schedule {schedule.path} run {entry.name} "
                 f">> {config.reports_dir()}/scheduler.log 2>&1")
        if len(fields) == 6:
            print(f"# {entry.name}: '{entry.cron}' has seconds, cron cannot express it: run the daemon instead")
            continue
        print(f"{' '.join(fields)} {ligne}")
    print(f"30 3 * * * cd {root} && find {config.reports_dir()} -maxdepth 1 -type d -name '????-??-??' "
          f"-mtime +{schedule.reports_retention_days} -exec rm -rf {{}} +")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the command; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m scheduler", description="Euralis Workbench scheduler")
    parser.add_argument("--schedule", help="schedule file (default: EURALIS_SCHEDULE or scheduler/schedule.yml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("daemon", help="run the scheduler in the foreground").set_defaults(func=_cmd_daemon)
    p = sub.add_parser("run", help="run one job now (with its lock and retries)")
    p.add_argument("job")
    p.set_defaults(func=_cmd_run)
    sub.add_parser("list", help="jobs, next run times, last status").set_defaults(func=_cmd_list)
    sub.add_parser("crontab", help="print an equivalent crontab").set_defaults(func=_cmd_crontab)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler.scheduler", "apscheduler.executors.default", "papermill", "traitlets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        schedule = load_schedule(args.schedule)
        return int(args.func(schedule, args) or 0)
    except EuralisError as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
