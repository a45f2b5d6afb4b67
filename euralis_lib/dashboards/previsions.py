"""Prévisions: forecasts 7/30/90 days with intervals against history, the model chosen per site and
horizon with its error against the seasonal-naive baseline, and the backtest errors."""

from __future__ import annotations

from datetime import timedelta

import ipywidgets as w
import pandas as pd
from sqlalchemy.engine import Engine

from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte
from euralis_lib.database import queries
from euralis_lib.jobs import results
from euralis_lib.models import noms
from euralis_lib.presentation import plots
from euralis_lib.presentation.markup import element

FILTERS = common.FilterSpec(periode_jours=90)
VIDE = "Aucune prévision : lancez le job prévisions."
COLONNES_CHOIX = {"site_code": "Site", "horizon": "Horizon", "modele": "Modèle retenu", "mape": "MAPE (%)",
                  "mape_naif": "MAPE naïf saisonnier (%)", "ratio_naif": "Rapport au naïf",
                  "nb_origines": "Origines du backtest"}


def choix_table(choix: pd.DataFrame, sites: list[str]) -> w.HTML:
    """The model chosen per site and horizon, its backtest MAPE, the baseline's and their ratio (French labels)."""
    df = choix[choix["site_code"].isin(sites)].assign(
        horizon=lambda d: d["horizon_jours"].astype(str) + " jours",
        modele=lambda d: d["modele"].map(lambda m: noms.PREVISION.get(m, m)))
    return common.table_html(df[list(COLONNES_CHOIX)], colonnes=COLONNES_CHOIX)


def history(engine: Engine, sites: list[str], previsions: pd.DataFrame) -> pd.DataFrame:
    """The daily production the charts draw before the forecasts: :data:`plots.FORECAST_HISTORY_DAYS` days and a
    week more (the first 7-day mean) before the earliest forecast day, never the whole history (a page's read
    must not grow with the years kept)."""
    debut = pd.to_datetime(previsions["date_prevision"]).min().date()
    return queries.production_journaliere(engine, sites, debut - timedelta(days=plots.FORECAST_HISTORY_DAYS + 7))


def build(ctx: Contexte) -> list[w.Widget]:
    """One forecast chart per selected site for the chosen horizon, then the backtest errors."""
    engine, filtres = ctx.engine, ctx.require_filters()
    prev = results.previsions(engine)
    if prev.empty:
        return [common.message(VIDE)]
    historique = history(engine, filtres.sites, prev.data)
    horizons = sorted(set(prev.data["horizon_jours"]))
    horizon = w.ToggleButtons(options=[(f"{h} jours", h) for h in horizons], value=max(horizons),
                              description="Horizon")
    graphes = w.VBox([])

    def tracer(_change=None) -> None:
        graphes.children = [common.figure(plots.forecast(historique, prev.data, site, horizon.value))
                            for site in filtres.sites if site in set(prev.data["site_code"])]

    horizon.observe(tracer, names="value")
    tracer()
    enfants: list[w.Widget] = [horizon, common.source(prev.source()), graphes,
                               common.export_links(prev.data, "previsions")]
    bt, choix = results.backtest(engine), results.choix_previsions(engine)
    if bt.empty:
        enfants.append(common.message("Aucun backtest : lancez le job prévisions."))
    else:
        if not choix.empty:
            enfants += [common.titre("Modèle retenu par site et horizon (backtest)"),
                        choix_table(choix.data, filtres.sites),
                        w.HTML(element("p", "Rapport au naïf : MAPE du modèle retenu divisée par celle du naïf "
                                            "saisonnier (même traitement des arrêts sanitaires) ; sous 1, le modèle "
                                            "fait mieux."))]
        enfants += [common.titre("Erreur de prévision (backtest)"), common.figure(plots.backtest(bt.data)),
                    common.source(bt.source())]
    return enfants
