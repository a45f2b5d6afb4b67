"""What a weekly report says: the week's KPIs with their trend, production against forecast, alerts, best and
worst lots, quality grades, next week's slaughter plan and finance — read from the existing queries and job
results, for one site or one gaveur of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
import plotly.graph_objects as go
from sqlalchemy.engine import Engine

from euralis_lib.database import queries
from euralis_lib.database.db import read_df
from euralis_lib.jobs import results
from euralis_lib.presentation import plots

NB_LOTS_CLASSES = 3  # best and worst lots shown
SEMAINES_HISTORIQUE = 8  # weeks of production drawn
GRADES = {"Declasse": "Déclassé"}  # grade codes of qualite_foies as people write them


@dataclass(frozen=True)
class Perimetre:
    """The report's subject: a site's week (``fin`` included, 7 days), or one gaveur's (``gaveur_id``)."""

    site: str
    debut: date
    fin: date
    gaveur_id: int | None = None
    gaveur_nom: str | None = None

    @property
    def precedente(self) -> tuple[date, date]:
        """The week before, for the trends."""
        return self.debut - timedelta(days=7), self.debut - timedelta(days=1)

    @property
    def suivante(self) -> tuple[date, date]:
        """The week after, for the slaughter plan and the forecast."""
        return self.fin + timedelta(days=1), self.fin + timedelta(days=7)


@dataclass
class Rapport:
    """Every section of a weekly report: tables (French column labels in :mod:`.page`) and figures."""

    perimetre: Perimetre
    kpis: pd.DataFrame  # indicateur, semaine, precedente, evolution_pct, decimales, hausse_favorable
    production: pd.DataFrame  # one row: réalisé, prévu (forecast of the week when there is one), next week's forecast
    alertes: pd.DataFrame
    meilleurs_lots: pd.DataFrame
    pires_lots: pd.DataFrame
    grades: pd.DataFrame
    plan: pd.DataFrame
    finance: pd.DataFrame
    sources: list[str] = field(default_factory=list)
    figures: list[go.Figure] = field(default_factory=list)


def perimetre(engine: Engine, site: str, fin: date | None = None, gaveur_id: int | None = None) -> Perimetre:
    """The week ending ``fin`` (default: the last day with data) of ``site``, or of gaveur ``gaveur_id`` (who
    must work for that site: ValueError otherwise)."""
    fin = fin or queries.data_period(engine)[1] or date.today()
    nom = None
    if gaveur_id is not None:
        gaveurs = queries.gaveur_options(engine)
        ligne = gaveurs[(gaveurs["gaveur_id"] == gaveur_id) & (gaveurs["site_code"] == site)]
        if ligne.empty:
            raise ValueError(f"gaveur {gaveur_id} does not work for site {site}.")
        nom = str(ligne["nom"].iloc[0])
    return Perimetre(site, fin - timedelta(days=6), fin, gaveur_id, nom)


def abonnes(engine: Engine, site: str) -> list[int]:
    """The gaveurs of ``site`` who asked for their own weekly report: ``gaveurs.rapport_hebdo`` (sql/190), or an
    active gaveur user of theirs subscribed to the reports by e-mail (``rapports_gaveurs_abonnes()``, sql/193:
    the pipeline roles do not read ``utilisateurs``)."""
    return [int(g) for g in read_df(engine, "SELECT gaveur_id FROM rapports_gaveurs_abonnes(:s)",
                                    {"s": site})["gaveur_id"]]


def _kpis_site(engine: Engine, p: Perimetre) -> pd.DataFrame:
    maintenant = queries.dashboard_kpis(engine, p.site, p.debut, p.fin).iloc[0]
    avant = queries.dashboard_kpis(engine, p.site, *p.precedente).iloc[0]
    lots, lots_avant = (queries.qualite_lots(engine, p.site, d0, d1) for d0, d1 in ((p.debut, p.fin), p.precedente))
    lignes = [("Production totale (kg de foie)", maintenant.production_totale_kg, avant.production_totale_kg, 1, True),
              ("Lots actifs", maintenant.nb_lots_actifs, avant.nb_lots_actifs, 0, True),
              ("Gaveurs actifs", maintenant.nb_gaveurs_actifs, avant.nb_gaveurs_actifs, 0, True),
              ("Alertes critiques", maintenant.nb_alertes_critiques, avant.nb_alertes_critiques, 0, False),
              ("Lots abattus", len(lots), len(lots_avant), 0, True),
              ("ITM moyen des lots abattus", lots["itm"].mean(), lots_avant["itm"].mean(), 2, False),
              ("Sigma moyen (g)", lots["sigma_g"].mean(), lots_avant["sigma_g"].mean(), 1, False)]
    return _tendances(lignes)


def _kpis_gaveur(engine: Engine, p: Perimetre) -> pd.DataFrame:
    vides = pd.Series({"production_kg": 0.0, "nb_lots": 0, "itm": None, "sigma_g": None, "mortalite_pct": None})
    perf = [queries.gaveur_performances(engine, p.site, d0, d1, gaveurs=[p.gaveur_id])
            for d0, d1 in ((p.debut, p.fin), p.precedente)]
    m, a = (df.iloc[0] if not df.empty else vides for df in perf)
    lignes = [("Production (kg de foie)", m.production_kg, a.production_kg, 1, True),
              ("Lots abattus", m.nb_lots, a.nb_lots, 0, True), ("ITM", m.itm, a.itm, 2, False),
              ("Sigma moyen (g)", m.sigma_g, a.sigma_g, 1, False),
              ("Mortalité (%)", m.mortalite_pct, a.mortalite_pct, 2, False)]
    return _tendances(lignes)


def _tendances(lignes: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(lignes, columns=["indicateur", "semaine", "precedente", "decimales", "hausse_favorable"])
    for col in ("semaine", "precedente"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["evolution_pct"] = 100 * (df["semaine"] - df["precedente"]) / df["precedente"].where(df["precedente"] != 0)
    return df


def _alertes(engine: Engine, p: Perimetre) -> pd.DataFrame:
    return read_df(engine, """
        SELECT a.horodatage, a.severite, a.type, g.nom AS gaveur, a.message
        FROM alertes a LEFT JOIN gaveurs g USING (gaveur_id)
        WHERE a.site_code = :site AND a.horodatage >= CAST(:debut AS date) AND a.horodatage < CAST(:fin AS date) + 1
          AND (CAST(:gaveur AS int) IS NULL OR a.gaveur_id = CAST(:gaveur AS int))
        ORDER BY (a.severite = 'critique') DESC, a.horodatage DESC LIMIT 15""",
                   {"site": p.site, "debut": p.debut, "fin": p.fin, "gaveur": p.gaveur_id})


def _grades(engine: Engine, p: Perimetre) -> pd.DataFrame:
    grades = read_df(engine, """
        SELECT q.grade, sum(q.nb_foies)::int AS nb_foies, sum(q.poids_kg)::float AS poids_kg
        FROM qualite_foies q JOIN abattages a USING (lot_id) JOIN lots_gavage l USING (lot_id)
        WHERE l.site_code = :site AND a.date_abattage BETWEEN :debut AND :fin
          AND (CAST(:gaveur AS int) IS NULL OR l.gaveur_id = CAST(:gaveur AS int))
        GROUP BY q.grade
        ORDER BY array_position(ARRAY['Extra', 'Premier choix', 'Second choix', 'Declasse'], q.grade)""",
                     {"site": p.site, "debut": p.debut, "fin": p.fin, "gaveur": p.gaveur_id})
    grades["grade"] = grades["grade"].replace(GRADES)
    grades["part_pct"] = 100 * grades["nb_foies"] / max(int(grades["nb_foies"].sum()), 1)
    return grades


def _production(engine: Engine, p: Perimetre, rapport_sources: list[str]) -> tuple[pd.DataFrame, list[go.Figure]]:
    historique = queries.production_journaliere(engine, p.site, p.fin - timedelta(weeks=SEMAINES_HISTORIQUE), p.fin)
    semaine = historique[historique["date"] >= pd.Timestamp(p.debut)]["production_kg"].sum()
    prev = results.previsions(engine)
    figures = [plots.production(historique)]
    prevu = suivante = None
    if not prev.empty:
        rapport_sources.append(f"Prévisions : {prev.source()}")
        fc = prev.data[(prev.data["site_code"] == p.site)]
        horizon = int(fc["horizon_jours"].min()) if not fc.empty else None
        if horizon is not None:
            fc = fc[fc["horizon_jours"] == horizon]
            dans = fc[(fc["date_prevision"] >= pd.Timestamp(p.debut)) & (fc["date_prevision"] <= pd.Timestamp(p.fin))]
            prevu = float(dans["yhat"].sum()) if len(dans) == 7 else None
            d0, d1 = (pd.Timestamp(d) for d in p.suivante)
            apres = fc[(fc["date_prevision"] >= d0) & (fc["date_prevision"] <= d1)]
            suivante = float(apres["yhat"].sum()) if not apres.empty else None
            figures.append(plots.forecast(historique, prev.data, p.site, horizon))
    table = pd.DataFrame([{"realise_kg": semaine, "prevu_kg": prevu,
                           "ecart_pct": 100 * (semaine - prevu) / prevu if prevu else None,
                           "prevision_suivante_kg": suivante}])
    return table, figures


def _plan(engine: Engine, p: Perimetre, rapport_sources: list[str]) -> pd.DataFrame:
    plan = results.planning(engine)
    if plan.empty:
        return pd.DataFrame(columns=["date_abattage", "code_lot", "site_lot", "nb_canards"])
    rapport_sources.append(f"Plan d'abattage : {plan.source()}")
    d0, d1 = (pd.Timestamp(d) for d in p.suivante)
    df = plan.data[(plan.data["methode"] == "hongrois") & (plan.data["site_code"] == p.site)
                   & (pd.to_datetime(plan.data["date_abattage"]).between(d0, d1))]
    if p.gaveur_id is not None:
        lots = read_df(engine, "SELECT lot_id FROM lots_gavage WHERE gaveur_id = :g", {"g": p.gaveur_id})
        df = df[df["lot_id"].isin(lots["lot_id"])]
    return df[["date_abattage", "code_lot", "site_lot", "nb_canards"]].reset_index(drop=True)


def _finance(engine: Engine, p: Perimetre) -> pd.DataFrame:
    niveau = "site" if p.gaveur_id is None else "gaveur"
    df = queries.finance_indicateurs(engine, p.site, p.debut, p.fin, niveau=niveau)
    if p.gaveur_id is not None:
        df = df[df["gaveur_id"] == p.gaveur_id]
    total = df[["nb_canards", "revenu_eur", "couts_eur", "marge_eur"]].sum(min_count=1)
    canards = total["nb_canards"]
    total["marge_par_canard_eur"] = total["marge_eur"] / canards if canards else None
    return pd.DataFrame([total])


def rapport(engine: Engine, p: Perimetre) -> Rapport:
    """Every section of the report of ``p`` (read with ``engine``'s rights)."""
    sources: list[str] = []
    kpis = _kpis_site(engine, p) if p.gaveur_id is None else _kpis_gaveur(engine, p)
    production, figures = _production(engine, p, sources)
    lots = queries.qualite_lots(engine, p.site, p.debut, p.fin)
    if p.gaveur_id is not None:
        lots = lots[lots["gaveur_id"] == p.gaveur_id]
    noms = queries.gaveur_options(engine).set_index("gaveur_id")["nom"]
    lots = lots.assign(gaveur=lots["gaveur_id"].map(noms)).dropna(subset=["itm"]).sort_values("itm")
    colonnes = ["code_lot", "gaveur", "date_abattage", "itm", "sigma_g", "poids_foie_moyen_g", "pct_extra"]
    if not lots.empty:
        figures.append(plots.distribution(lots, "itm", "l'ITM des lots abattus"))
    nb_pires = min(NB_LOTS_CLASSES, max(len(lots) - NB_LOTS_CLASSES, 0))  # never a lot in both lists
    return Rapport(p, kpis, production, _alertes(engine, p), lots[colonnes].head(NB_LOTS_CLASSES),
                   lots[colonnes].iloc[len(lots) - nb_pires:].iloc[::-1], _grades(engine, p), _plan(engine, p, sources),
                   _finance(engine, p), sources, figures)


def production_semaines(engine: Engine, rapports: pd.DataFrame) -> go.Figure:
    """The weekly production chart of the reported sites (``rapports``: rows of ``rapports``) up to their last
    week end: what opens each site's report, for the job notebook."""
    fin = pd.Timestamp(rapports["fin"].max()).date()
    sites = sorted(set(rapports["site_code"]))
    return plots.production(queries.production_journaliere(engine, sites, fin - timedelta(weeks=SEMAINES_HISTORIQUE),
                                                           fin))
