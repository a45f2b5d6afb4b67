"""Simulateur de lot: what a lot would give (liver weight, ITM, grade mix, margin per duck, each with its 80 %
interval) from its site × souche, entry weight, duration, dose plan and fasting hours, by the retained formula
of the site × souche (:func:`euralis_lib.jobs.lot_calculator.predict_lot`). The choices are the site × souche
pairs the user may read: a gaveur simulates his own site and souches."""

from __future__ import annotations

import ipywidgets as w

from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte
from euralis_lib.dashboards.page_report import marquer
from euralis_lib.jobs import lot_calculator
from euralis_lib.models.lot_calculator import CalculatorError, Interval, LotPrediction
from euralis_lib.presentation import formatting
from euralis_lib.presentation.markup import element

FILTERS = None
NOMS_GRADES = {"Extra": "Extra", "Premier choix": "Premier choix", "Second choix": "Second choix",
               "Declasse": "Déclassé"}
PLANS = {"courbe": "Courbe témoin", "total": "Dose totale par canard", "jours": "Doses par jour"}
_STYLE = {"description_width": "13em"}


def _intervalle(i: Interval, decimales: int, unite: str) -> str:
    return (f"intervalle à 80 % : {formatting.nombre(i.bas, decimales)} – "
            f"{formatting.nombre(i.haut, decimales)}{unite}")


def resultat(p: LotPrediction) -> list[w.Widget]:
    """KPI cards with their intervals, the grade mix, then the formula, its engine and its run."""
    cartes = [common.carte("Poids de foie moyen", f"{formatting.nombre(p.poids_foie_g.valeur)} g",
                           _intervalle(p.poids_foie_g, 0, " g")),
              common.carte("ITM", formatting.nombre(p.itm.valeur, 2), _intervalle(p.itm, 2, ""))]
    if p.marge_par_canard_eur is None:
        cartes.append(common.carte("Marge par canard", "—", "prix manquant dans les paramètres"))
    else:
        cartes.append(common.carte("Marge par canard", f"{formatting.nombre(p.marge_par_canard_eur.valeur, 2)} €",
                                   _intervalle(p.marge_par_canard_eur, 2, " €")))
    grades = [common.carte(f"Part {NOMS_GRADES.get(g, g)}", f"{formatting.nombre(100 * i.valeur, 0)} %",
                           f"intervalle à 80 % : {formatting.nombre(100 * i.bas, 0)} – "
                           f"{formatting.nombre(100 * i.haut, 0)} %") for g, i in p.grades.items()]
    f = p.features
    hypotheses = (f"Plan : {formatting.nombre(f['dose_totale_kg'], 2)} kg de maïs par canard, dose finale "
                  f"{formatting.nombre(f['dose_finale_g'])} g, écart à la courbe "
                  f"{formatting.nombre(f['ecart_courbe_g'], 1)} g (l'habitude des lots passés comprise), jeûne "
                  f"{formatting.nombre(f['jeune_h'], 1)} h ; mortalité supposée "
                  f"{formatting.nombre(p.mortalite_pct, 1)} % (médiane des lots passés). Grades : les "
                  f"{p.nb_lots_voisins} lots passés lisibles de poids de foie le plus proche. Marge : prix en vigueur, "
                  "transport non compris.")
    formule = element("div", element("strong", "Formule retenue "), f"({p.site} / {p.souche}, moteur {p.engine}) : ",
                      element("code", p.formule), class_="euralis-formule")
    return [w.HBox(cartes), common.titre("Répartition des grades"), w.HBox(grades),
            marquer(w.HTML(formule), formule), common.source(p.source), common.message(hypotheses)]


def build(ctx: Contexte) -> list[w.Widget]:
    """The calculator's inputs, a « Calculer » button and the result under it."""
    choix = lot_calculator.choices(ctx.engine)
    if not choix:
        return [common.message("Aucune formule pour vos sites : lancez le job entrainement.")]
    sites = sorted({s for s, _ in choix})
    site = w.Dropdown(options=sites, description="Site", style=_STYLE)
    souche = w.Dropdown(description="Souche", style=_STYLE)

    def souches(_change: object = None) -> None:
        options = [so for s, so in choix if s == site.value]
        souche.options = options
        souche.index = 0 if options else None  # new options leave no choice made

    souches()
    site.observe(souches, names="value")
    poids = w.BoundedFloatText(value=4.2, min=2.0, max=7.0, step=0.1, description="Poids d'entrée (kg)", style=_STYLE)
    duree = w.BoundedIntText(value=11, min=8, max=16, description="Durée (jours)", style=_STYLE)
    plan = w.Dropdown(options=[(v, k) for k, v in PLANS.items()], description="Plan de doses", style=_STYLE)
    total = w.BoundedFloatText(value=8.5, min=3.0, max=15.0, step=0.1, description="Dose totale (kg/canard)",
                               style=_STYLE)
    jours = w.Text(placeholder="400; 500; 600 … (g par canard et par jour)", description="Doses par jour (g)",
                   style=_STYLE)
    jeune = w.BoundedFloatText(value=10.0, min=0.0, max=30.0, step=0.5, description="Jeûne avant abattage (h)",
                               style=_STYLE)
    for champ in (site, souche, poids, duree, plan, total, jours, jeune):
        champ.layout = w.Layout(width="25em", max_width="100%")

    def champs_du_plan(_change: object = None) -> None:
        total.disabled, jours.disabled = plan.value != "total", plan.value != "jours"

    champs_du_plan()
    plan.observe(champs_du_plan, names="value")
    calculer = w.Button(description="Calculer", button_style="primary", icon="calculator")
    sortie = w.VBox([])

    def lancer(_b: w.Button) -> None:
        try:
            doses = None
            if plan.value == "jours":
                doses = [float(x.replace(",", ".")) for x in jours.value.replace(";", " ").split()]
            p = lot_calculator.predict_lot(
                ctx.engine, site=site.value, souche=souche.value, poids_entree_kg=poids.value,
                duree_jours=duree.value, jeune_h=jeune.value,
                dose_totale_kg=total.value if plan.value == "total" else None, doses_jour_g=doses)
        except ValueError as exc:  # CalculatorError (French) or a number that does not read
            texte = (str(exc) if isinstance(exc, CalculatorError)
                     else "Doses par jour illisibles : des nombres séparés par « ; ».")
            sortie.children = [common.message(texte, "erreur")]
            return
        except Exception as exc:  # noqa: BLE001 — a French message, the log keeps the traceback
            sortie.children = [common.message(common.french_error(exc), "erreur")]
            return
        sortie.children = resultat(p)

    calculer.on_click(lancer)
    return [common.message("Choisissez le lot à simuler puis « Calculer » : poids de foie, ITM, grades et marge "
                           "prédits par la formule retenue de votre site et souche, chacun avec son intervalle "
                           "à 80 %."),
            w.HBox([w.VBox([site, souche, poids, duree]), w.VBox([plan, total, jours, jeune])]), calculer, sortie]
