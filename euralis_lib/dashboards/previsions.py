"""Prévisions: Prophet forecasts 7/30/90 days with intervals against history, and backtest error."""

from __future__ import annotations

import ipywidgets as w
from sqlalchemy.engine import Engine

from euralis_lib import plots, queries, results
from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Filtres

VIDE = "Aucune prévision : lancez le job prévisions."


def build(engine: Engine, filtres: Filtres) -> list[w.Widget]:
    """One forecast chart per selected site for the chosen horizon, then the backtest errors."""
    common.require_sites(filtres)
    prev = results.previsions(engine)
    if prev.empty:
        return [common.message(VIDE)]
    history = queries.production_journaliere(engine, filtres.sites)
    horizon = w.ToggleButtons(options=[("7 jours", 7), ("30 jours", 30), ("90 jours", 90)], value=90,
                              description="Horizon")
    graphes = w.VBox([])

    def tracer(_change=None) -> None:
        graphes.children = [common.figure(plots.forecast(history, prev.data, site, horizon.value))
                            for site in filtres.sites if site in set(prev.data["site_code"])]

    horizon.observe(tracer, names="value")
    tracer()
    enfants: list[w.Widget] = [horizon, common.source(prev.source()), graphes,
                               common.export_links(prev.data, "previsions")]
    bt = results.backtest(engine)
    if bt.empty:
        enfants.append(common.message("Aucun backtest : lancez le job prévisions."))
    else:
        enfants += [w.HTML("<h3>Erreur de prévision (backtest)</h3>"), common.figure(plots.backtest(bt.data)),
                    common.source(bt.source())]
    return enfants


def page(engine: Engine | None = None) -> common.Page:
    """Build and display the Prévisions page."""
    p = common.Page("previsions", "Prévisions", build, periode_jours=90, engine=engine)
    common.show(p)
    return p
