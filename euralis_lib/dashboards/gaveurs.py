"""Gaveurs: sortable and searchable performance table, cluster of each gaveur, one gaveur vs his site."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd
from sqlalchemy.engine import Engine

from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte, Filters
from euralis_lib.database import queries
from euralis_lib.jobs import results
from euralis_lib.presentation import plots

FILTERS = common.FilterSpec(periode_jours=365, avec_gaveurs=True)

COLONNES = {"code": "Code", "nom": "Nom", "site_code": "Site", "groupe": "Groupe", "nb_lots": "Lots",
            "production_kg": "Production (kg)", "itm": "ITM", "sigma_g": "Sigma (g)",
            "mortalite_pct": "Mortalité (%)", "rang": "Rang ITM (site)"}
COMPARES = {"itm": "ITM", "sigma_g": "Sigma (g)", "mortalite_pct": "Mortalité (%)",
            "poids_foie_moyen_g": "Poids de foie moyen (g)"}


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


def comparaison(perf: pd.DataFrame, gaveur_id: int, moyennes: pd.DataFrame | None = None) -> pd.DataFrame:
    """One gaveur's indicators next to the mean of the gaveurs of his site, or, for a gaveur who sees only
    his own rows, next to the site means of ``moyennes`` (:func:`queries.moyennes_sites`)."""
    ligne = perf[perf["gaveur_id"] == gaveur_id].iloc[0]
    if moyennes is None:
        site = perf[perf["site_code"] == ligne["site_code"]]
        valeurs = [float(site[c].mean()) for c in COMPARES]
    else:
        site = moyennes.reindex([ligne["site_code"]]).iloc[0]
        valeurs = [float(site.get({"itm": "itm_moyen", "sigma_g": "sigma_moyen_g"}.get(c, c), float("nan")))
                   for c in COMPARES]
    return pd.DataFrame({"indicateur": list(COMPARES.values()),
                         "gaveur": [float(ligne[c]) for c in COMPARES], "moyenne_site": valeurs})


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
    """Performance table, cluster source and the gaveur-vs-site comparison."""
    filtres = ctx.require_filters()
    perf, clusters = performances(ctx.engine, filtres)
    # A gaveur sees only his own rows: the site means come from the database's aggregate function.
    gaveur = ctx.utilisateur is not None and ctx.utilisateur.role == "gaveur"
    moyennes = queries.moyennes_sites(ctx.engine, filtres.debut, filtres.fin) if gaveur else None
    table = TableGaveurs(perf)
    groupes = (common.source(f"groupes : {clusters.source()}") if not clusters.empty
               else common.message("Aucun groupe de gaveurs : lancez le job clustering."))
    choix = w.Dropdown(options=[(f"{r.code} – {r.nom} ({r.site_code})", int(r.gaveur_id)) for r in perf.itertuples()],
                       description="Gaveur", layout=w.Layout(width="420px"))
    sortie = w.VBox([])

    def comparer(_change=None) -> None:
        sortie.children = [common.figure(plots.gaveur_contre_site(comparaison(perf, choix.value, moyennes)))]

    choix.observe(comparer, names="value")
    comparer()
    return [table.widget, groupes, common.titre("Un gaveur contre la moyenne du site"), choix, sortie]

