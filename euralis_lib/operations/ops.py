"""Operations view of the job runs: recent runs, failures, and the schedule's next runs.

Used by ``python -m scheduler list`` and the Ops dashboard page.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy.engine import Engine

from euralis_lib.database.db import read_df
from euralis_lib.jobs import runs

if TYPE_CHECKING:
    from euralis_lib.jobs.schedule import Schedule


def recent_runs(engine: Engine, limit: int = 100, job: str | None = None) -> pd.DataFrame:
    """The latest runs (newest first) with their duration in seconds, status, stage (``affiche``: the run pages
    show), parameters, error and report; runs whose
    process is gone are marked failed first (:func:`runs.mark_orphans`), so none shows as running forever."""
    runs.mark_orphans(engine)
    return read_df(engine, """
        SELECT run_id, job, declencheur, statut,
               CASE WHEN run_id = euralis_run_publie(job) THEN 'affiche' ELSE etape END AS etape, debut, fin,
               round(extract(epoch FROM (coalesce(fin, clock_timestamp()) - debut))::numeric, 1)::float AS duree_s,
               hote, parametres, erreur, rapport_path
        FROM job_runs WHERE (CAST(:job AS text) IS NULL OR job = :job)
        ORDER BY run_id DESC LIMIT :limit""", {"job": job, "limit": int(limit)})


def last_runs(engine: Engine) -> pd.DataFrame:
    """Per job: the last run (any status but skipped) and the last successful one."""
    return read_df(engine, """
        SELECT j.job, d.run_id AS dernier_run, d.statut AS dernier_statut, d.debut AS dernier_debut,
               d.duree_s AS derniere_duree_s, s.fin AS dernier_succes
        FROM (SELECT DISTINCT job FROM job_runs) j
        LEFT JOIN LATERAL (
            SELECT run_id, statut, debut,
                   round(extract(epoch FROM (fin - debut))::numeric, 1)::float AS duree_s
            FROM job_runs r WHERE r.job = j.job AND r.statut <> 'skipped' ORDER BY run_id DESC LIMIT 1) d ON true
        LEFT JOIN LATERAL (
            SELECT fin FROM job_runs r WHERE r.job = j.job AND r.statut = 'success' ORDER BY run_id DESC LIMIT 1
        ) s ON true
        ORDER BY j.job""")


def failures(engine: Engine, days: int = 7) -> pd.DataFrame:
    """Failed and abandoned runs of the last ``days`` days, newest first."""
    return read_df(engine, """
        SELECT run_id, job, statut, debut, erreur, rapport_path FROM job_runs
        WHERE statut IN ('failed', 'abandoned') AND debut >= clock_timestamp() - make_interval(days => :days)
        ORDER BY run_id DESC""", {"days": int(days)})


def schedule_table(schedule: Schedule, engine: Engine, now: datetime) -> pd.DataFrame:
    """One row per scheduled job: cron, next run, and its last run's status, start and duration (instants
    time-zone aware; :mod:`euralis_lib.presentation.formatting` shows them in Europe/Paris)."""
    derniers = last_runs(engine).set_index("job")
    rows = []
    for entry in schedule.entries.values():
        dernier = derniers.loc[entry.name] if entry.name in derniers.index else None
        rows.append({
            "job": entry.name, "cron": entry.cron, "prochain_run": entry.next_fire(now),
            "dernier_statut": dernier["dernier_statut"] if dernier is not None else "jamais lancé",
            "dernier_run": dernier["dernier_debut"] if dernier is not None else None,
            "duree_s": dernier["derniere_duree_s"] if dernier is not None else None,
        })
    return pd.DataFrame(rows)
