"""Gaveurs: sortable and searchable performance table, cluster of each gaveur, and the comparisons of the filter
bar: one gaveur vs his site's means or his group's (:mod:`euralis_lib.dashboards.comparaison`), year over year."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd
from sqlalchemy.engine import Engine

from euralis_lib.dashboards import common, comparaison
from euralis_lib.dashboards.common import Contexte, Filters
from euralis_lib.database import queries
from euralis_lib.jobs import results

# The page opens on the first gaveur of the list against his site's means (a gaveur: himself).
FILTERS = common.FilterSpec(periode_jours=365, avec_gaveurs=True, comparaisons=("annee", "moyenne_site", "groupe"),
                            comparaison_defaut="moyenne_site")

COLONNES = {"code": "Code", "nom": "Nom", "site_code": "Site", "groupe": "Groupe", "nb_lots": "Lots",
            "production_kg": "Production (kg)", "itm": "ITM", "sigma_g": "Sigma (g)",
            "mortalite_pct": "Mortalité (%)", "rang": "Rang ITM (site)"}


def performances(engine: Engine, filtres: Filters) -> tuple[pd.DataFrame, results.Result]:
    """Gaveur performances with the cluster of the latest successful clustering run (NaN if none)."""
    common.require_sites(filtres)
    perf = queries.gaveur_performances(engine, filtres.sites, filtres.debut, filtres.fin, filtres.gaveurs)
    if perf.empty:
        raise common.EmptySelectionError("Aucun gaveur avec des lots abattus pour ces filtres : élargissez la période.")
    clusters = results.clusters(engine)
    groupe = (clusters.data.set_index("gaveur_id")["nom_cluster"] if not clusters.empty
              else pd.Series(dtype=object, name="nom_cluster"))
    perf["groupe"] = perf["gaveur_id"].map(groupe)
    return perf, clusters


class TableGaveurs:
    """Search box and sort choice over the performance table, with exports."""

    def __init__(self, perf: pd.DataFrame) -> None:
        self.perf = perf
        self.recherche = w.Text(placeholder="Rechercher un gaveur (code ou nom)", description="Recherche")
        self.tri = w.Dropdown(options=[(v, k) for k, v in COLONNES.items()], value="itm", description="Trier par")
        self.ordre = w.ToggleButtons(options=[("croissant", True), ("décroissant", False)], value=True)
        self.sortie = w.VBox([])
        for champ in (self.recherche, self.tri, self.ordre):
            champ.observe(lambda _c: self.afficher(), names="value")
        self.widget = w.VBox([w.HBox([self.recherche, self.tri, self.ordre]), self.sortie])
        self.afficher()

    def afficher(self) -> None:
        """Filter by the search text and sort."""
        df = self.perf
        texte = self.recherche.value.strip().lower()
        if texte:
            df = df[df["code"].str.lower().str.contains(texte, regex=False)
                    | df["nom"].str.lower().str.contains(texte, regex=False)]
        if df.empty:
            self.sortie.children = [common.message(f"Aucun gaveur ne correspond à « {self.recherche.value} ».")]
            return
        df = df.sort_values(self.tri.value, ascending=self.ordre.value)[list(COLONNES)]
        self.sortie.children = [common.table_html(df, colonnes=COLONNES),
                                common.export_links(df, "performances_gaveurs", colonnes=COLONNES)]


def build(ctx: Contexte) -> list[w.Widget]:
    """Performance table, cluster source and the comparison chosen in the filter bar (« Comparer »: one gaveur
    against his site's or his group's means, computed in SQL so that a gaveur gets only aggregates)."""
    filtres = ctx.require_filters()
    perf, clusters = performances(ctx.engine, filtres)
    table = TableGaveurs(perf)
    groupes = (common.source(f"groupes : {clusters.source()}") if not clusters.empty
               else common.message("Aucun groupe de gaveurs : lancez le job clustering."))
    if filtres.comparaison.mode == "aucune":
        aide = common.message("Comparer un gaveur à la moyenne de son site ou de son groupe : choisissez-le dans "
                              "« Comparer » au-dessus.")
        return [table.widget, groupes, aide]
    return [table.widget, groupes, *comparaison.section(ctx)]
