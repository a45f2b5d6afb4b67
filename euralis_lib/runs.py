"""The job-run table: every job execution is one row; results point to it by ``run_id``.

Pattern for a job: ``start_run`` (committed at once, status ``running``, so ops see it), compute
everything in memory, then in ONE transaction write the results and ``complete_run``. On error,
``fail_run`` marks the row; results of earlier runs stay untouched. Readers use ``latest_run``.
"""

from __future__ import annotations

import json
import os
import platform
import socket
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from euralis_lib.db import connect

STATUSES = ("running", "success", "failed", "abandoned", "skipped")
_TRACKED = ("euralis-workbench", "pandas", "numpy", "scikit-learn", "scipy", "prophet",
            "pyoperon", "pysr", "papermill", "sqlalchemy")


@dataclass(frozen=True)
class Run:
    """One row of ``job_runs``."""

    run_id: int
    job: str
    statut: str
    debut: datetime
    fin: datetime | None
    parametres: dict[str, Any]
    metriques: dict[str, Any]
    engine: str | None
    rapport_path: str | None
    erreur: str | None


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape results, recorded with every run."""
    versions = {"python": platform.python_version()}
    for name in _TRACKED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def start_run(engine: Engine, job: str, parametres: dict[str, Any] | None = None, *,
              notebook: str | None = None, declencheur: str = "manuel") -> int:
    """Insert a ``running`` row (committed immediately) and return its run_id."""
    with connect(engine, transaction=True) as conn:
        return int(conn.execute(sa.text(
            "INSERT INTO job_runs (job, notebook, parametres, declencheur, versions, hote, pid) "
            "VALUES (:job, :nb, CAST(:p AS jsonb), :decl, CAST(:v AS jsonb), :hote, :pid) RETURNING run_id"),
            {"job": job, "nb": notebook, "p": json.dumps(parametres or {}, default=str),
             "decl": declencheur, "v": json.dumps(library_versions()),
             "hote": socket.gethostname(), "pid": os.getpid()}).scalar_one())


def complete_run(conn: Connection, run_id: int, metriques: dict[str, Any] | None = None, *,
                 engine_name: str | None = None) -> None:
    """Mark a run successful, inside the caller's transaction (the one that wrote the results)."""
    conn.execute(sa.text(
        "UPDATE job_runs SET statut = 'success', fin = clock_timestamp(), "
        "metriques = CAST(:m AS jsonb), engine = COALESCE(:e, engine) WHERE run_id = :r"),
        {"m": json.dumps(metriques or {}, default=str), "e": engine_name, "r": run_id})


def fail_run(engine: Engine, run_id: int, erreur: str, *, statut: str = "failed",
             rapport_path: str | None = None) -> None:
    """Mark a run failed (or abandoned/skipped) with an error summary; never touches results."""
    if statut not in {"failed", "abandoned", "skipped"}:
        raise ValueError(f"statut must be failed, abandoned or skipped, not {statut!r}")
    with connect(engine, transaction=True) as conn:
        conn.execute(sa.text(
            "UPDATE job_runs SET statut = :s, fin = clock_timestamp(), erreur = :err, "
            "rapport_path = COALESCE(:rp, rapport_path) WHERE run_id = :r"),
            {"s": statut, "err": erreur[:4000], "rp": rapport_path, "r": run_id})


def set_report_path(engine: Engine, run_id: int, rapport_path: str) -> None:
    """Record where the executed notebook of a run was saved."""
    with connect(engine, transaction=True) as conn:
        conn.execute(sa.text("UPDATE job_runs SET rapport_path = :rp WHERE run_id = :r"),
                     {"rp": rapport_path, "r": run_id})


def _row_to_run(row: sa.Row) -> Run:
    m = row._mapping
    return Run(run_id=m["run_id"], job=m["job"], statut=m["statut"], debut=m["debut"], fin=m["fin"],
               parametres=m["parametres"], metriques=m["metriques"], engine=m["engine"],
               rapport_path=m["rapport_path"], erreur=m["erreur"])


def get_run(engine: Engine, run_id: int) -> Run | None:
    """The run with this id, or None."""
    with connect(engine) as conn:
        row = conn.execute(sa.text("SELECT * FROM job_runs WHERE run_id = :r"), {"r": run_id}).first()
    return _row_to_run(row) if row else None


def latest_run(engine: Engine, job: str, statut: str = "success") -> Run | None:
    """The most recent run of ``job`` with this status (default: the latest successful run)."""
    with connect(engine) as conn:
        row = conn.execute(sa.text(
            "SELECT * FROM job_runs WHERE job = :j AND statut = :s ORDER BY fin DESC NULLS LAST, run_id DESC "
            "LIMIT 1"), {"j": job, "s": statut}).first()
    return _row_to_run(row) if row else None
