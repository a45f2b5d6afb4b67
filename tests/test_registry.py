"""One shape for jobs, runs and pages: the registries every consumer reads agree with the code, parameters
are declared once, every path that starts a job takes its lock, and lower layers never import higher ones."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import nbformat
import pytest

from euralis_lib import config, jobs
from euralis_lib.dashboards import PAGES, abattages
from euralis_lib.dashboards.common import Filters
from euralis_lib.database import db, queries
from euralis_lib.jobs import pipeline, results, runs
from euralis_lib.jobs.parameters import CONTEXTE, JobParameterError, declaration
from euralis_lib.jobs.schedule import load_schedule

LIB = config.PROJECT_ROOT / "euralis_lib"


def _code_cells(notebook: Path) -> list[str]:
    nb = nbformat.read(notebook, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]


def _imports(path: Path) -> set[str]:
    """Modules a source file imports (absolute names, at any depth of the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("name", list(jobs.JOBS))
def test_every_job_has_a_notebook_declaring_exactly_the_parameters_of_its_run_function(name):
    job = jobs.JOBS[name]
    assert job.notebook.is_file()
    declares = job.parametres()
    signature = inspect.signature(job.module.run)
    kw_only = {n: p for n, p in signature.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(kw_only) == {*declares, "run_id"}, f"{name}: run() and the parameters cell disagree"
    assert all(p.default is inspect.Parameter.empty for p in kw_only.values()), \
        f"{name}: defaults belong to the notebook's parameters cell only"
    context = set(declaration(job.notebook, contexte=True)) - set(declares)
    assert context == set(CONTEXTE), f"{name}: the notebook must declare run_id and database_url"
    assert all(p.annotation and p.aide for p in declares.values()), f"{name}: every parameter typed and explained"


@pytest.mark.parametrize("name", list(jobs.JOBS))
def test_every_job_notebook_passes_each_declared_parameter_to_run(name):
    job = jobs.JOBS[name]
    code = "\n".join(_code_cells(job.notebook))
    appels = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
              and n.func.attr == "run" and isinstance(n.func.value, ast.Name) and n.func.value.id == name]
    assert len(appels) == 1, f"{name}: the notebook calls {name}.run once"
    passes = {k.arg: k.value.id for k in appels[0].keywords if isinstance(k.value, ast.Name)}
    assert passes == {p: p for p in [*job.parametres(), "run_id"]}
    assert "get_engine(database_url)" in code


def test_every_job_is_scheduled_or_manual_and_has_a_reader_and_a_page():
    schedule = load_schedule()
    slugs = {p.slug for p in PAGES}
    for job in jobs.JOBS.values():
        assert (job.name in schedule.entries) != job.manuel, f"{job.name}: schedule entry xor manual only"
        assert callable(getattr(results, job.lecteur, None)), f"{job.name}: no reader results.{job.lecteur}"
        assert job.page in slugs, f"{job.name}: page {job.page!r} is not registered"
        assert job.lecteur in inspect.getsource(importlib.import_module(
            f"euralis_lib.dashboards.{next(p.nom_module for p in PAGES if p.slug == job.page)}")), \
            f"{job.name}: its page never reads results.{job.lecteur}"
    assert set(schedule.entries) <= set(jobs.JOBS)


def test_every_page_is_registered_with_its_notebook_module_and_filters():
    apps = config.NOTEBOOKS_DIR / "apps"
    assert {p.stem for p in apps.glob("*.ipynb")} == {p.slug for p in PAGES}
    for spec in PAGES:
        (code,) = _code_cells(apps / f"{spec.slug}.ipynb")
        assert code.strip().endswith(f'ouvrir("{spec.slug}")'), spec.slug
        module = importlib.import_module(f"euralis_lib.dashboards.{spec.nom_module}")
        assert callable(module.build) and hasattr(module, "FILTERS"), spec.slug
        assert spec.titre and spec.description


def test_the_library_never_imports_the_scheduler_and_models_do_no_io():
    for path in LIB.rglob("*.py"):
        assert not any(m == "scheduler" or m.startswith("scheduler.") for m in _imports(path)), path
    for path in (LIB / "models").glob("*.py"):
        bad = {m for m in _imports(path) if m.startswith(("sqlalchemy", "euralis_lib.database", "euralis_lib.jobs",
                                                          "psycopg2"))}
        assert not bad, f"{path.name} does I/O: {bad}"


@pytest.mark.parametrize("name", list(jobs.JOBS))
def test_an_unknown_or_mistyped_parameter_fails_before_any_write(sim_db_url, name):
    engine = db.get_engine(sim_db_url)
    with pytest.raises(JobParameterError, match="has no parameter 'inconnu'"):
        jobs.run_job(name, engine, inconnu=1)
    for param in jobs.JOBS[name].parametres():
        with pytest.raises(JobParameterError, match=f"parameter '{param}' must be"):
            jobs.run_job(name, engine, **{param: {"mauvais": "type"}})
        with pytest.raises(JobParameterError, match=f"parameter '{param}' must be"):
            pipeline.execute_job(name, {param: {"mauvais": "type"}}, engine=engine)
    assert db.read_df(engine, "SELECT count(*) AS n FROM job_runs")["n"][0] == 0


def test_two_plan_buttons_during_a_pipeline_run_are_recorded_as_skipped(sim_db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("EURALIS_REPORTS_DIR", str(tmp_path))
    engine = db.get_engine(sim_db_url)
    filtres = Filters(date(2026, 6, 1), date(2026, 6, 14), ["LL", "LS", "MT"])
    issue: dict[str, object] = {}
    pipeline_thread = threading.Thread(
        target=lambda: issue.update(run=pipeline.execute_job("planning", engine=engine, progress=False)))
    pipeline_thread.start()
    for _ in range(300):  # the runner holds the lock before it records the run
        if runs.latest_run(engine, "planning", statut="running") is not None:
            break
        threading.Event().wait(0.2)
    clics: list[BaseException | dict] = []

    def cliquer() -> None:
        try:
            clics.append(abattages.calculer_plan(engine, filtres))
        except BaseException as exc:  # noqa: BLE001 — collected and checked below
            clics.append(exc)

    boutons = [threading.Thread(target=cliquer) for _ in range(2)]
    for b in boutons:
        b.start()
    for b in boutons:
        b.join(60)
    pipeline_thread.join(180)
    assert all(isinstance(c, runs.JobBusyError) for c in clics), clics
    lignes = db.read_df(engine, "SELECT statut, declencheur FROM job_runs WHERE job = 'planning' ORDER BY run_id")
    assert sorted(lignes["statut"]) == ["skipped", "skipped", "success"]
    assert set(lignes[lignes["statut"] == "skipped"]["declencheur"]) == {"tableau de bord"}
    assert issue["run"].statut == "success"
    after = abattages.calculer_plan(engine, filtres)  # the lock is free again once the run ended
    assert runs.get_run(engine, after["run_id"]).statut == "success"


def test_reference_data_comes_with_the_migrations(empty_db_url):
    engine = db.get_engine(empty_db_url)
    assert queries.site_codes(engine) == ["LL", "LS", "MT"]
    assert set(queries.souches(engine)["souche_code"]) == {"MULARD", "BARBARIE", "HYBRIDE"}
    assert queries.distances_sites(engine)[frozenset({"LL", "MT"})] > 0
    assert len(queries.distances_sites(engine)) == 3
    assert (queries.sites(engine)["capacite_abattage_jour"] > 0).all()


@pytest.mark.parametrize("estimateur", [
    "euralis_lib.models.regression:SymbolicRegression:generations=10,random_state=0",
    "euralis_lib.models.forecasting:Backtest:horizons=(7,),nb_origines=2,seed=0,croissance='flat'",
    "euralis_lib.models.clustering:GaveurClustering:k_min=2,k_max=4,random_state=0",
    "euralis_lib.models.anomalies:LotAnomalyDetector:seuil_z=3.5",
])
def test_estimators_follow_the_scikit_learn_contract(estimateur):
    from sklearn.base import BaseEstimator, clone

    module, classe, arguments = estimateur.split(":")
    kwargs = eval(f"dict({arguments})")  # noqa: S307 — literals written above
    model = getattr(importlib.import_module(module), classe)(**kwargs)
    assert isinstance(model, BaseEstimator)
    assert {k: v for k, v in model.get_params().items() if k in kwargs} == kwargs
    copie = clone(model)
    assert copie.get_params() == model.get_params()
    fitted = [a for a in vars(model) if a.endswith("_") and not a.startswith("_")]
    assert not fitted, f"{classe} sets fitted attributes before fit: {fitted}"


def test_every_committed_notebook_is_stripped_as_nbstripout_would():
    """Notebooks are committed without outputs, counts or cell metadata (``make strip`` strips them all)."""
    notebooks = sorted(str(p) for p in (LIB.parent / "notebooks").rglob("*.ipynb")) + sorted(
        str(p) for p in (LIB.parent / "tests" / "data").glob("*.ipynb"))
    assert len(notebooks) >= 19
    done = subprocess.run([sys.executable, "-m", "nbstripout", "--verify", *notebooks], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
