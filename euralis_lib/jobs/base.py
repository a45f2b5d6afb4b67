"""What every job shares: the perimeter (sites and period) parsed once, and the one-transaction write.

A job's ``run(engine, *, run_id, …)`` computes everything in memory, then :func:`execute` writes
the results and marks the run successful in ONE transaction; any error marks the run failed and
leaves earlier results intact. The job code is the one writer of its run's status. Called with
``run_id=None`` (a notebook opened in JupyterLab, a test), :func:`execute` takes the job's lock and
records the run itself; otherwise the caller that created the run holds the lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.engine import Connection, Engine

from euralis_lib.database import queries
from euralis_lib.database.db import connect
from euralis_lib.jobs import runs
from euralis_lib.jobs.parameters import JobParameterError

__all__ = ["JobParameterError", "Perimetre", "arguments", "execute", "parse_date", "perimetre"]
_CONTEXTE = ("engine", "run_id")


def arguments(local_vars: Mapping[str, Any]) -> dict[str, Any]:
    """A job's parameter values from ``locals()`` taken first thing in its ``run`` (engine and run_id left out)."""
    return {k: v for k, v in local_vars.items() if k not in _CONTEXTE}


@dataclass(frozen=True)
class Perimetre:
    """The sites and the period a job works on (``None`` dates: unbounded)."""

    sites: list[str]
    debut: date | None
    fin: date | None


def parse_date(job: str, name: str, value: str | date | None) -> date | None:
    """A date parameter given as ISO text (papermill passes JSON) or a date."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise JobParameterError(f"{job}: parameter {name!r}={value!r} is not a date (YYYY-MM-DD).") from exc


def perimetre(engine: Engine, job: str, sites: Sequence[str] | str | None, debut: str | date | None = None,
              fin: str | date | None = None) -> Perimetre:
    """Sites (None = every site of the database) checked against the ``sites`` table, and the period."""
    connus = queries.site_codes(engine)
    chosen = connus if sites is None else [sites] if isinstance(sites, str) else list(sites)
    bad = [s for s in chosen if s not in connus]
    if bad or not chosen:
        raise JobParameterError(f"{job}: unknown or empty site list {chosen!r}; valid codes are "
                                f"{', '.join(connus) or '(no site in the database)'}.")
    d0, d1 = parse_date(job, "debut", debut), parse_date(job, "fin", fin)
    if d0 is not None and d1 is not None and d1 < d0:
        raise JobParameterError(f"{job}: inverted period ({d0} > {d1}).")
    return Perimetre(chosen, d0, d1)


def _write(engine: Engine, run_id: int, compute: Callable[[], Any], write: Callable[[Connection, int, Any], dict],
           engine_name: Callable[[Any], str | None]) -> dict:
    try:
        output = compute()
        with connect(engine, transaction=True) as conn:
            metrics = write(conn, run_id, output)
            runs.complete_run(conn, run_id, metrics, engine_name=engine_name(output))
    except BaseException as exc:
        runs.fail_if_running(engine, run_id, f"{type(exc).__name__}: {exc}")  # an orphan keeps its verdict
        raise
    return {"run_id": run_id, **metrics}


def execute(engine: Engine, job: str, params: Mapping[str, Any], run_id: int | None,
            compute: Callable[[], Any], write: Callable[[Connection, int, Any], dict],
            engine_name: Callable[[Any], str | None] = lambda _: None) -> dict:
    """Run ``compute`` then, in one transaction, ``write`` the results and complete the run.

    Returns the run's metrics with its ``run_id``. On error the run is marked failed (earlier
    results untouched) and the error propagates. ``run_id=None``: the job's lock is taken here
    (:class:`runs.JobBusyError` when it is held elsewhere) and the run recorded.
    """
    if run_id is not None:
        return _write(engine, run_id, compute, write, engine_name)
    with runs.job_lock(engine, job, parametres=dict(params)):
        rid = runs.start_run(engine, job, dict(params))
        return _write(engine, rid, compute, write, engine_name)
