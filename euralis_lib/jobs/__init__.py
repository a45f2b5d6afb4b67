"""The job registry: the one list of jobs that the pipeline, the scheduler, the bench and the pages read.

A job is a module ``euralis_lib/jobs/<name>.py`` with ``run(engine, *, run_id, <parameters>)``,
a notebook ``notebooks/jobs/<name>.ipynb`` whose ``parameters`` cell declares those parameters
(names, types, defaults, help), and one :class:`Job` line in :data:`JOBS` below. Modules are
imported on first use, so reading the registry (landing page, Ops page) stays light.

:func:`run_job` runs a job in this process (dashboard buttons, bench, tests): parameters checked
against the notebook's declaration and completed with its defaults, the job's lock taken, the run
recorded. :mod:`euralis_lib.jobs.pipeline` runs the notebook itself with papermill.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy.engine import Engine

from euralis_lib import config
from euralis_lib.jobs import parameters, runs
from euralis_lib.jobs.parameters import JobParameterError

JOB_ROLE = "euralis_job"


@dataclass(frozen=True)
class Job:
    """One registered job: its name (module and notebook), what supervisors read about it, where its results show."""

    name: str
    titre: str
    description: str
    page: str  # slug of the dashboard page showing its results (euralis_lib.dashboards.PAGES)
    lecteur: str  # the reader of its results in euralis_lib.jobs.results
    manuel: bool = False  # True: run on demand only, never in scheduler/schedule.yml
    # PostgreSQL role of its scheduled runs (sql/110_roles.sql); None: the migrating owner (backups:
    # pg_dump reads every row and the schema, which only the owner may under row-level security).
    role_db: str | None = JOB_ROLE

    @property
    def notebook(self) -> Path:
        """The job notebook executed by papermill."""
        return config.NOTEBOOKS_DIR / "jobs" / f"{self.name}.ipynb"

    @property
    def module(self) -> ModuleType:
        """The job module (imported on first use)."""
        return importlib.import_module(f"euralis_lib.jobs.{self.name}")

    def parametres(self) -> dict[str, parameters.Parametre]:
        """The parameters declared by the notebook (run context excluded)."""
        return parameters.declaration(self.notebook)


JOBS: dict[str, Job] = {job.name: job for job in (
    Job("refresh_performances", "Performances des sites",
        "Rafraîchit la vue des performances mensuelles par site.", "sites", "performances"),
    Job("entrainement", "Formules de poids de foie",
        "Régression symbolique du poids de foie par site et souche.", "qualite", "formules"),
    Job("previsions", "Prévisions de production",
        "Prévisions à 7, 30 et 90 jours par site, contrôlées par backtest.", "previsions", "previsions"),
    Job("clustering", "Groupes de gaveurs",
        "Regroupe les gaveurs selon leur profil de performance.", "gaveurs", "clusters"),
    Job("anomalies", "Lots anormaux",
        "Repère les lots inhabituels pour leur gaveur et crée les alertes critiques.", "qualite", "anomalies"),
    Job("planning", "Plan d'abattage",
        "Affecte les lots aux créneaux d'abattage (algorithme hongrois).", "abattages", "planning"),
    Job("finance", "Indicateurs financiers",
        "Chiffre d'affaires, coûts et marges par site, gaveur et mois.", "finance", "finance"),
    Job("rapport_hebdo", "Rapport hebdomadaire",
        "Rapport PDF de la semaine par site (ou pour un gaveur) : indicateurs, prévision, alertes, lots, "
        "qualité, plan d'abattage, finance.", "rapports", "rapports"),
    Job("backup", "Sauvegarde de la base",
        "Copie complète de la base, vérifiée par une restauration, avec rétention.", "ops", "sauvegardes",
        role_db=None),
)}


def get(name: str) -> Job:
    """The registered job called ``name`` (JobParameterError naming the known jobs otherwise)."""
    if name not in JOBS:
        raise JobParameterError(f"unknown job {name!r}: choose among {', '.join(JOBS)}.")
    return JOBS[name]


def run_job(name: str, engine: Engine, *, declencheur: str = "manuel", publier: bool | None = None,
            **valeurs: Any) -> dict:
    """Run a registered job in this process and return its metrics (with ``run_id``).

    Unknown names and wrong types are refused before anything is written; missing values take the
    notebook's defaults. ``publier`` None: the run is published (pages show it) with the default
    parameters, exploratory with any other value. Raises :class:`runs.JobBusyError` (after recording a
    ``skipped`` run) when the job is already running elsewhere.
    """
    job = get(name)
    complets = parameters.with_defaults(name, job.notebook, valeurs)
    if publier is None:
        publier = parameters.are_defaults(job.notebook, complets)
    with runs.job_lock(engine, name, parametres=complets, declencheur=declencheur):
        run_id = runs.start_run(engine, name, complets, declencheur=declencheur, publier=publier)
        try:
            return job.module.run(engine, run_id=run_id, **complets)
        except BaseException as exc:
            runs.fail_if_running(engine, run_id, f"{type(exc).__name__}: {exc}")
            raise
