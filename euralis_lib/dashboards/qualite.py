"""Qualité: ITM and sigma distributions per site and souche, anomalous lots with their explanations."""

from __future__ import annotations

import ipywidgets as w
import plotly.express as px
from sqlalchemy.engine import Engine

from euralis_lib import plots, queries, results
from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Filtres


def build(engine: Engine, filtres: Filtres) -> list[w.Widget]:
    """Distribution charts, summary table and the anomalies of the latest anomalies run."""
    common.require_sites(filtres)
    lots = queries.qualite_lots(engine, filtres.sites, filtres.debut, filtres.fin)
    if lots.empty:
        raise common.EmptySelectionError(common.AUCUN_LOT)
    enfants: list[w.Widget] = []
    for col, titre in (("itm", "ITM"), ("sigma_g", "Sigma (g)")):
        fig = px.box(lots, x="site_code", y=col, color="souche_code", points="outliers", hover_name="code_lot",
                     labels={"site_code": "Site", col: titre, "souche_code": "Souche"})
        fig.update_layout(title=f"Distribution de {titre} par site et souche", template="plotly_white", height=340)
        enfants.append(common.figure(fig))
    resume = queries.qualite_resume(engine, filtres.sites, filtres.debut, filtres.fin)
    enfants += [common.table_html(resume), common.export_links(resume, "qualite_resume"),
                w.HTML("<h3>Lots anormaux</h3>")]
    anomalies = results.anomalies(engine, seulement_anomalies=False)
    if anomalies.empty:
        enfants.append(common.message("Aucune anomalie calculée : lancez le job anomalies."))
        return enfants
    data = anomalies.data[anomalies.data["site_code"].isin(filtres.sites)]
    anormaux = data[data["est_anomalie"]]
    enfants += [common.source(anomalies.source()), common.figure(plots.anomalies(data))]
    if anormaux.empty:
        enfants.append(common.message("Aucun lot anormal pour les sites choisis."))
    else:
        table = anormaux[["code_lot", "site_code", "souche_code", "gaveur", "fin", "score", "critique", "explication"]]
        enfants += [common.table_html(table), common.export_links(table, "lots_anormaux")]
    return enfants


def page(engine: Engine | None = None) -> common.Page:
    """Build and display the Qualité page."""
    p = common.Page("qualite", "Qualité", build, periode_jours=365, engine=engine)
    common.show(p)
    return p
