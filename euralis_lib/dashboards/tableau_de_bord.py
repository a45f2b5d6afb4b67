"""Tableau de bord: the four KPIs with their trend and the production chart per site."""

from __future__ import annotations

import ipywidgets as w
from sqlalchemy.engine import Engine

from euralis_lib.dashboards import common, comparaison
from euralis_lib.dashboards.common import Contexte, Filters
from euralis_lib.database import queries
from euralis_lib.presentation import formatting, plots

FILTERS = common.FilterSpec(periode_jours=90, comparaisons=("annee",))

KPIS = (  # (label, column, unit, decimals, increase is good)
    ("Production Totale", "production_totale_kg", "kg", 0, True),
    ("Lots Actifs", "nb_lots_actifs", "", 0, True),
    ("Gaveurs Actifs", "nb_gaveurs_actifs", "", 0, True),
    ("Alertes Critiques", "nb_alertes_critiques", "", 0, False),
)


def kpi_totaux(engine: Engine, filtres: Filters) -> dict[str, tuple[float, float]]:
    """Each KPI summed over the selected sites: (current period, previous period of the same length)."""
    common.require_sites(filtres)
    prec = filtres.precedent()
    actuel = queries.dashboard_kpis(engine, filtres.sites, filtres.debut, filtres.fin)
    avant = queries.dashboard_kpis(engine, filtres.sites, prec.debut, prec.fin)
    return {col: (float(actuel[col].sum()), float(avant[col].sum())) for _, col, *_ in KPIS}


def build(ctx: Contexte) -> list[w.Widget]:
    """KPI cards, then (right after, :func:`~euralis_lib.dashboards.common.differe`) the weekly production
    chart per site and its exports, and the comparison chosen in the filter bar."""
    engine, filtres = ctx.engine, ctx.require_filters()
    totaux = kpi_totaux(engine, filtres)
    cartes = [common.kpi_card(label, *totaux[col], unite=unite, decimales=dec, hausse_favorable=bon)
              for label, col, unite, dec, bon in KPIS]
    prec = filtres.precedent()
    return [w.HBox(cartes), common.differe(lambda: production(engine, filtres)), common.source(
        f"base de production (abattages, lots, alertes), période du {formatting.jour(filtres.debut)} au "
        f"{formatting.jour(filtres.fin)}, tendance vs {formatting.jour(prec.debut)}–{formatting.jour(prec.fin)}"),
        *comparaison.section(ctx)]


def production(engine: Engine, filtres: Filters) -> list[w.Widget]:
    """The weekly production chart per site and its exports (a French message when nothing was slaughtered)."""
    daily = queries.production_journaliere(engine, filtres.sites, filtres.debut, filtres.fin)
    if daily.empty or daily["production_kg"].sum() == 0:
        return [common.message("Aucun abattage sur la période choisie : élargissez la période.")]
    return [common.figure(plots.production(daily, freq="W")), common.export_links(daily, "production_journaliere")]
