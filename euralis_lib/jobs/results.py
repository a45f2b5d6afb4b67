"""Readers of job results: the rows of the latest successful run (or a given run) of a job.

Shared by the job notebooks (to show what was just computed) and the dashboards; every reader
returns the run with its data so that each figure can say which run produced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from euralis_lib.database.db import read_df
from euralis_lib.jobs import runs
from euralis_lib.models import noms
from euralis_lib.presentation import formatting


@dataclass(frozen=True)
class Result:
    """A job's rows and the run that produced them (``run`` None and empty data: never run)."""

    run: runs.Run | None
    data: pd.DataFrame

    @property
    def empty(self) -> bool:
        """True when there is nothing to show."""
        return self.run is None or self.data.empty

    def source(self) -> str:
        """French caption naming the run and how it was published, e.g. 'run n° 12 du 25/11/2026 02:00,
        planifié' or '…, promu par marie le 26/11/2026 09:15' (Europe/Paris time)."""
        if self.run is None:
            return "aucun run"
        return f"run n° {self.run.run_id} du {formatting.horodatage(self.run.fin or self.run.debut)}, " \
               f"{publication(self.run)}"


def publication(run: runs.Run) -> str:
    """How a run came to be shown, in French: promoted by whom and when, scheduled, started from a page or
    by hand; an exploratory or retired run says so."""
    if run.etape == "exploratoire":
        return "exploratoire (non publié)"
    if run.etape == "retire":
        return "retiré"
    if run.publie_par:
        return f"promu par {run.publie_par} le {formatting.horodatage(run.publie_le)}"
    return PUBLICATIONS.get(run.declencheur, "lancé à la main")


PUBLICATIONS = {"planifie": "planifié", "tableau de bord": "calculé depuis la page"}


def _read(engine: Engine, job: str, sql: str, run_id: int | None, params: dict | None = None,
          dates: tuple[str, ...] = ()) -> Result:
    run = runs.get_run(engine, run_id) if run_id is not None else runs.latest_run(engine, job)
    if run is None:
        return Result(None, pd.DataFrame())
    data = read_df(engine, sql, {"run_id": run.run_id, **(params or {})})
    for colonne in dates:
        data[colonne] = pd.to_datetime(data[colonne])
    return Result(run, data)


def performances(engine: Engine, run_id: int | None = None) -> Result:
    """Monthly performances per site: the ``performances_sites`` view as refreshed by ``refresh_performances``,
    the sites the user may read (``performances_sites_lisibles()``, sql/151)."""
    return _read(engine, "refresh_performances", "SELECT * FROM performances_sites_lisibles() ORDER BY site_code, mois",
                 run_id, dates=("mois",))


def formules(engine: Engine, run_id: int | None = None) -> Result:
    """Regression Pareto fronts (``entrainement``)."""
    return _read(engine, "entrainement", "SELECT * FROM formules_regression WHERE run_id = :run_id "
                 "ORDER BY site_code, souche_code, rang_pareto", run_id)


def formules_retenues(engine: Engine, run_id: int | None = None) -> Result:
    """The retained formula per site × souche (``entrainement``) with its best baseline on the same held-out
    lots (``regression_references``: « meilleure référence »), the polynomial baseline's number of terms and the
    10th / 90th percentiles of its held-out residuals (sql/203; read by the lot calculator)."""
    res = _read(engine, "entrainement", """
        SELECT f.site_code, f.souche_code, f.formule, f.engine, f.r2_test, f.mae_test, f.complexite,
               f.residu_p10_g, f.residu_p90_g, f.n_test,
               b.reference AS meilleure_reference, b.r2_test AS r2_meilleure_reference,
               f.r2_test - b.r2_test AS ecart_r2, p.nb_termes AS nb_termes_polynomiale
        FROM formules_regression f
        LEFT JOIN regression_references b ON (b.run_id, b.site_code, b.souche_code, b.cible)
             = (f.run_id, f.site_code, f.souche_code, f.cible) AND b.est_meilleure
        LEFT JOIN regression_references p ON (p.run_id, p.site_code, p.souche_code, p.cible)
             = (f.run_id, f.site_code, f.souche_code, f.cible) AND p.est_polynomiale
        WHERE f.run_id = :run_id AND f.est_retenue ORDER BY f.site_code, f.souche_code""", run_id)
    if not res.data.empty:
        res.data["meilleure_reference"] = res.data["meilleure_reference"].map(noms.REFERENCES)
    return res


def previsions(engine: Engine, run_id: int | None = None) -> Result:
    """Forecasts per site and horizon (``previsions``)."""
    return _read(engine, "previsions", "SELECT * FROM previsions WHERE run_id = :run_id "
                 "ORDER BY site_code, horizon_jours, date_prevision", run_id, dates=("date_prevision",))


def backtest(engine: Engine, run_id: int | None = None) -> Result:
    """Backtest errors per site, horizon and model (``previsions``)."""
    return _read(engine, "previsions", "SELECT * FROM previsions_backtest WHERE run_id = :run_id "
                 "ORDER BY site_code, horizon_jours, modele", run_id)


def choix_previsions(engine: Engine, run_id: int | None = None) -> Result:
    """Per site and horizon, the model chosen by backtest, its MAPE, the baseline's and the ratio (``previsions``)."""
    return _read(engine, "previsions", """
        SELECT b.site_code, b.horizon_jours, b.modele, b.mape, n.mape AS mape_naif,
               b.mape / NULLIF(n.mape, 0) AS ratio_naif, b.nb_origines
        FROM previsions_backtest b
        LEFT JOIN previsions_backtest n ON n.run_id = b.run_id AND n.site_code = b.site_code
             AND n.horizon_jours = b.horizon_jours AND n.modele = 'naif_saisonnier'
        WHERE b.run_id = :run_id AND b.retenu ORDER BY b.site_code, b.horizon_jours""", run_id)


def clusters(engine: Engine, run_id: int | None = None) -> Result:
    """Cluster of each gaveur with his name, site and profile (``clustering``)."""
    return _read(engine, "clustering", """
        SELECT c.gaveur_id, g.code, g.nom, g.site_code, c.cluster, c.nom_cluster, c.distance,
               (c.profil->>'itm')::float AS itm, (c.profil->>'sigma_g')::float AS sigma_g,
               (c.profil->>'mortalite_pct')::float AS mortalite_pct,
               (c.profil->>'regularite_g')::float AS regularite_g, (c.profil->>'volume')::float AS volume
        FROM clusters_gaveurs c JOIN gaveurs g USING (gaveur_id)
        WHERE c.run_id = :run_id ORDER BY c.cluster, g.code""", run_id)


def centroides(engine: Engine, run_id: int | None = None) -> Result:
    """Cluster centroids (``clustering``)."""
    return _read(engine, "clustering", "SELECT * FROM clusters_centroides WHERE run_id = :run_id ORDER BY cluster",
                 run_id)


def anomalies(engine: Engine, run_id: int | None = None, seulement_anomalies: bool = True) -> Result:
    """Scored lots with explanations, anomalies first (``anomalies``)."""
    return _read(engine, "anomalies", """
        SELECT a.lot_id, l.code_lot, l.site_code, l.souche_code, l.gaveur_id, g.nom AS gaveur, l.fin,
               a.score, a.est_anomalie, a.critique, a.explication
        FROM anomalies_lots a JOIN lots_gavage l USING (lot_id) JOIN gaveurs g ON g.gaveur_id = l.gaveur_id
        WHERE a.run_id = :run_id AND (a.est_anomalie OR NOT :only)
        ORDER BY a.score DESC""", run_id, {"only": seulement_anomalies})


def planning(engine: Engine, run_id: int | None = None) -> Result:
    """Slaughter plans, Hungarian and greedy (``planning``)."""
    return _read(engine, "planning", """
        SELECT p.methode, p.lot_id, l.code_lot, p.chargement, l.site_code AS site_lot, p.site_code,
               p.date_abattage, l.fin, COALESCE(p.nb_canards, l.nb_canards_entres - l.nb_morts) AS nb_canards,
               p.cout, p.place, p.raison
        FROM planning_abattages p JOIN lots_gavage l USING (lot_id)
        WHERE p.run_id = :run_id ORDER BY p.methode, p.date_abattage, p.lot_id, p.chargement""", run_id)


def finance(engine: Engine, run_id: int | None = None, niveau: str = "site") -> Result:
    """Monthly revenue, costs and margins per site or gaveur (``finance``)."""
    return _read(engine, "finance", """
        SELECT f.*, g.nom AS gaveur FROM finance_indicateurs f LEFT JOIN gaveurs g USING (gaveur_id)
        WHERE f.run_id = :run_id AND f.niveau = :niveau ORDER BY f.site_code, f.mois""", run_id, {"niveau": niveau},
                 dates=("mois",))


def rapports(engine: Engine, run_id: int | None = None) -> Result:
    """Reports archived by a ``rapport_hebdo`` run (the latest by default), those the user may read (sql/190)."""
    return _read(engine, "rapport_hebdo", """
        SELECT r.*, g.nom AS gaveur FROM rapports r LEFT JOIN gaveurs g USING (gaveur_id)
        WHERE r.run_id = :run_id ORDER BY r.site_code, r.gaveur_id NULLS FIRST""", run_id)


def sauvegardes(engine: Engine, run_id: int | None = None, dossier: Path | None = None) -> Result:
    """The backups kept in the backup folder, newest first with their verification (read from the folder, where
    they live, not from the database they protect), and the latest successful ``backup`` run."""
    from euralis_lib.database import backup

    run = runs.get_run(engine, run_id) if run_id is not None else runs.latest_run(engine, "backup")
    return Result(run, backup.backups_table(dossier))
