"""Prévisions: Prophet forecasts 7/30/90 days with intervals against history, and backtest error."""

from __future__ import annotations

import ipywidgets as w

from euralis_lib import plots, queries, results
from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte

FILTRES = common.Filtrage(periode_jours=90)
VIDE = "Aucune prévision : lancez le job prévisions."


def build(ctx: Contexte) -> list[w.Widget]:
    """One forecast chart per selected site for the chosen horizon, then the backtest errors."""
    engine, filtres = ctx.engine, ctx.exige_filtres()
    prev = results.previsions(engine)
    if prev.empty:
        return [common.message(VIDE)]
    history = queries.production_journaliere(engine, filtres.sites)
    horizons = sorted(set(prev.data["horizon_jours"]))
    horizon = w.ToggleButtons(options=[(f"{h} jours", h) for h in horizons], value=max(horizons),
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
