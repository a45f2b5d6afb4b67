"""The schedule file (``scheduler/schedule.yml``): what runs when; loading and validation.

Read by the scheduler daemon (``python -m scheduler``), the Ops page and ``scheduler list``. Every
problem is reported before anything runs, naming the entry: invalid cron expression, numeric day of
week (0 is Sunday in cron but Monday in APScheduler 3), unknown job or notebook, parameters the
notebook does not declare or of the wrong type. An entry names a registered job
(:data:`euralis_lib.jobs.JOBS`, whose notebook it runs) or gives its own ``notebook``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from apscheduler.triggers.cron import CronTrigger

from euralis_lib import config, jobs
from euralis_lib.exceptions import EuralisError
from euralis_lib.jobs import parameters

DEFAULT_SCHEDULE = config.PROJECT_ROOT / "scheduler" / "schedule.yml"
_GLOBAL_KEYS = {"timezone", "retries", "retry_backoff_seconds", "missed_run_grace_hours", "reports_retention_days",
                "alerts_digest_time", "jobs"}
DEFAULT_DIGEST_TIME = time(7, 0)
_ENTRY_KEYS = {"cron", "notebook", "parameters"}


class ScheduleError(EuralisError):
    """The schedule file is invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class Entry:
    """One scheduled job: name, cron expression, notebook and parameters."""

    name: str
    cron: str
    notebook: Path
    parameters: dict[str, Any]
    trigger: CronTrigger = field(compare=False, repr=False)

    def fires_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Fire times in ``(start, end]`` (at most 10 000)."""
        times, previous, current = [], None, start
        while len(times) < 10_000:
            nxt = self.trigger.get_next_fire_time(previous, current)
            if nxt is None or nxt > end:
                break
            if nxt > start:
                times.append(nxt)
            previous, current = nxt, nxt + timedelta(microseconds=1)
        return times

    def next_fire(self, now: datetime) -> datetime | None:
        """The next fire time after ``now``."""
        return self.trigger.get_next_fire_time(None, now)


@dataclass(frozen=True)
class Schedule:
    """The whole schedule file."""

    path: Path
    timezone: str
    retries: int
    retry_backoff_seconds: float
    missed_run_grace: timedelta
    reports_retention_days: int
    entries: dict[str, Entry]
    alerts_digest_time: time = DEFAULT_DIGEST_TIME  # daily alert digest e-mails, in the schedule's time zone

    def now(self) -> datetime:
        """The current time in the schedule's time zone."""
        return datetime.now(ZoneInfo(self.timezone))

    def entry(self, name: str) -> Entry:
        """The entry called ``name`` (ScheduleError with the known names otherwise)."""
        if name not in self.entries:
            raise ScheduleError(f"{self.path}: no job {name!r}; the schedule has {', '.join(self.entries)}.")
        return self.entries[name]


def schedule_path(path: str | Path | None = None) -> Path:
    """``path``, else ``EURALIS_SCHEDULE``, else ``scheduler/schedule.yml``."""
    return Path(path or os.environ.get("EURALIS_SCHEDULE") or DEFAULT_SCHEDULE)


def parse_cron(expr: str, timezone: str) -> CronTrigger:
    """A trigger from 5 cron fields (or 6 with seconds first); ValueError with the reason otherwise."""
    fields = str(expr).split()
    if len(fields) not in (5, 6):
        raise ValueError(f"cron {expr!r} must have 5 fields (minute hour day month day-of-week), or 6 with "
                         f"seconds first; it has {len(fields)}")
    if any(ch.isdigit() for ch in fields[-1]):
        raise ValueError(f"cron {expr!r}: write days of week by name (mon, tue, … sun), not by number")
    names = ["minute", "hour", "day", "month", "day_of_week"]
    if len(fields) == 6:
        names = ["second", *names]
    return CronTrigger(timezone=timezone, **dict(zip(names, fields, strict=True)))


def _number(raw: dict, key: str, default: float, path: Path, minimum: float = 0) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ScheduleError(f"{path}: {key} must be a number ≥ {minimum:g}, not {value!r}.")
    return value


def _digest_time(raw: dict, path: Path) -> time:
    """``alerts_digest_time: "HH:MM"`` (quoted: YAML reads an unquoted 7:00 as a number: 420 minutes)."""
    value = raw.get("alerts_digest_time", DEFAULT_DIGEST_TIME.strftime("%H:%M"))
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return datetime.strptime(value.strip(), "%H:%M").time()
    except ValueError as exc:
        raise ScheduleError(f'{path}: alerts_digest_time must be a quoted time "HH:MM" (e.g. "07:00"), '
                            f"not {value!r}.") from exc


def _notebook(name: str, spec: dict, where: str) -> Path:
    """The entry's own notebook (from the project root), else the registered job's notebook."""
    if "notebook" in spec:
        notebook = Path(spec["notebook"])
        return notebook if notebook.is_absolute() else config.PROJECT_ROOT / notebook
    if name in jobs.JOBS:
        return jobs.JOBS[name].notebook
    raise ScheduleError(f"{where} is not a registered job ({', '.join(jobs.JOBS)}): give its 'notebook'.")


def load_schedule(path: str | Path | None = None, check_notebooks: bool = True) -> Schedule:
    """Read and validate the schedule file (see module docstring)."""
    path = schedule_path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ScheduleError(f"schedule file {path} does not exist.") from exc
    except yaml.YAMLError as exc:
        raise ScheduleError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("jobs"), dict) or not raw["jobs"]:
        raise ScheduleError(f"{path}: expected a mapping with a non-empty 'jobs:' section.")
    unknown = set(raw) - _GLOBAL_KEYS
    if unknown:
        raise ScheduleError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(sorted(_GLOBAL_KEYS))}.")
    timezone = str(raw.get("timezone", "Europe/Paris"))
    try:
        CronTrigger(timezone=timezone)
    except Exception as exc:  # noqa: BLE001 — zoneinfo raises several types
        raise ScheduleError(f"{path}: unknown timezone {timezone!r}.") from exc
    entries = {}
    for name, spec in raw["jobs"].items():
        where = f"{path}: job {name!r}"
        if not isinstance(spec, dict) or "cron" not in spec:
            raise ScheduleError(f"{where} needs 'cron'.")
        extra = set(spec) - _ENTRY_KEYS
        if extra:
            raise ScheduleError(f"{where}: unknown key(s) {', '.join(sorted(extra))}; "
                                "known: cron, notebook, parameters.")
        try:
            trigger = parse_cron(spec["cron"], timezone)
        except ValueError as exc:
            raise ScheduleError(f"{where}: invalid cron: {exc}.") from exc
        notebook = _notebook(str(name), spec, where)
        valeurs = spec.get("parameters") or {}
        if not isinstance(valeurs, dict):
            raise ScheduleError(f"{where}: 'parameters' must be a mapping of name: value.")
        if check_notebooks:
            if not notebook.is_file():
                raise ScheduleError(f"{where}: notebook {notebook} does not exist.")
            try:
                parameters.check(str(name), notebook, valeurs)
            except EuralisError as exc:
                raise ScheduleError(f"{where}: {exc}") from exc
        entries[str(name)] = Entry(str(name), str(spec["cron"]), notebook, valeurs, trigger)
    return Schedule(
        path=path, timezone=timezone, retries=int(_number(raw, "retries", 2, path)),
        retry_backoff_seconds=float(_number(raw, "retry_backoff_seconds", 60, path)),
        missed_run_grace=timedelta(hours=float(_number(raw, "missed_run_grace_hours", 6, path))),
        reports_retention_days=int(_number(raw, "reports_retention_days", 30, path, minimum=1)), entries=entries,
        alerts_digest_time=_digest_time(raw, path))
