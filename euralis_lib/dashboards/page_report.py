"""« Rapport PDF de cette page »: what a dashboard page shows now, printed as the weekly report is.

A page declares nothing of its own: the helpers every page is built with (:mod:`.common`'s KPI cards, tables,
titles, captions and messages) mark their widget with what it puts in a printed report (:func:`marquer`, the
HTML they already built), and the page's plotly figures are read as they are now (zoom, chosen horizon or
drill-down included). :func:`sections` walks the visible widgets in order; :func:`html` puts the page's
title, filters, user and time on top (:func:`euralis_lib.reporting.page.document`), and :func:`pdf` prints it
with the weekly report's Chromium (:func:`euralis_lib.reporting.pdf.imprimer`, every chart drawn as vector SVG).

Nothing is read again from the database: the report holds only what the page already read with its user's
engine (row-level security applied). Everything goes through :mod:`euralis_lib.presentation.markup`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TypeVar

import ipywidgets as w
import plotly.graph_objects as go

from euralis_lib.presentation import formatting
from euralis_lib.presentation.markup import Markup, element, join, literal, safe_filename
from euralis_lib.reporting import page, pdf

LIBELLE = "Rapport PDF de cette page"
# The attribute a widget carries with its HTML for the printed report (set by :func:`marquer`).
ATTRIBUT = "euralis_rapport"
# The dashboard's classes (KPI cards, tables, messages, captions) as they print.
STYLE = page.STYLE + literal("""
.ligne { display: flex; flex-wrap: wrap; gap: 2mm; }
.euralis-kpi { border: 1px solid #d0d7de; border-radius: 2mm; padding: 2mm 4mm; min-width: 40mm; background: #f8fafc; }
.euralis-kpi .label { font-size: 8.5pt; color: #555; } .euralis-kpi .valeur { font-size: 15pt; font-weight: 700; }
.euralis-kpi .hausse { color: #1a7f37; } .euralis-kpi .baisse { color: #b42318; } .euralis-kpi .stable { color: #777; }
table.euralis td.nombre { text-align: right; font-variant-numeric: tabular-nums; }
.euralis-source { font-size: 8pt; color: #666; font-style: italic; margin: 1mm 0; }
.euralis-message { padding: 2mm 3mm; border-radius: 1.5mm; margin: 1.5mm 0; background: #eef4fb; }
.euralis-message.erreur { background: #fdecea; color: #8a1c1c; }
.euralis-message.avertissement { background: #fff8e1; color: #7a5a00; }
table.contexte { width: auto; margin-bottom: 4mm; } table.contexte th { background: none; border: none; }
p.choix { margin: 1mm 0; color: #333; }
""")
# Controls whose current choice shapes what the page shows (a chart's horizon, the gaveur compared…).
_CHOIX = (w.Dropdown, w.ToggleButtons, w.RadioButtons, w.Select)

W = TypeVar("W", bound=w.Widget)


def marquer(widget: W, contenu: Markup) -> W:
    """``widget``, carrying ``contenu`` (escaped HTML) as what it shows in the page's printed report."""
    setattr(widget, ATTRIBUT, contenu)
    return widget


def _visible(widget: w.Widget) -> bool:
    disposition = getattr(widget, "layout", None)  # a figure's ``layout`` is plotly's
    return not isinstance(disposition, w.Layout) or disposition.display != "none"


def sections(widget: w.Widget) -> list[Markup]:
    """What ``widget`` shows now, in order, as report HTML: marked widgets' HTML, each plotly figure as it is
    now (a chart the PDF draws), the current choice of a page's own selectors; hidden widgets, buttons,
    download links and unmarked HTML left out."""
    if not _visible(widget):
        return []
    if isinstance(widget, go.FigureWidget):
        return [page.figure(go.Figure(widget))]
    marque = getattr(widget, ATTRIBUT, None)
    if marque is not None:
        return [marque]
    if isinstance(widget, _CHOIX) and widget.description and widget.label is not None:
        return [element("p", f"{widget.description} : {widget.label}", class_="choix")]
    if isinstance(widget, w.Text) and widget.description and widget.value.strip():
        return [element("p", f"{widget.description} : « {widget.value.strip()} »", class_="choix")]
    if isinstance(widget, w.Box):
        enfants = [s for c in widget.children for s in sections(c)]
        if isinstance(widget, w.HBox) and len(enfants) > 1:
            return [element("div", join(enfants), class_="ligne")]
        return enfants
    return []


def html(titre: str, contexte: Mapping[str, str], widget: w.Widget, genere_le: datetime) -> Markup:
    """The printable page: ``titre``, the ``contexte`` lines (filters, user) and the time, then what ``widget``
    shows (:func:`sections`)."""
    lignes = {**contexte, "Généré le": formatting.horodatage(genere_le)}
    tete = element("table", element("tbody", join(
        element("tr", element("th", cle), element("td", valeur)) for cle, valeur in lignes.items())),
        class_="contexte")
    contenu = sections(widget) or [element("p", "Cette page n'affiche rien à imprimer.", class_="vide")]
    return page.document(titre, tete + join(contenu), STYLE,
                         sous_titre="Euralis — rapport de la page telle qu'affichée, avec ses filtres.")


def nom_fichier(slug: str, genere_le: datetime) -> str:
    """``<slug>-<AAAA-MM-JJ>-<HHMM>.pdf``."""
    return f"{safe_filename(slug)}-{genere_le:%Y-%m-%d-%H%M}.pdf"


def pdf_bytes(titre: str, contexte: Mapping[str, str], widget: w.Widget, genere_le: datetime) -> bytes:
    """The page's report printed (:func:`html` through :func:`euralis_lib.reporting.pdf.imprimer`)."""
    return pdf.imprimer([html(titre, contexte, widget, genere_le)])[0]
