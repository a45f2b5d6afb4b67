"""The papermill runner behind ``make pipeline``, the CLI and the scheduler.

``execute_notebook`` checks parameters against the notebook's ``parameters`` cell before anything
is written, records a run, executes the notebook with papermill (the run id injected), saves it
under ``reports/<date>/<job>-<run id>.ipynb`` with an HTML export without code, and marks the run.
A failure keeps the executed notebook (with the error) for debugging and leaves earlier results
untouched.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from euralis_lib import config, db, runs
from euralis_lib.exceptions import EuralisError
from euralis_lib.jobs import JobParameterError

JOBS: dict[str, Path] = {name: config.NOTEBOOKS_DIR / "jobs" / f"{name}.ipynb"
                         for name in ("refresh_performances", "entrainement", "previsions", "clustering", "anomalies",
                                      "planning", "finance")}
_JSON_TYPES = (str, int, float, bool, list, dict, type(None))


class JobFailedError(EuralisError):
    """A job notebook failed; ``run`` is the failed run (its report keeps the error)."""

    def __init__(self, message: str, run: runs.Run | None) -> None:
        super().__init__(message)
        self.run = run


def notebook_defaults(notebook: Path) -> dict[str, Any]:
    """Parameter names and default values of a notebook's ``parameters`` cell."""
    import papermill

    if not notebook.exists():
        raise JobParameterError(f"notebook {notebook} does not exist")
    defaults = {}
    for name, spec in papermill.inspect_notebook(str(notebook)).items():
        try:
            defaults[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            defaults[name] = None
    return defaults


def check_parameters(job: str, notebook: Path, parameters: dict[str, Any]) -> None:
    """Refuse unknown names and values whose type differs from the default's (int allowed for float)."""
    defaults = notebook_defaults(notebook)
    for name, value in parameters.items():
        if name not in defaults:
            raise JobParameterError(f"{job}: {notebook.name} has no parameter {name!r}; "
                                    f"its parameters are {', '.join(defaults)}.")
        default = defaults[name]
        if not isinstance(value, _JSON_TYPES):
            raise JobParameterError(f"{job}: parameter {name!r} must be plain data (text, number, list), "
                                    f"not {type(value).__name__}.")
        if default is None or value is None:
            continue
        expected = (int, float) if isinstance(default, float) else type(default)
        if not isinstance(value, expected) or (isinstance(value, bool) and not isinstance(default, bool)):
            raise JobParameterError(f"{job}: parameter {name!r} must be {type(default).__name__} like its default "
                                    f"{default!r}, not {type(value).__name__} ({value!r}). Nothing was run.")


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


def execute_notebook(job: str, notebook: Path | str, parameters: dict[str, Any] | None = None, *,
                     declencheur: str = "manuel", engine: Engine | None = None, run_id: int | None = None,
                     progress: bool = True) -> runs.Run:
    """Execute one job notebook with papermill and record it as a run (see module docstring)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook)
    if not notebook.is_absolute():
        notebook = config.PROJECT_ROOT / notebook
    parameters = dict(parameters or {})
    check_parameters(job, notebook, parameters)
    engine = engine or db.get_engine()
    if run_id is None:
        run_id = runs.start_run(engine, job, parameters, notebook=str(notebook.relative_to(config.PROJECT_ROOT))
                                if notebook.is_relative_to(config.PROJECT_ROOT) else str(notebook),
                                declencheur=declencheur)
    out_dir = config.reports_dir() / date.today().isoformat()
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{job}-{run_id}.ipynb"
    try:
        papermill.execute_notebook(str(notebook), str(executed), parameters={**parameters, "run_id": run_id},
                                   kernel_name="python3", progress_bar=progress, cwd=str(notebook.parent))
    except BaseException as exc:
        if isinstance(exc, PapermillExecutionError):
            summary = f"{exc.ename}: {exc.evalue}".strip()
        else:
            summary = f"{type(exc).__name__}: {exc}".strip()
        if executed.exists():
            _export_html(executed)
        current = runs.get_run(engine, run_id)
        if current is None or current.statut in ("running", "success"):
            runs.fail_run(engine, run_id, summary, rapport_path=str(executed))
        if not isinstance(exc, Exception):
            raise
        failed = runs.get_run(engine, run_id)
        raise JobFailedError(f"job {job} (run {run_id}) failed: {summary}. Executed notebook kept in {executed}; "
                             "earlier results are unchanged.", failed) from exc
    _export_html(executed)
    runs.set_report_path(engine, run_id, str(executed))
    current = runs.get_run(engine, run_id)
    if current is not None and current.statut == "running":  # a notebook that writes no results
        with db.connect(engine, transaction=True) as conn:
            runs.complete_run(conn, run_id, {})
    return runs.get_run(engine, run_id)


def execute_job(job: str, parameters: dict[str, Any] | None = None, **kw: Any) -> runs.Run:
    """Execute the notebook of a known job (``JOBS``)."""
    if job not in JOBS:
        raise JobParameterError(f"unknown job {job!r}: choose among {', '.join(JOBS)}.")
    return execute_notebook(job, JOBS[job], parameters, **kw)


def run_pipeline(only: Sequence[str] | None = None, parameters: dict[str, dict] | None = None,
                 declencheur: str = "manuel", engine: Engine | None = None) -> list[runs.Run]:
    """Execute the job notebooks in turn; a failed job does not stop the others but fails the pipeline."""
    chosen = list(only or JOBS)
    unknown = [j for j in chosen if j not in JOBS]
    if unknown:
        raise JobParameterError(f"unknown job(s) {', '.join(unknown)}: choose among {', '.join(JOBS)}.")
    engine = engine or db.get_engine()
    done, failures = [], []
    for i, job in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {job}", flush=True)
        try:
            run = execute_job(job, (parameters or {}).get(job), declencheur=declencheur, engine=engine)
        except JobFailedError as exc:
            failures.append(str(exc))
            print(f"    FAILED: {exc}", flush=True)
            continue
        duration = (run.fin - run.debut).total_seconds() if run.fin else float("nan")
        print(f"    ok: run {run.run_id} in {duration:.1f} s, report {run.rapport_path}", flush=True)
        done.append(run)
    if failures:
        raise JobFailedError(f"{len(failures)} job(s) failed:\n" + "\n".join(failures), None)
    return done


def _cmd_pipeline(args: argparse.Namespace) -> int:
    run_pipeline(only=args.only)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pipeline [--only JOB ...]`` to the CLI."""
    p = subparsers.add_parser("pipeline", help="execute the job notebooks with papermill")
    p.add_argument("--only", nargs="+", choices=list(JOBS), help="run only these jobs")
    p.set_defaults(func=_cmd_pipeline)
