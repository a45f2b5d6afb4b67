"""Shared fixtures: a private PostgreSQL cluster per test process, migrated template databases,
and the simulated data set the models are validated against.

Each xdist worker starts its own pgserver cluster under a short /tmp folder (unix socket only),
never the user's data. Databases are cloned from templates (``CREATE DATABASE … TEMPLATE``), so a
test that writes gets its own database in well under a second.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg2
import pytest

from euralis_lib import simulator
from euralis_lib.database import db, embedded, migrations
from tests.helpers.once import computed_in_parts, computed_once
from tests.helpers.simulation import SIM_END

pytest_plugins = ["tests.helpers.no_skip"]  # CI: a skip is a failure (EURALIS_SKIP_IS_FAILURE=1)

SIM_YEARS = 2
SIM_SEED = 42
# The small slice of the validation matrix the suite runs: several seeds, end dates in other seasons.
SLICE_SEEDS = (3, 7, 11)
SLICE_ENDS = (date(2025, 3, 31), date(2025, 8, 31), date(2025, 12, 20))
SLICE_YEARS = 2


@dataclass
class Cluster:
    """A running test cluster and its admin operations."""

    pgdata: Path

    @property
    def socket_dir(self) -> Path:
        return embedded.status(self.pgdata).socket_dir or self.pgdata

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@/{database}?host={self.socket_dir}"

    def admin(self, sql: str) -> None:
        conn = psycopg2.connect(dbname="postgres", user="postgres", host=str(self.socket_dir))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def clone(self, template: str, name: str | None = None) -> str:
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def drop(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        embedded.stop(self.pgdata)

    def start(self) -> None:
        embedded.start(self.pgdata)


# Markers follow from what a test uses (its fixtures, at any depth), so they cannot be forgotten:
# ``-m "not browser"`` is the quick loop, ``-m "not database"`` the pure-Python one.
FIXTURE_MARKERS = {"browser": "browser", "pg_cluster": "database"}


# Module order is pytest-xdist's (3.8, --dist loadfile: modules with the most tests first). A list of the longest
# modules to start first (--no-loadscope-reorder) was tried on 2026-12-07: the browser, pipeline and validation
# modules, each starting servers, kernels and browsers, then ran together at the start (load average 15 on 2 cores)
# and the fresh-clone run was not faster (1,424 s, with that day's new tests), so it went.


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the fixtures it uses (:data:`FIXTURE_MARKERS`)."""
    for item in items:
        for fixture in set(getattr(item, "fixturenames", ())) & set(FIXTURE_MARKERS):
            item.add_marker(FIXTURE_MARKERS[fixture])


# What a failed browser test shows of the servers this worker started: their warnings and errors, since the
# failure alone (a page that never loaded) says nothing of why; CI keeps only the test output.
SERVER_LOG_LINES = re.compile(r"WARNING|ERROR|CRITICAL|Traceback|Timeout|Error:|exited|died")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Attach to a failed browser test the last warnings and errors of its worker's three most recent Voilà logs."""
    outcome = yield
    rapport = outcome.get_result()
    if not rapport.failed or item.get_closest_marker("browser") is None:
        return
    racine = item.config._tmp_path_factory.getbasetemp()
    for journal in sorted(racine.rglob("*voila*.log"), key=lambda p: p.stat().st_mtime)[-3:]:
        lignes = [ligne for ligne in journal.read_text(errors="replace").splitlines() if SERVER_LOG_LINES.search(ligne)
                  and "is not trusted" not in ligne]
        rapport.sections.append((f"server log {journal.relative_to(racine)}", "\n".join(lignes[-25:])))


@pytest.fixture(scope="session", autouse=True)
def backups_out_of_the_project(tmp_path_factory) -> Path:
    """Backups made by tests (the backup job runs with the pipeline) never go to the user's backup folder."""
    dossier = tmp_path_factory.mktemp("backups")
    os.environ["EURALIS_BACKUP_DIR"] = str(dossier)
    return dossier


@pytest.fixture(scope="session", autouse=True)
def reports_out_of_the_project(tmp_path_factory) -> Path:
    """Reports written by tests (the weekly reports job runs with every job) never go to the project's folder;
    a test or fixture that needs its own still sets EURALIS_REPORTS_DIR."""
    dossier = tmp_path_factory.mktemp("reports")
    os.environ.setdefault("EURALIS_REPORTS_DIR", str(dossier))
    return dossier


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A private PostgreSQL 16 cluster for this test process (deleted at the end)."""
    base = Path(tempfile.mkdtemp(prefix="eurt-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = Cluster(base / "pgdata")
    cluster.start()
    yield cluster
    embedded.stop(cluster.pgdata)
    shutil.rmtree(base, ignore_errors=True)


def _template(cluster: Cluster, name: str, fill) -> str:
    cluster.admin(f'CREATE DATABASE "{name}"')
    engine = db.get_engine(cluster.url(name))
    try:
        migrations.apply_migrations(engine)
        fill(engine)
    finally:
        engine.dispose()
    return name


@pytest.fixture(scope="session")
def sim_data() -> simulator.SimulatedData:
    """The simulated data set (2 years ending SIM_END, seed 42), in memory."""
    return simulator.simulate(years=SIM_YEARS, seed=SIM_SEED, end=SIM_END)


@pytest.fixture(scope="session")
def sim_sets(tmp_path_factory, worker_id) -> list[simulator.SimulatedData]:
    """Small simulated data sets (SLICE_YEARS years), one per seed of SLICE_SEEDS with its own end date;
    simulated once per run."""
    return computed_once("sim_sets", lambda: [simulator.simulate(years=SLICE_YEARS, seed=seed, end=end)
                                              for seed, end in zip(SLICE_SEEDS, SLICE_ENDS, strict=True)],
                         tmp_path_factory, worker_id)


@pytest.fixture(scope="session")
def slice_rows(sim_sets, tmp_path_factory, worker_id) -> pd.DataFrame:
    """Every scorer of the validation matrix on the suite's slice (``make validate``'s code), scored once per run:
    the validation, regression, clustering and anomalies tests judge the same rows. One part per data set and
    scorer, so that workers needing the rows at the same time share the scoring."""
    from euralis_lib.validation import matrix

    parts = [functools.partial(matrix.score_jeu, data, [nom]) for data in sim_sets for nom in matrix.SCORERS]
    return pd.concat(computed_in_parts("slice_rows", parts, tmp_path_factory, worker_id), ignore_index=True)


@pytest.fixture(scope="session")
def empty_template(pg_cluster: Cluster) -> str:
    return _template(pg_cluster, "tmpl_empty", lambda engine: None)


@pytest.fixture(scope="session")
def sim_template(pg_cluster: Cluster, sim_data: simulator.SimulatedData) -> str:
    return _template(pg_cluster, "tmpl_sim", lambda engine: simulator.load(engine, sim_data))


@pytest.fixture
def empty_db_url(pg_cluster: Cluster, empty_template: str) -> Iterator[str]:
    """A fresh migrated database without data (dropped after the test)."""
    name = pg_cluster.clone(empty_template)
    yield pg_cluster.url(name)
    pg_cluster.drop(name)


@pytest.fixture
def sim_db_url(pg_cluster: Cluster, sim_template: str) -> Iterator[str]:
    """A fresh database holding the simulated data set (dropped after the test)."""
    name = pg_cluster.clone(sim_template)
    yield pg_cluster.url(name)
    pg_cluster.drop(name)


@pytest.fixture(scope="session")
def shared_sim_url(pg_cluster: Cluster, sim_template: str) -> str:
    """A simulated database shared by read-only tests: never write to it."""
    return pg_cluster.url(pg_cluster.clone(sim_template, "shared_sim"))


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser), one per test module.
    A missing Chromium fails the test (``make browser`` installs it), it is never skipped."""
    from playwright.sync_api import sync_playwright

    from euralis_lib.config import CHROMIUM_ARGS, chromium

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield b
        b.close()
