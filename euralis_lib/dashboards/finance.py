"""Finance: revenue, costs and margins per site and month (finance job snapshot, live prices otherwise)."""

from __future__ import annotations

import ipywidgets as w
from sqlalchemy.engine import Engine

from euralis_lib import plots, queries, results
from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Filtres

COLONNES = ["site_code", "mois", "nb_lots", "nb_canards", "revenu_eur", "couts_eur", "marge_eur"]


def build(engine: Engine, filtres: Filtres) -> list[w.Widget]:
    """Monthly margin chart and table from the latest finance run, filtered by site and period."""
    common.require_sites(filtres)
    res = results.finance(engine)
    if res.empty:
        enfants: list[w.Widget] = [common.message("Aucun indicateur financier archivé : lancez le job finance. "
                                                  "Calcul direct avec les prix actuels ci-dessous.")]
        data = queries.finance_indicateurs(engine, filtres.sites, filtres.debut, filtres.fin)
        origine = common.source("calcul direct depuis la base (prix_parametres), non archivé")
    else:
        data = res.data
        mois = data["mois"].dt.date
        data = data[data["site_code"].isin(filtres.sites) & (mois >= filtres.debut.replace(day=1))
                    & (mois <= filtres.fin)]
        enfants, origine = [], common.source(res.source())
    if data.empty:
        raise common.EmptySelectionError("Aucun abattage sur la période et les sites choisis : élargissez la période.")
    totaux = data[["revenu_eur", "couts_eur", "marge_eur"]].sum()
    cartes = [common.kpi_card("Chiffre d'affaires", totaux["revenu_eur"], unite="€"),
              common.kpi_card("Coûts", totaux["couts_eur"], unite="€"),
              common.kpi_card("Marge", totaux["marge_eur"], unite="€")]
    table = data[COLONNES].round(2)
    return enfants + [w.HBox(cartes), origine, common.figure(plots.finance(data)), common.table_html(table),
                      common.export_links(table, "finance")]


def page(engine: Engine | None = None) -> common.Page:
    """Build and display the Finance page."""
    p = common.Page("finance", "Finance", build, periode_jours=365, engine=engine)
    common.show(p)
    return p
