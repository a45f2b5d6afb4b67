"""Tables a supervisor can print or open in a spreadsheet: the Excel and PDF exports behind every dashboard table.

Both carry the export's context (filters, period, user — whatever the page gives — and the time of export),
the page's French headers and numbers formatted the French way.

- Excel (:func:`excel`): the table on a first sheet with number and date formats, column widths, a frozen
  header row and an autofilter, then a « Filtres » sheet. Written row by row (openpyxl's write-only mode),
  so memory stays flat in the row count. Every text cell is stored as a string, never as a formula.
- PDF (:func:`pdf`): a real table — one text object per column and page (fast: no object per cell), the
  header row repeated on every page, numbers right-aligned, landscape when the table is wide, the context
  line under the title, pages numbered. matplotlib's PDF backend with the core fonts (nothing embedded).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from datetime import date, datetime

import numpy as np
import pandas as pd

from euralis_lib.presentation import formatting

LIGNES_PAR_PAGE = 32
_A4 = (8.27, 11.69)
_POLICES_PDF = {"pdf.use14corefonts": True, "font.family": "sans-serif", "font.weight": "medium",
                "font.sans-serif": ["Helvetica"]}
_LARGEUR_MAX = 48  # characters of a cell shown in the PDF (longer text ends with « … »)
_CHASSE = 0.56  # mean Helvetica character width, in ems
_PAYSAGE_DES = 110  # characters per row from which the page is landscape


def contexte_complet(contexte: Mapping[str, object] | None) -> dict[str, str]:
    """The export's context as French labels and texts, with the time of export added."""
    lignes = {str(k): str(v) for k, v in (contexte or {}).items() if not formatting.manquant(v)}
    lignes.setdefault("Exporté le", formatting.horodatage(pd.Timestamp.now(tz=formatting.FUSEAU)))
    return lignes


# --- Excel -------------------------------------------------------------------------------------------------

def _format_excel(serie: pd.Series) -> str | None:
    if pd.api.types.is_bool_dtype(serie):
        return None
    if pd.api.types.is_integer_dtype(serie):
        return "#,##0"
    if pd.api.types.is_float_dtype(serie):
        return "#,##0.00"
    if pd.api.types.is_datetime64_any_dtype(serie):
        valeurs = serie.dropna()
        heures = bool(len(valeurs)) and bool((valeurs != valeurs.dt.normalize()).any())
        return "DD/MM/YYYY HH:MM" if heures else "DD/MM/YYYY"
    if len(serie.dropna()) and all(isinstance(v, date) for v in serie.dropna().head(50)):
        return "DD/MM/YYYY"
    return None


def _valeur_excel(v: object) -> object:
    if formatting.manquant(v):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, pd.Timestamp | datetime):
        ts = pd.Timestamp(v)
        return (formatting.heure_locale(ts).tz_localize(None) if ts.tzinfo else ts).to_pydatetime()
    return v


def _largeur(serie: pd.Series, entete: str) -> float:
    echantillon = serie.head(500)
    longueurs = [len(formatting.valeur(v)) for v in echantillon]
    return min(60, max([len(entete), *longueurs]) + 2)


def excel(df: pd.DataFrame, contexte: Mapping[str, object] | None = None) -> bytes:
    """The table as an .xlsx workbook (see module docstring)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    classeur = Workbook(write_only=True)
    feuille = classeur.create_sheet("Tableau")
    gras, fond = Font(bold=True), PatternFill("solid", fgColor="F1E6E6")
    formats = [_format_excel(df[c]) for c in df.columns]
    for i, c in enumerate(df.columns, 1):
        feuille.column_dimensions[get_column_letter(i)].width = _largeur(df[c], str(c))
    feuille.freeze_panes = "A2"
    if len(df.columns):
        feuille.auto_filter.ref = f"A1:{get_column_letter(len(df.columns))}{len(df) + 1}"

    def cellule(valeur: object, format_: str | None = None, entete: bool = False) -> WriteOnlyCell:
        c = WriteOnlyCell(feuille, value=valeur)
        if isinstance(valeur, str):
            c.data_type = "s"  # shown as typed, never run as a formula
        if format_:
            c.number_format = format_
        if entete:
            c.font, c.fill = gras, fond
        return c

    feuille.append([cellule(str(c), entete=True) for c in df.columns])
    for ligne in df.itertuples(index=False, name=None):
        feuille.append([cellule(_valeur_excel(v), f) for v, f in zip(ligne, formats, strict=True)])
    filtres = classeur.create_sheet("Filtres")
    filtres.column_dimensions["A"].width, filtres.column_dimensions["B"].width = 22, 70
    filtres.append([cellule("Filtre", entete=True), cellule("Valeur", entete=True)])
    for cle, valeur in contexte_complet(contexte).items():
        filtres.append([cellule(cle), cellule(valeur)])
    buf = io.BytesIO()
    classeur.save(buf)
    return buf.getvalue()


# --- PDF ---------------------------------------------------------------------------------------------------

def _texte_pdf(v: object) -> str:
    texte = formatting.valeur(v, milliers=" ")  # the core fonts have no narrow no-break space
    return texte if len(texte) <= _LARGEUR_MAX else texte[:_LARGEUR_MAX - 1] + "…"


def _numerique(serie: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(serie) and not pd.api.types.is_bool_dtype(serie)


def pdf(df: pd.DataFrame, titre: str, contexte: Mapping[str, object] | None = None,
        lignes_par_page: int = LIGNES_PAR_PAGE) -> bytes:
    """The table as an A4 PDF (see module docstring), ``lignes_par_page`` rows per page."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    entetes = [str(c) for c in df.columns]
    colonnes = [[_texte_pdf(v) for v in df[c]] for c in df.columns]
    caracteres = [max([len(e), *(len(v) for v in col)]) + 2 for e, col in zip(entetes, colonnes, strict=True)]
    a_droite = [_numerique(df[c]) for c in df.columns]
    paysage = sum(caracteres) > _PAYSAGE_DES
    largeur_in, hauteur_in = (_A4[1], _A4[0]) if paysage else _A4
    marge = 0.5
    utile_pt = (largeur_in - 2 * marge) * 72
    taille = max(4.0, min(9.0, utile_pt / (_CHASSE * max(sum(caracteres), 1))))
    bords = np.concatenate([[0], np.cumsum(caracteres)]) / max(sum(caracteres), 1)
    x0, x1 = marge / largeur_in, 1 - marge / largeur_in
    xs = x0 + bords * (x1 - x0)
    espace = (x1 - x0) / max(sum(caracteres), 1)  # one character between columns
    pas = min(taille * 1.9 / 72 / hauteur_in, 0.82 / (lignes_par_page + 1))
    ligne_contexte = " · ".join(f"{k} : {v}" for k, v in contexte_complet(contexte).items())
    nb_pages = max(1, math.ceil(len(df) / lignes_par_page))
    buf = io.BytesIO()
    with (matplotlib.rc_context(_POLICES_PDF),
          PdfPages(buf, metadata={"Title": titre, "Creator": "Euralis Workbench"}) as document):
        for numero in range(nb_pages):
            debut, fin = numero * lignes_par_page, min(len(df), (numero + 1) * lignes_par_page)
            fig = Figure(figsize=(largeur_in, hauteur_in))
            fig.text(x0, 1 - 0.45 / hauteur_in, titre, fontsize=13, weight="bold", parse_math=False, va="top")
            fig.text(x0, 1 - 0.75 / hauteur_in, ligne_contexte, fontsize=7.5, color="#555", parse_math=False,
                     va="top", wrap=True)
            fig.text(x1, 0.35 / hauteur_in, f"page {numero + 1}/{nb_pages}", fontsize=8, ha="right", color="#555")
            haut = 1 - 1.15 / hauteur_in
            if df.empty:
                fig.text(0.5, 0.5, "Aucune ligne", ha="center", fontsize=12)
            else:
                n = fin - debut  # one text object per column: its rows are not separated by rules
                fig.patches.append(Rectangle((x0, haut - pas), x1 - x0, pas, color="#f1e6e6",
                                             transform=fig.transFigure, figure=fig))
                for i, (entete, colonne, droite) in enumerate(zip(entetes, colonnes, a_droite, strict=True)):
                    x = xs[i + 1] - espace if droite else xs[i] + espace
                    options = {"ha": "right" if droite else "left", "va": "top", "fontsize": taille,
                               "parse_math": False, "linespacing": 1.0}
                    fig.text(x, haut - 0.2 * pas, entete, weight="bold", **options)
                    fig.text(x, haut - 1.2 * pas, "\n".join(colonne[debut:fin]),
                             **{**options, "linespacing": pas * hauteur_in * 72 / (taille * 1.2)})
                fig.lines.append(Line2D([x0, x1], [haut - pas * (n + 1.3)] * 2, transform=fig.transFigure,
                                        figure=fig, color="#b99", linewidth=0.6))
            document.savefig(fig)
    return buf.getvalue()
