"""What the « Comparer » control of the filter bar shows (issue 23), one section shared by the pages offering it
(``FilterSpec.comparaisons``): Tableau de bord, Sites and Gaveurs.

- « Même période il y a un an »: the weekly production of the period and of the same weeks 364 days (52 weeks)
  earlier, overlaid on the period's dates (weekdays coincide), with the difference in kg and percent;
- « Site contre site »: two sites' weekly production overlaid, and their indicators side by side;
- « Gaveur contre moyenne du site » / « … son groupe (cluster) »: one gaveur's indicators next to the means of
  his site or of his group in the latest clustering run. The means come from SQL functions that return only
  aggregates over at least three gaveurs (``moyennes_sites``, sql/112 and 151; ``moyennes_groupe``, sql/198):
  a gaveur, who reads only his own lots, gets his site's or group's mean, never another gaveur's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

import ipywidgets as w
import pandas as pd
from sqlalchemy.engine import Engine

from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import COMPARAISONS, Contexte, Filters
from euralis_lib.database import queries
from euralis_lib.jobs import runs
from euralis_lib.presentation import formatting, plots

# Indicator compared: (French label, column of gaveur_performances, column of the SQL means, lower is better).
INDICATEURS = (("ITM", "itm", "itm_moyen", True), ("Sigma (g)", "sigma_g", "sigma_moyen_g", True),
               ("Poids de foie moyen (g)", "poids_foie_moyen_g", "poids_foie_moyen_g", False),
               ("Mortalité (%)", "mortalite_pct", "mortalite_pct", True))
COLONNES = {"semaine": "Semaine du", "production_kg": "Production (kg)",
            "production_kg_an_passe": "Production il y a un an (kg)", "semaine_an_passe": "Même semaine il y a un an",
            "ecart_kg": "Écart (kg)", "ecart_pct": "Écart (%)", "indicateur": "Indicateur", "ecart": "Écart",
            "mieux": "Le mieux"}


def section(ctx: Contexte) -> list[w.Widget]:
    """The comparison chosen in the filter bar under its title (nothing for « Aucune »), computed right after
    the page's first part (:func:`~euralis_lib.dashboards.common.differe`); a French message when it cannot be
    made."""
    filtres = ctx.require_filters()
    mode = filtres.comparaison.mode
    if mode == "aucune":
        return []
    dessins: dict[str, Callable[[Contexte, Filters], list[w.Widget]]] = {
        "annee": lambda c, f: annee(c.engine, f), "site": site_contre_site,
        "moyenne_site": gaveur_contre_reference, "groupe": gaveur_contre_reference}
    if mode not in dessins:
        raise ValueError(f"comparaison inconnue « {mode} »")
    return [common.titre(f"Comparaison : {COMPARAISONS[mode]}"),
            common.differe(lambda: dessins[mode](ctx, filtres), "Calcul de la comparaison…")]


def carte_ecart(label: str, valeur: float, reference: float, unite: str, versus: str,
                hausse_favorable: bool = True) -> w.HTML:
    """A card showing ``valeur − reference`` (signed, with ``unite``) and the change in percent vs ``versus``."""
    ecart = valeur - reference
    pct = common.tendance(valeur, reference)
    signe = "+" if ecart > 0 else ""
    detail = (f"{signe}{formatting.nombre(pct, 1)} % vs {versus}" if pct is not None else f"{versus} : n/d")
    classe = "stable" if not ecart else ("hausse" if (ecart > 0) == hausse_favorable else "baisse")
    return common.carte(label, f"{signe}{formatting.nombre(ecart)} {unite}", detail, classe)


def annee(engine: Engine, filtres: Filters) -> list[w.Widget]:
    """The period's weekly production next to the same weeks a year earlier (cards, overlaid chart, table)."""
    df = queries.comparaison_annee(engine, filtres.sites, filtres.debut, filtres.fin, filtres.gaveurs)
    recul = timedelta(days=queries.RECUL_ANNEE_JOURS)
    avant_du, avant_au = formatting.jour(filtres.debut - recul), formatting.jour(filtres.fin - recul)
    total, avant = float(df["production_kg"].sum()), float(df["production_kg_an_passe"].sum())
    if avant == 0:
        return [common.message(f"Aucune production un an plus tôt (du {avant_du} au {avant_au}) : la comparaison "
                               "avec la même période il y a un an n'est pas possible pour ces filtres.")]
    periode = f"du {formatting.jour(filtres.debut)} au {formatting.jour(filtres.fin)}"
    cartes = [common.carte("Production de la période", f"{formatting.nombre(total)} kg", periode),
              common.carte("Même période il y a un an", f"{formatting.nombre(avant)} kg",
                           f"du {avant_du} au {avant_au}"),
              carte_ecart("Écart", total, avant, "kg", "il y a un an")]
    libelles = {"production_kg": "Période choisie", "production_kg_an_passe": "Il y a un an", "semaine": "Semaine du"}
    return [w.HBox(cartes),
            common.figure(plots.series_comparees(df, "production_kg", "production_kg_an_passe", libelles,
                                                 "Production par semaine : période et même période il y a un an",
                                                 dates_reference="semaine_an_passe")),
            common.table_html(df, colonnes=COLONNES), common.export_links(df, "comparaison_annee", COLONNES),
            common.source(f"année précédente décalée de {queries.RECUL_ANNEE_JOURS} jours (52 semaines) pour que "
                          "les jours de la semaine coïncident ; semaines comptées depuis le début de la période")]


def ecarts(valeurs: Mapping[str, float], references: Mapping[str, float]) -> pd.DataFrame:
    """The indicators of :data:`INDICATEURS` side by side: ``valeur`` (keys: gaveur_performances columns),
    ``reference`` (keys: the SQL means' columns), ``ecart`` (valeur − reference), ``ecart_pct`` and which is
    better (« valeur », « référence » or « égalité »)."""
    lignes = []
    for label, colonne, colonne_ref, baisse_favorable in INDICATEURS:
        v, r = float(valeurs.get(colonne, float("nan"))), float(references.get(colonne_ref, float("nan")))
        mieux = ("égalité" if v == r else "valeur" if (v < r) == baisse_favorable else "référence") \
            if not (pd.isna(v) or pd.isna(r)) else ""
        lignes.append({"indicateur": label, "valeur": v, "reference": r, "ecart": v - r,
                       "ecart_pct": common.tendance(v, r), "mieux": mieux})
    return pd.DataFrame(lignes).astype({"ecart_pct": float})


def _table_ecarts(comp: pd.DataFrame, libelle: str, libelle_reference: str, nom: str) -> list[w.Widget]:
    colonnes = {**COLONNES, "valeur": libelle, "reference": libelle_reference}
    lisible = comp.assign(mieux=comp["mieux"].map({"valeur": libelle, "référence": libelle_reference,
                                                   "égalité": "égalité"}).fillna(""))
    return [common.table_html(lisible, colonnes=colonnes), common.export_links(lisible, nom, colonnes),
            common.figure(plots.indicateurs_compares(comp, libelle, libelle_reference,
                                                     f"{libelle} contre {libelle_reference}"))]


def site_contre_site(ctx: Contexte, filtres: Filters) -> list[w.Widget]:
    """Two sites' weekly production overlaid with the difference, and their indicators side by side."""
    a, b = filtres.comparaison.site, filtres.comparaison.autre_site
    if ctx.utilisateur is not None and ctx.utilisateur.role == "gaveur":
        return [common.message("La comparaison site contre site est réservée aux superviseurs et administrateurs.")]
    if not a or not b or a == b:
        return [common.message("Choisissez deux sites différents à comparer.")]
    prod_a = queries.production_semaines(ctx.engine, [a], filtres.debut, filtres.fin)
    prod_b = queries.production_semaines(ctx.engine, [b], filtres.debut, filtres.fin)
    df = pd.DataFrame({"semaine": prod_a["semaine"], a: prod_a["production_kg"], b: prod_b["production_kg"]})
    moyennes = queries.moyennes_sites(ctx.engine, filtres.debut, filtres.fin)
    manquants = [s for s in (a, b) if s not in moyennes.index]
    if manquants:
        return [common.message(f"Pas de moyennes pour le site {', '.join(manquants)} sur la période (moins de "
                               "3 gaveurs y ont abattu des lots, ou site hors de vos droits) : élargissez la période.")]
    total_a, total_b = float(df[a].sum()), float(df[b].sum())
    cartes = [common.carte(f"Production {a}", f"{formatting.nombre(total_a)} kg", "sur la période"),
              common.carte(f"Production {b}", f"{formatting.nombre(total_b)} kg", "sur la période"),
              carte_ecart(f"Écart {a} − {b}", total_a, total_b, "kg", f"site {b}")]
    libelles = {a: f"Site {a}", b: f"Site {b}", "semaine": "Semaine du"}
    comp = ecarts(moyennes.loc[a].rename({v: k for _, k, v, _ in INDICATEURS}), moyennes.loc[b])
    return [w.HBox(cartes),
            common.figure(plots.series_comparees(df, a, b, libelles, f"Production par semaine : site {a} contre {b}")),
            *_table_ecarts(comp, f"Site {a}", f"Site {b}", f"comparaison_{a}_{b}"),
            common.source("moyennes sur tous les lots abattus de chaque site pendant la période")]


def gaveur_contre_reference(ctx: Contexte, filtres: Filters) -> list[w.Widget]:
    """One gaveur's indicators next to his site's means or his group's (« moyenne_site » or « groupe »)."""
    c = filtres.comparaison
    if c.gaveur_id is None:
        return [common.message("Aucun gaveur à comparer : choisissez un gaveur dans la liste « Gaveur ».")]
    perf = queries.gaveur_performances(ctx.engine, None, filtres.debut, filtres.fin, [c.gaveur_id])
    if perf.empty:
        return [common.message("Ce gaveur n'a aucun lot abattu sur la période : élargissez la période.")]
    ligne = perf.iloc[0]
    if c.mode == "moyenne_site":
        moyennes = queries.moyennes_sites(ctx.engine, filtres.debut, filtres.fin)
        if ligne["site_code"] not in moyennes.index:
            return [common.message(f"Moyenne du site {ligne['site_code']} non disponible : moins de 3 gaveurs y ont "
                                   "abattu des lots sur la période.")]
        reference = moyennes.loc[ligne["site_code"]]
        libelle_ref = f"Moyenne du site {ligne['site_code']}"
        origine = f"moyenne de {int(reference['nb_gaveurs'])} gaveurs et {int(reference['nb_lots'])} lots du site"
    else:
        if runs.latest_run(ctx.engine, "clustering") is None:
            return [common.message("Aucun groupe de gaveurs : le job clustering n'a encore jamais réussi "
                                   "(lancez le job clustering).")]
        groupe = queries.moyennes_groupe(ctx.engine, c.gaveur_id, filtres.debut, filtres.fin)
        if groupe.empty:
            return [common.message("Pas de moyenne de groupe pour ce gaveur : il n'est dans aucun groupe du dernier "
                                   "clustering, ou moins de 3 gaveurs de son groupe ont abattu des lots sur la "
                                   "période.")]
        reference = groupe.iloc[0]
        libelle_ref = f"Groupe « {reference['nom_cluster']} »"
        origine = (f"moyenne de {int(reference['nb_gaveurs'])} gaveurs et {int(reference['nb_lots'])} lots du groupe "
                   "(dernier clustering réussi)")
    comp = ecarts(ligne, reference)
    return [*_table_ecarts(comp, f"Gaveur {ligne['code']}", libelle_ref, f"comparaison_{ligne['code']}"),
            common.source(origine)]
