"""The job-run table and the job lock: every job execution is one row; results point to it by ``run_id``.

Pattern for a job: take :func:`job_lock` (a PostgreSQL advisory lock per job name: every path that
starts a job takes it, so a job never runs twice at once, on any machine using the database),
``start_run`` (committed at once, status ``running``, so ops see it), compute everything in memory,
then in ONE transaction write the results and ``complete_run``. On error, ``fail_run`` marks the
row; results of earlier runs stay untouched. Whoever executes the job code (the kernel of a job
notebook, or the process calling the job function) is the one writer of a run's status; a runner
that launched a kernel only fails a run the kernel left ``running`` (:func:`fail_if_running`).
Readers use ``latest_run``.

A run records the backend pid of the session holding its job's lock; a ``running`` run whose session
no longer holds the lock lost its process (SIGKILL, crash) and is marked ``failed`` by
:func:`mark_orphans` (sql/200_runs_orphelins.sql), called by whoever looks first: the next start of
the job, the scheduler's tick, ``health``, the Ops page's run list.

A run also has a stage (``etape``, sql/202_runs_etapes.sql), set when it starts: ``publie`` for scheduled and
pipeline runs, ``exploratoire`` for runs started by hand. Pages read :func:`latest_run`, the run published
last; an admin publishes an exploratory run with :func:`promote` and goes back to the previous published run
with :func:`rollback`, both refused by PostgreSQL to anyone else and audited in ``job_runs_publications``.
"""

from __future__ import annotations

import json
import os
import platform
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from euralis_lib.database.db import connect
from euralis_lib.exceptions import EuralisError

STATUSES = ("running", "success", "failed", "abandoned", "skipped")
_TRACKED = ("euralis-workbench", "pandas", "numpy", "scikit-learn", "scipy", "prophet", "statsmodels",
            "pyoperon", "pysr", "papermill", "sqlalchemy")


class RunNotRunningError(EuralisError):
    """The run is no longer ``running`` (marked orphaned meanwhile): its results must not be published."""


@dataclass(frozen=True)
class Orphan:
    """A run marked ``failed`` because its process was gone (its job's lock was free)."""

    run_id: int
    job: str
    pid: int | None
    hote: str | None


class PublicationError(EuralisError):
    """A promotion or rollback refused by the database (not an admin, run not successful, nothing to go back to)."""


class JobBusyError(EuralisError):
    """The job is already running (its lock is held); a ``skipped`` run was recorded."""

    def __init__(self, message: str, run_id: int) -> None:
        super().__init__(message)
        self.run_id = run_id


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
    declencheur: str
    etape: str  # exploratoire, publie or retire (sql/202)
    publie_le: datetime | None  # when an admin promoted it
    publie_par: str | None  # who promoted it


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
              notebook: str | None = None, declencheur: str = "manuel", publier: bool = False) -> int:
    """Insert a ``running`` row (committed immediately) and return its run_id; the row records the session
    holding the job's lock (:func:`job_lock`), which keeps the run alive for :func:`mark_orphans`.

    ``publier``: once successful, the run is what pages show (stage ``publie``); otherwise it is exploratory.
    """
    with connect(engine, transaction=True) as conn:
        return int(conn.execute(sa.text(
            "INSERT INTO job_runs (job, notebook, parametres, declencheur, etape, versions, hote, pid, verrou_pid) "
            "VALUES (:job, :nb, CAST(:p AS jsonb), :decl, :etape, CAST(:v AS jsonb), :hote, :pid, "
            "(SELECT min(v) FROM euralis_verrou_job(:job) v)) RETURNING run_id"),
            {"job": job, "nb": notebook, "p": json.dumps(parametres or {}, default=str),
             "decl": declencheur, "etape": "publie" if publier else "exploratoire",
             "v": json.dumps(library_versions()), "hote": socket.gethostname(), "pid": os.getpid()}).scalar_one())


def complete_run(conn: Connection, run_id: int, metriques: dict[str, Any] | None = None, *,
                 engine_name: str | None = None) -> None:
    """Mark a run successful, inside the caller's transaction (the one that wrote the results).

    Raises :class:`RunNotRunningError` when the run is no longer ``running`` (marked orphaned while the
    job computed): the caller's transaction then rolls back, so its results never become visible.
    """
    if conn.execute(sa.text(
            "UPDATE job_runs SET statut = 'success', fin = clock_timestamp(), metriques = CAST(:m AS jsonb), "
            "engine = COALESCE(:e, engine), role_db = current_user WHERE run_id = :r AND statut = 'running'"),
            {"m": json.dumps(metriques or {}, default=str), "e": engine_name, "r": run_id}).rowcount != 1:
        raise RunNotRunningError(f"run {run_id} is no longer running (marked failed meanwhile, see its error): "
                                 "its results are not published, earlier results stay")


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


def fail_if_running(engine: Engine, run_id: int, erreur: str) -> bool:
    """Fail a run only if it is still ``running`` (its kernel died or failed before the job code could
    record the outcome); never rewrites an outcome the job recorded. True when it was failed here."""
    with connect(engine, transaction=True) as conn:
        return conn.execute(sa.text(
            "UPDATE job_runs SET statut = 'failed', fin = clock_timestamp(), erreur = :err "
            "WHERE run_id = :r AND statut = 'running'"), {"err": erreur[:4000], "r": run_id}).rowcount == 1


def set_report(engine: Engine, run_id: int, rapport_path: str, remarque: str | None = None) -> None:
    """Record where the executed notebook of a run was saved (and a remark when the report itself is
    incomplete, e.g. a display cell failed after the results were written); never touches the status."""
    with connect(engine, transaction=True) as conn:
        conn.execute(sa.text("UPDATE job_runs SET rapport_path = :rp, erreur = COALESCE(:rq, erreur) "
                             "WHERE run_id = :r"), {"rp": rapport_path, "rq": remarque, "r": run_id})


@contextmanager
def job_lock(engine: Engine, job: str, *, parametres: dict[str, Any] | None = None,
             declencheur: str = "manuel", notebook: str | None = None) -> Iterator[None]:
    """Hold ``job``'s advisory lock for the block, on a dedicated connection.

    If another process (or thread) holds it, a ``skipped`` run is recorded and :class:`JobBusyError`
    raised at once, without waiting. PostgreSQL releases the lock if the holder dies; once taken, the
    job's runs still ``running`` are orphans of a dead holder and are marked failed (:func:`mark_orphans`).
    """
    key = {"k": job}
    with connect(engine) as conn:
        # Short transactions, so the caller's role applies (a dashboard admin's SET LOCAL ROLE); the session
        # lock outlives them.
        with conn.begin():
            got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(euralis_cle_job(:k))"), key).scalar())
        if not got:
            rid = start_run(engine, job, parametres, notebook=notebook, declencheur=declencheur)
            message = (f"{job}: skipped, already running (advisory lock held); "
                       f"this process is {socket.gethostname()}:{os.getpid()}")
            fail_run(engine, rid, message, statut="skipped")
            raise JobBusyError(message, rid)
        try:
            with conn.begin():
                mark_orphans(conn, job)
            yield
        finally:
            with conn.begin():
                conn.execute(sa.text("SELECT pg_advisory_unlock(euralis_cle_job(:k))"), key)


def mark_orphans(engine: Engine | Connection, job: str | None = None) -> list[Orphan]:
    """Mark ``failed`` the ``running`` runs (of ``job``, or all) whose process is gone, and return them.

    A run is alive while the database session that held its job's lock when it started still holds it
    (``euralis_marquer_orphelins()``, sql/200). Given an engine, committed at once; given a connection, inside
    its transaction. Concurrent callers never mark a run twice.
    """
    query = sa.text("SELECT run_id, job, pid, hote FROM euralis_marquer_orphelins(:j) ORDER BY run_id")
    if isinstance(engine, Connection):
        rows = engine.execute(query, {"j": job}).all()
    else:
        with connect(engine, transaction=True) as conn:
            rows = conn.execute(query, {"j": job}).all()
    return [Orphan(r.run_id, r.job, r.pid, r.hote) for r in rows]


def count_orphans(engine: Engine) -> int:
    """``running`` runs whose process is gone that are still unmarked (0 right after :func:`mark_orphans`,
    unless the caller may not mark them)."""
    with connect(engine) as conn:
        return int(conn.execute(sa.text(
            "SELECT count(*) FROM job_runs WHERE statut = 'running' AND NOT euralis_run_vivant(job, verrou_pid)")
        ).scalar_one())


# The metrics hold per-site figures: the database gives them only to users who may read every row
# (sql/151_rls_partout.sql), and to the pipeline.
_COLONNES = ("run_id, job, statut, debut, fin, parametres, job_runs_metriques(run_id) AS metriques, engine, "
             "rapport_path, erreur, declencheur, etape, publie_le, publie_par")


def _row_to_run(row: sa.Row) -> Run:
    m = row._mapping
    return Run(run_id=m["run_id"], job=m["job"], statut=m["statut"], debut=m["debut"], fin=m["fin"],
               parametres=m["parametres"], metriques=m["metriques"], engine=m["engine"],
               rapport_path=m["rapport_path"], erreur=m["erreur"], declencheur=m["declencheur"],
               etape=m["etape"], publie_le=m["publie_le"], publie_par=m["publie_par"])


def get_run(engine: Engine, run_id: int) -> Run | None:
    """The run with this id, or None."""
    with connect(engine) as conn:
        row = conn.execute(sa.text(f"SELECT {_COLONNES} FROM job_runs WHERE run_id = :r"), {"r": run_id}).first()
    return _row_to_run(row) if row else None


def latest_run(engine: Engine, job: str, statut: str = "success") -> Run | None:
    """The run of ``job`` that pages show (default): its successful published run published last (sql/202's
    ``euralis_run_publie``), never an exploratory one. With another ``statut``: the latest run with it, of any
    stage. None when there is none."""
    publie = statut == "success"
    with connect(engine) as conn:
        row = conn.execute(sa.text(
            f"SELECT {_COLONNES} FROM job_runs WHERE run_id = euralis_run_publie(:j)" if publie else
            f"SELECT {_COLONNES} FROM job_runs WHERE job = :j AND statut = :s ORDER BY run_id DESC LIMIT 1"),
            {"j": job, "s": statut}).first()
    return _row_to_run(row) if row else None


def _publish(engine: Engine, query: str, params: dict[str, Any]) -> int | None:
    """Call a publication function of sql/202 in one transaction; its refusal as :class:`PublicationError`."""
    try:
        with connect(engine, transaction=True) as conn:
            return conn.execute(sa.text(query), params).scalar()
    except sa.exc.DBAPIError as exc:
        # The functions' own refusals (insufficient_privilege, check_violation, no_data_found) and a role
        # without EXECUTE on them carry a French message, or a clear one, for the user.
        if getattr(exc.orig, "pgcode", None) in {"42501", "23514", "P0002"}:
            raise PublicationError(exc.orig.diag.message_primary or str(exc.orig)) from exc
        raise


def promote(engine: Engine, run_id: int) -> int | None:
    """Publish a successful run (pages show it from now on); returns the run they showed before (None: none).
    Only an admin may (the database refuses anyone else); audited in ``job_runs_publications``."""
    return _publish(engine, "SELECT euralis_promouvoir_run(:r)", {"r": run_id})


def rollback(engine: Engine, job: str) -> int:
    """Retire ``job``'s current published run, so pages show the published run before it, and return that run.
    Only an admin may; audited in ``job_runs_publications``."""
    return int(_publish(engine, "SELECT euralis_retour_run(:j)", {"j": job}))
