"""The weekly report as one French HTML page, built only through :mod:`euralis_lib.presentation.markup`.

No script in the page: each chart is a ``div`` carrying its plotly figure as JSON in an (escaped)
``data-figure`` attribute, drawn by :mod:`.pdf` with the local plotly bundle before printing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from euralis_lib.presentation import formatting
from euralis_lib.presentation.markup import Markup, element, join, literal
from euralis_lib.reporting.contenu import Perimetre, Rapport

STYLE = literal("""
@page { size: A4; margin: 14mm 12mm 16mm 12mm; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 9.5pt; color: #222; }
h1 { font-size: 17pt; margin: 0 0 2mm 0; color: #6b1d1d; }
h2 { font-size: 12pt; margin: 6mm 0 2mm 0; border-bottom: 1px solid #c9a; color: #6b1d1d; break-after: avoid; }
p.sous-titre { margin: 0 0 4mm 0; color: #555; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 2mm 0; break-inside: auto; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th { background: #f1e6e6; text-align: left; padding: 1.2mm 2mm; border-bottom: 1px solid #b99; }
td { padding: 1mm 2mm; border-bottom: 1px solid #eee; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.favorable { color: #1a7f37; } .defavorable { color: #b42318; }
.figure { width: 180mm; height: 78mm; break-inside: avoid; margin: 2mm 0; }
p.vide { color: #777; font-style: italic; }
p.sources { color: #777; font-size: 8pt; margin-top: 6mm; }
""")


def titre(p: Perimetre) -> str:
    """« Rapport hebdomadaire — site LL — semaine du 24/06/2026 au 30/06/2026 » (and the gaveur's name)."""
    qui = f"site {p.site}" + (f" — gaveur {p.gaveur_nom}" if p.gaveur_id is not None else "")
    return f"Rapport hebdomadaire — {qui} — semaine du {formatting.jour(p.debut)} au {formatting.jour(p.fin)}"


def _numerique(serie: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(serie) and not pd.api.types.is_bool_dtype(serie)


def tableau(df: pd.DataFrame, colonnes: Mapping[str, str], decimales: Mapping[str, int] | None = None,
            vide: str = "Rien cette semaine.") -> Markup:
    """``df``'s ``colonnes`` (name → French header) as an HTML table, numbers the French way and right-aligned."""
    if df.empty:
        return element("p", vide, class_="vide")
    decimales = decimales or {}
    entete = element("thead", element("tr", join(
        element("th", libelle, class_="n" if _numerique(df[c]) else None) for c, libelle in colonnes.items())))
    lignes = []
    for _, ligne in df.iterrows():
        cellules = [element("td", formatting.valeur(ligne[c], decimales.get(c, 1)),
                            class_="n" if _numerique(df[c]) else None) for c in colonnes]
        lignes.append(element("tr", join(cellules)))
    return element("table", entete, element("tbody", join(lignes)))


def _kpis(kpis: pd.DataFrame) -> Markup:
    lignes = []
    for k in kpis.itertuples():
        d = int(k.decimales)
        evolution = "" if formatting.manquant(k.evolution_pct) else \
            f"{'+' if k.evolution_pct > 0 else ''}{formatting.nombre(k.evolution_pct, 1)} %"
        sens = None if formatting.manquant(k.evolution_pct) or k.evolution_pct == 0 else \
            ("favorable" if (k.evolution_pct > 0) == k.hausse_favorable else "defavorable")
        lignes.append(element("tr", element("td", k.indicateur),
                              element("td", formatting.nombre(k.semaine, d), class_="n"),
                              element("td", formatting.nombre(k.precedente, d), class_="n"),
                              element("td", evolution or formatting.VIDE, class_=f"n {sens or ''}".strip())))
    entete = element("thead", element("tr", element("th", "Indicateur"), element("th", "Cette semaine", class_="n"),
                                      element("th", "Semaine précédente", class_="n"),
                                      element("th", "Évolution", class_="n")))
    return element("table", entete, element("tbody", join(lignes)))


def figure(fig: go.Figure) -> Markup:
    """A chart placeholder: the figure as JSON, drawn by :mod:`.pdf` before printing."""
    return element("div", class_="figure", data_figure=fig.to_json())


def html(r: Rapport, genere_le: datetime) -> Markup:
    """The whole report page (French, every value escaped)."""
    p = r.perimetre
    lots = {"code_lot": "Lot", "gaveur": "Gaveur", "date_abattage": "Abattage", "itm": "ITM", "sigma_g": "Sigma (g)",
            "poids_foie_moyen_g": "Foie moyen (g)", "pct_extra": "Extra (%)"}
    lots_dec = {"itm": 2, "sigma_g": 1, "poids_foie_moyen_g": 0, "pct_extra": 1}
    figures = list(r.figures)
    sections = [
        element("h2", "Indicateurs de la semaine"), _kpis(r.kpis),
        element("h2", "Production et prévision" if p.gaveur_id is None else "Production du site et prévision"),
        tableau(r.production, {"realise_kg": "Réalisé (kg)", "prevu_kg": "Prévu pour la semaine (kg)",
                               "ecart_pct": "Écart (%)", "prevision_suivante_kg": "Prévision semaine suivante (kg)"},
                {"realise_kg": 0, "prevu_kg": 0, "ecart_pct": 1, "prevision_suivante_kg": 0}),
        join(figure(f) for f in figures[:2]),
        element("h2", "Alertes de la semaine"),
        tableau(r.alertes, {"horodatage": "Date", "severite": "Sévérité", "type": "Type", "gaveur": "Gaveur",
                            "message": "Message"}, vide="Aucune alerte cette semaine."),
        element("h2", "Meilleurs lots (ITM le plus bas)"), tableau(r.meilleurs_lots, lots, lots_dec),
        element("h2", "Lots à surveiller (ITM le plus haut)"), tableau(r.pires_lots, lots, lots_dec),
        join(figure(f) for f in figures[2:]),
        element("h2", "Qualité des foies"),
        tableau(r.grades, {"grade": "Classe", "nb_foies": "Foies", "poids_kg": "Poids (kg)", "part_pct": "Part (%)"},
                {"poids_kg": 1, "part_pct": 1}),
        element("h2", "Plan d'abattage de la semaine prochaine"),
        tableau(r.plan, {"date_abattage": "Date", "code_lot": "Lot", "site_lot": "Site du lot",
                         "nb_canards": "Canards"}, vide="Aucun abattage planifié pour la semaine prochaine."),
        element("h2", "Finance de la semaine"),
        tableau(r.finance, {"nb_canards": "Canards abattus", "revenu_eur": "Revenus (€)", "couts_eur": "Coûts (€)",
                            "marge_eur": "Marge (€)", "marge_par_canard_eur": "Marge par canard (€)"},
                {"nb_canards": 0, "revenu_eur": 0, "couts_eur": 0, "marge_eur": 0, "marge_par_canard_eur": 2}),
        element("p", "Sources : " + " ; ".join(["données de production de la base", *r.sources])
                + f". Généré le {formatting.horodatage(genere_le)}.", class_="sources"),
    ]
    return document(titre(p), join(sections))


def document(titre_page: str, sections: Markup, style: Markup = STYLE,
             sous_titre: str = "Euralis — coopérative foie gras. Chiffres issus de la base de données.") -> Markup:
    """A printable French page: ``titre_page`` as its title and heading, ``sous_titre``, then ``sections``
    (the weekly report's, or a dashboard page's: :mod:`euralis_lib.dashboards.page_report`)."""
    corps = element("body", element("h1", titre_page), element("p", sous_titre, class_="sous-titre"), sections)
    tete = element("head", element("meta", charset="utf-8"), element("title", titre_page), element("style", style))
    return literal("<!DOCTYPE html>") + element("html", tete, corps, lang="fr")
