"""Qualité: ITM and sigma distributions per site and souche, liver-weight formulas, anomalous lots."""

from __future__ import annotations

import ipywidgets as w

from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte
from euralis_lib.database import queries
from euralis_lib.jobs import results
from euralis_lib.presentation import plots

FILTERS = common.FilterSpec(periode_jours=365)
COLONNES_FORMULES = ["site_code", "souche_code", "formule", "r2_test", "meilleure_reference", "r2_meilleure_reference",
                     "ecart_r2", "mae_test", "complexite", "nb_termes_polynomiale", "engine"]


def formules(ctx: Contexte) -> list[w.Widget]:
    """The retained liver-weight formula per site × souche of the selected sites (job ``entrainement``), next to
    its best baseline on the same held-out lots (« meilleure référence »)."""
    res = results.formules_retenues(ctx.engine)
    titre = common.titre("Formules de poids de foie")
    if res.empty:
        return [titre, common.message("Aucune formule : lancez le job entrainement.")]
    data = res.data[res.data["site_code"].isin(ctx.require_filters().sites)]
    if data.empty:
        return [titre, common.message("Aucune formule pour les sites choisis.")]
    table = data[COLONNES_FORMULES]
    return [titre, common.source(res.source()), common.table_html(table),
            common.export_links(table, "formules_poids_de_foie")]


def build(ctx: Contexte) -> list[w.Widget]:
    """Distribution charts, summary table, formulas and the anomalies of the latest anomalies run."""
    engine, filtres = ctx.engine, ctx.require_filters()
    lots = queries.qualite_lots(engine, filtres.sites, filtres.debut, filtres.fin)
    if lots.empty:
        raise common.EmptySelectionError(common.AUCUN_LOT)
    enfants: list[w.Widget] = [common.figure(plots.distribution(lots, col, titre))
                               for col, titre in (("itm", "ITM"), ("sigma_g", "Sigma (g)"))]
    resume = queries.qualite_resume(engine, filtres.sites, filtres.debut, filtres.fin)
    enfants += [common.table_html(resume), common.export_links(resume, "qualite_resume"), *formules(ctx),
                common.titre("Lots anormaux")]
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
