"""Finance: revenue, costs and margins per site and month (finance job snapshot, live prices otherwise); a
gaveur sees his own."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd
from sqlalchemy.engine import Engine

from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte, Filters
from euralis_lib.database import queries
from euralis_lib.jobs import results
from euralis_lib.presentation import plots

FILTERS = common.FilterSpec(periode_jours=365)

# (card label, column, is a rise good news)
CARTES = (("Chiffre d'affaires", "revenu_eur", True), ("Coûts", "couts_eur", False), ("Marge", "marge_eur", True))
INDICATEURS = [col for _, col, _ in CARTES]
COLONNES = ["site_code", "mois", "nb_lots", "nb_canards", *INDICATEURS]


def _indicateurs(engine: Engine, res: results.Result, filtres: Filters) -> pd.DataFrame:
    """Monthly indicators of the selected sites and period: the finance run's snapshot, else computed live."""
    if res.empty:
        return queries.finance_indicateurs(engine, filtres.sites, filtres.debut, filtres.fin)
    data = res.data
    mois = data["mois"].dt.date
    return data[data["site_code"].isin(filtres.sites) & (mois >= filtres.debut.replace(day=1))
                & (mois <= filtres.fin)]


def build(ctx: Contexte) -> list[w.Widget]:
    """Margin cards (with their trend), monthly margin chart and table from the latest finance run."""
    engine, filtres = ctx.engine, ctx.require_filters()
    # a gaveur reads his own rows of the finance run (its per-site rows are other gaveurs' too)
    gaveur = ctx.utilisateur is not None and ctx.utilisateur.role == "gaveur"
    res = results.finance(engine, niveau="gaveur" if gaveur else "site")
    if res.empty:
        enfants: list[w.Widget] = [common.message("Aucun indicateur financier archivé : lancez le job finance. "
                                                  "Calcul direct avec les prix actuels ci-dessous.")]
        origine = common.source("calcul direct depuis la base (prix_parametres), non archivé")
    else:
        enfants, origine = [], common.source(res.source())
    data = _indicateurs(engine, res, filtres)
    if data.empty:
        raise common.EmptySelectionError("Aucun abattage sur la période et les sites choisis : élargissez la période.")
    avant = _indicateurs(engine, res, filtres.precedent())
    totaux = data[INDICATEURS].sum()
    # a trend only when the previous period is covered as fully as this one (not at the start of the data)
    complet = avant["mois"].nunique() >= data["mois"].nunique()
    precedents = avant[INDICATEURS].sum() if complet else dict.fromkeys(INDICATEURS)
    cartes = [common.kpi_card(label, totaux[col], precedents[col], unite="€", hausse_favorable=bon)
              for label, col, bon in CARTES]
    table = data[COLONNES].round(dict.fromkeys(INDICATEURS, 2))
    return enfants + [w.HBox(cartes), origine, common.figure(plots.finance(data)), common.table_html(table),
                      common.export_links(table, "finance")]

