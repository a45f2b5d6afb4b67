"""The papermill runner behind ``make pipeline``, the CLI and the scheduler.

:func:`execute_notebook` checks parameters against the notebook's ``parameters`` cell before
anything is written (and records them completed with the declared defaults), takes the job's lock
for all its attempts (a job never runs twice at once), and for each attempt records a run,
executes the notebook with papermill (``run_id`` and the password-free ``database_url`` injected;
a password travels to the kernel as ``PGPASSWORD``, never into the saved notebook), saves it under
``reports/<date>/<job>-<run id>.ipynb`` with an HTML export without code, and retries with backoff
when asked. The job code in the kernel records the run's outcome; this runner only fails a run the
kernel left ``running`` (it died, or failed before the job was called), and completes the run of a
notebook that calls no job at all. A failure keeps the executed notebook (with the error) and
leaves earlier results untouched.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from euralis_lib import config, jobs
from euralis_lib.database import db
from euralis_lib.exceptions import EuralisError
from euralis_lib.jobs import runs
from euralis_lib.jobs.parameters import are_defaults, with_defaults


class JobFailedError(EuralisError):
    """A job notebook failed after its attempts; ``tentatives`` are the failed runs (reports keep the errors)."""

    def __init__(self, message: str, tentatives: list[runs.Run]) -> None:
        super().__init__(message)
        self.tentatives = tentatives

    @property
    def run(self) -> runs.Run | None:
        """The last failed run (None when none was recorded)."""
        return self.tentatives[-1] if self.tentatives else None


def _export_html(executed: Path) -> Path:
    """HTML without code next to the executed notebook; plotly figures render offline from a shared
    ``plotly.min.js`` copied once into the report folder."""
    import shutil

    import nbformat
    import plotly
    import plotly.io as pio
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            fig = output.get("data", {}).get("application/vnd.plotly.v1+json")
            if fig is not None:
                output["data"]["text/html"] = pio.to_html(fig, include_plotlyjs="directory", full_html=False)
    js = executed.parent / "plotly.min.js"
    if not js.exists():
        shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", js)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    html = executed.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def _kernel_url(engine: Engine, role: str | None) -> str:
    """The database URL handed to the kernel: without its password, which goes to ``PGPASSWORD``; its
    sessions run as ``role`` (the job's, :attr:`jobs.Job.role_db`) when given."""
    url = make_url(db.url_en_role(engine.url.render_as_string(hide_password=False), role)) if role else engine.url
    if url.password:
        os.environ["PGPASSWORD"] = str(url.password)  # inherited by kernels; never written to a notebook
        # URL.set(password=None) would keep the password (None means "unchanged" there): rebuild without it.
        url = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
    return url.render_as_string(hide_password=False)


def _role(job: str) -> str | None:
    """The PostgreSQL role a job's notebook runs as (a notebook outside the registry runs as a job too)."""
    return jobs.JOBS[job].role_db if job in jobs.JOBS else jobs.JOB_ROLE


def _attempt(job: str, notebook: Path, valeurs: dict[str, Any], engine: Engine, declencheur: str,
             progress: bool, publier: bool) -> runs.Run:
    """One execution of the notebook: its run row, papermill, the report; returns the recorded run."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    relatif = str(notebook.relative_to(config.PROJECT_ROOT)) if notebook.is_relative_to(config.PROJECT_ROOT) \
        else str(notebook)
    run_id = runs.start_run(engine, job, valeurs, notebook=relatif, declencheur=declencheur, publier=publier)
    out_dir = config.reports_dir() / date.today().isoformat()
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{job}-{run_id}.ipynb"
    try:
        papermill.execute_notebook(str(notebook), str(executed), kernel_name="python3", progress_bar=progress,
                                   cwd=str(notebook.parent),
                                   parameters={**valeurs, "run_id": run_id,
                                               "database_url": _kernel_url(engine, _role(job))})
    except BaseException as exc:
        summary = (f"{exc.ename}: {exc.evalue}" if isinstance(exc, PapermillExecutionError)
                   else f"{type(exc).__name__}: {exc}").strip()
        if executed.exists():
            _export_html(executed)
        runs.fail_if_running(engine, run_id, summary)
        recorded = runs.get_run(engine, run_id)
        # results written, then a display cell failed: the run stands, the report says it is incomplete
        remarque = f"rapport incomplet : {summary}" if recorded and recorded.statut == "success" else None
        runs.set_report(engine, run_id, str(executed), remarque)
        if not isinstance(exc, Exception):
            raise
    else:
        _export_html(executed)
        runs.set_report(engine, run_id, str(executed))
        current = runs.get_run(engine, run_id)
        if current is not None and current.statut == "running":  # a notebook that calls no job function
            with db.connect(engine, transaction=True) as conn:
                runs.complete_run(conn, run_id, {})
    return runs.get_run(engine, run_id)


log = logging.getLogger("euralis.pipeline")
DECLENCHEURS = {"planifie": "planifié", "manuel": "lancé à la main"}


def raise_failure_alert(conn: Connection, job: str, run: runs.Run | None, tentatives: int,
                        declencheur: str = "manuel") -> None:
    """A critical alert (no site) for a job that still failed after its attempts, whoever started it; rule
    ``job_echec`` of regles_alertes (its switch and severity apply, sql/182); never duplicated (key per run)."""
    run_id = run.run_id if run else None
    erreur = (run.erreur if run and run.erreur else "erreur inconnue")[:500]
    conn.execute(sa.text(
        "SELECT alerte_lever('job_echec', clock_timestamp(), NULL, NULL, NULL, :msg, :rid, :cle)"),
        {"msg": f"Le job {job} ({DECLENCHEURS.get(declencheur, declencheur)}) a échoué après {tentatives} "
                f"tentative(s) : {erreur}. Rapport : "
                f"{Path(run.rapport_path).name if run and run.rapport_path else '—'} (page Ops). "
                "Les résultats précédents sont conservés.",
         "rid": run_id, "cle": f"job_echec:{job}:{run_id}"})


def execute_notebook(job: str, notebook: Path | str, parameters: dict[str, Any] | None = None, *,
                     declencheur: str = "manuel", engine: Engine | None = None, attempts: int = 1,
                     backoff_s: float = 60.0, stop: threading.Event | None = None,
                     progress: bool = True, publier: bool | None = None) -> runs.Run:
    """Execute a notebook as job ``job`` (see module docstring); returns the successful run.

    ``publier``: whether the run, once successful, is what pages show; None publishes a run with the
    notebook's default parameters and keeps any other exploratory (the scheduler and the pipeline publish).

    Raises :class:`JobParameterError` before anything is written for unknown or mistyped
    parameters, :class:`runs.JobBusyError` (a ``skipped`` run recorded) when the job is already
    running, :class:`JobFailedError` when every attempt failed, after raising the ``job_echec`` alert (a
    database refusing it is logged: the job's own failure is what the caller must see). ``stop`` cuts a
    backoff wait short.
    """
    notebook = Path(notebook)
    if not notebook.is_absolute():
        notebook = config.PROJECT_ROOT / notebook
    valeurs = with_defaults(job, notebook, parameters or {})
    if publier is None:
        publier = are_defaults(notebook, valeurs)
    engine = engine or db.get_engine()
    stop = stop or threading.Event()
    tentatives: list[runs.Run] = []
    with runs.job_lock(engine, job, parametres=valeurs, declencheur=declencheur, notebook=str(notebook)):
        for tentative in range(1, attempts + 1):
            run = _attempt(job, notebook, valeurs, engine, declencheur, progress, publier)
            if run.statut == "success":
                return run
            tentatives.append(run)
            if tentative < attempts and stop.wait(backoff_s * 2 ** (tentative - 1)):
                break
    last = tentatives[-1]
    try:
        with db.connect(engine, transaction=True) as conn:
            raise_failure_alert(conn, job, last, len(tentatives), declencheur)
    except (sa.exc.SQLAlchemyError, EuralisError) as exc:
        log.warning("job %s failed, and its alert could not be raised: %s", job, exc)
    raise JobFailedError(f"job {job} (run {last.run_id}) failed after {len(tentatives)} attempt(s): {last.erreur}. "
                         f"Executed notebook kept in {last.rapport_path}; earlier results are unchanged.", tentatives)


def execute_job(job: str, parameters: dict[str, Any] | None = None, **kw: Any) -> runs.Run:
    """Execute the notebook of a registered job (:data:`euralis_lib.jobs.JOBS`)."""
    return execute_notebook(job, jobs.get(job).notebook, parameters, **kw)


def run_pipeline(only: Sequence[str] | None = None, parameters: dict[str, dict] | None = None,
                 declencheur: str = "manuel", engine: Engine | None = None) -> list[runs.Run]:
    """Execute the job notebooks in registry order, their runs published (pages show them); a failed or busy
    job does not stop the others but fails the pipeline."""
    chosen = list(only or jobs.JOBS)
    for job in chosen:
        jobs.get(job)
    engine = engine or db.get_engine()
    done, failures = [], []
    for i, job in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {job}", flush=True)
        try:
            run = execute_job(job, (parameters or {}).get(job), declencheur=declencheur, engine=engine, publier=True)
        except (JobFailedError, runs.JobBusyError) as exc:
            failures.append(str(exc))
            print(f"    FAILED: {exc}", flush=True)
            continue
        duration = (run.fin - run.debut).total_seconds() if run.fin else float("nan")
        print(f"    ok: run {run.run_id} in {duration:.1f} s, report {run.rapport_path}", flush=True)
        done.append(run)
    if failures:
        raise JobFailedError(f"{len(failures)} job(s) failed:\n" + "\n".join(failures), [])
    return done


def _cmd_pipeline(args: argparse.Namespace) -> int:
    run_pipeline(only=args.only)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pipeline [--only JOB ...]`` to the CLI."""
    p = subparsers.add_parser("pipeline", help="execute the job notebooks with papermill")
    p.add_argument("--only", nargs="+", choices=list(jobs.JOBS), help="run only these jobs")
    p.set_defaults(func=_cmd_pipeline)
