"""A Voilà server with login on a simulated database holding real results of the registered jobs, and its admin:
the fixtures ``dash_db``, ``admin`` and ``server`` of the dashboards' browser tests (imported by their modules)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from euralis_lib.dashboards import PAGES
from tests.helpers.connexion import creer_utilisateur
from tests.helpers.pages import pools
from tests.helpers.servers import copy_apps, voila_server


@pytest.fixture(scope="module", name="reports_dir")
def dash_reports_dir(tmp_path_factory) -> Path:
    """The reports folder shared by the module's job runs and its Voilà server."""
    return tmp_path_factory.mktemp("rapports")


# The pools are judged by tests/test_kernels.py, not here: a refill after each view (registry pools, 15 kernels
# at start) only competes for the 2 cores with the pages under test.
ONE_PREHEATED_KERNEL_EACH = ("--VoilaKernelManager.fill_delay=86400",)
# The jobs whose results fill the database, with quick settings.
QUICK_JOBS = {"previsions": {"nb_origines": 2}, "entrainement": {"generations": 5}}
# Not run for the dashboards' pages: the weekly PDF reports (~18 s; the Rapports page with reports is
# tests/test_reports.py's, in its own browser test).
NOT_RUN = ("rapport_hebdo",)


@pytest.fixture(scope="module", name="dash_db")
def dash_database(pg_cluster, sim_template, reports_dir) -> Iterator[tuple[object, str]]:
    """A private simulated database for this module with real results of every registered job but
    :data:`NOT_RUN` (in-process, :data:`QUICK_JOBS` settings; ``refresh_performances`` through papermill so its
    run has an HTML report). A test may drop it."""
    from euralis_lib import jobs
    from euralis_lib.database import db
    from euralis_lib.jobs import pipeline

    name = pg_cluster.clone(sim_template)
    engine = db.get_engine(pg_cluster.url(name))
    for job in jobs.JOBS:
        if job not in ("refresh_performances", *NOT_RUN):
            jobs.run_job(job, engine, publier=True, **QUICK_JOBS.get(job, {}))
    saved = os.environ.get("EURALIS_REPORTS_DIR")
    os.environ["EURALIS_REPORTS_DIR"] = str(reports_dir)
    try:
        pipeline.execute_job("refresh_performances", engine=engine, progress=False)
    finally:
        os.environ.pop("EURALIS_REPORTS_DIR") if saved is None else os.environ.update(EURALIS_REPORTS_DIR=saved)
    engine.dispose()
    yield pg_cluster, name
    pg_cluster.drop(name)


@pytest.fixture(scope="module", name="admin")
def dash_admin(dash_db) -> tuple[str, str]:
    """The admin every page of the module is opened as (the server has login): login, password."""
    cluster, name = dash_db
    return "admin-test", creer_utilisateur(cluster.url(name), "admin-test", "admin")


@pytest.fixture(scope="module", name="server")
def dash_server(dash_db, admin, reports_dir, tmp_path_factory, request) -> Iterator[int]:
    """Voilà on a free port serving a copy of notebooks/apps, plus the module's own test notebooks: its
    ``NOTEBOOKS`` (name → source of the notebook's one code cell, or None for an empty page titled « Page vide »).
    One preheated kernel per page, never refilled (:data:`ONE_PREHEATED_KERNEL_EACH`): each page's first view takes
    the preheated path, later views the on-demand one."""
    cluster, name = dash_db
    apps = copy_apps(tmp_path_factory.mktemp("apps"))
    for nom, code in getattr(request.module, "NOTEBOOKS", {}).items():
        cellule = (nbformat.v4.new_markdown_cell("# Page vide") if code is None else nbformat.v4.new_code_cell(code))
        nbformat.write(nbformat.v4.new_notebook(cells=[cellule]), apps / f"{nom}.ipynb")
    env = {**os.environ, "EURALIS_DATABASE_URL": cluster.url(name), "EURALIS_REPORTS_DIR": str(reports_dir),
           **pools(**dict.fromkeys((p.slug for p in PAGES), 1))}
    with voila_server(apps, env, extra=ONE_PREHEATED_KERNEL_EACH) as port:
        yield port
