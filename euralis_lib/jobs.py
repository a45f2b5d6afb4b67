"""What every job shares: parameter checking before any write, and the one-transaction result write.

A job function computes everything in memory, then ``execute`` writes the results and marks the
run successful in ONE transaction; any error marks the run failed and leaves earlier results intact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy.engine import Connection, Engine

from euralis_lib import runs
from euralis_lib.config import SITES
from euralis_lib.db import connect
from euralis_lib.exceptions import EuralisError


class JobParameterError(EuralisError):
    """A job parameter has the wrong name, type or value; nothing was written."""


def check_params(job: str, params: Mapping[str, Any], spec: Mapping[str, tuple[type, ...]]) -> None:
    """Refuse unknown names and values of the wrong type (``None`` allowed when NoneType is listed)."""
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise JobParameterError(f"{job}: unknown parameter(s) {', '.join(unknown)}; expected {', '.join(spec)}.")
    for name, value in params.items():
        types = spec[name]
        if isinstance(value, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(value, types)
        if not ok:
            names = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise JobParameterError(f"{job}: parameter {name!r} must be {names}, not {type(value).__name__} "
                                    f"({value!r}). Nothing was written.")


def parse_sites(job: str, sites: Sequence[str] | str | None) -> list[str]:
    """Site codes from a job parameter (None = all sites)."""
    chosen = list(SITES) if sites is None else [sites] if isinstance(sites, str) else list(sites)
    bad = [s for s in chosen if s not in SITES]
    if bad or not chosen:
        raise JobParameterError(f"{job}: unknown or empty site list {chosen!r}; valid codes are {', '.join(SITES)}.")
    return chosen


def parse_date(job: str, name: str, value: str | date | None) -> date | None:
    """A date parameter given as ISO text (papermill passes JSON) or a date."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise JobParameterError(f"{job}: parameter {name!r}={value!r} is not a date (YYYY-MM-DD).") from exc


def execute(engine: Engine, job: str, params: Mapping[str, Any], run_id: int | None,
            compute: Callable[[], Any], write: Callable[[Connection, int, Any], dict],
            engine_name: Callable[[Any], str | None] = lambda _: None) -> dict:
    """Run ``compute`` then, in one transaction, ``write`` the results and complete the run.

    Returns the run's metrics with its ``run_id``. On error the run is marked failed (earlier
    results untouched) and the error propagates.
    """
    if run_id is None:
        run_id = runs.start_run(engine, job, dict(params))
    try:
        output = compute()
        with connect(engine, transaction=True) as conn:
            metrics = write(conn, run_id, output)
            runs.complete_run(conn, run_id, metrics, engine_name=engine_name(output))
    except BaseException as exc:
        runs.fail_run(engine, run_id, f"{type(exc).__name__}: {exc}")
        raise
    return {"run_id": run_id, **metrics}
