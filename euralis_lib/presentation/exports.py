"""Table exports for supervisors: CSV (French Excel dialect), Excel and a paginated PDF.

The dashboards offer the three formats under every table; the PDF is built on demand (it is the
slow one) with matplotlib's PDF backend, without pyplot so it is safe in a served kernel. matplotlib is
imported on the first PDF only: every dashboard kernel imports this module, few ever print.

Codes and names come from imported files, so a cell may start like a spreadsheet formula
(``=HYPERLINK(…)``, ``+1+1``, ``@SUM(…)``): the CSV prefixes such text with ``'`` (OWASP's advice
against formula injection) and the Excel file stores every string as a string, never as a formula.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import pandas as pd

from euralis_lib.presentation import formatting

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LIGNES_PAR_PAGE = 32
_A4_PAYSAGE = (11.69, 8.27)
# PDF core fonts (Helvetica, Courier): metrics only, nothing to embed, ten times faster than TrueType.
_POLICES_PDF = {"pdf.use14corefonts": True, "font.family": "sans-serif", "font.weight": "medium",
                "font.sans-serif": ["Helvetica"], "font.monospace": ["Courier"]}
# What a spreadsheet runs as a formula when a text cell starts with it (OWASP CSV injection).
_DEBUTS_FORMULE = ("=", "+", "-", "@", "\t", "\r")


def neutraliser(valeur: object) -> object:
    """``valeur`` prefixed with ``'`` when it is text a spreadsheet would run as a formula (first character,
    after spaces, one of ``= + - @``, tab or carriage return); numbers and other text as they are."""
    if isinstance(valeur, str) and valeur.lstrip(" \u00a0\u202f")[:1] in _DEBUTS_FORMULE:
        return "'" + valeur
    return valeur


def csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV as French Excel opens it: ``;`` separator, decimal comma, UTF-8 with BOM, CRLF; text that would run
    as a formula is neutralised (:func:`neutraliser`), numbers (negative ones included) stay numbers."""
    sur = df.rename(columns=neutraliser)
    for i, colonne in enumerate(df.columns):
        if pd.api.types.is_object_dtype(df[colonne]) or pd.api.types.is_string_dtype(df[colonne]):
            sur.isetitem(i, df[colonne].map(neutraliser))
    # CRLF line ends (what Excel writes) also make the writer quote a field holding a lone carriage return,
    # which a spreadsheet would otherwise read as the start of a new row (whose first cell could be a formula).
    return sur.to_csv(index=False, sep=";", decimal=",", lineterminator="\r\n").encode("utf-8-sig")


def excel_bytes(df: pd.DataFrame) -> bytes:
    """An .xlsx workbook with the table on its first sheet; every text cell is stored as a string, so a code
    starting with ``=`` is shown as typed, never evaluated (openpyxl would otherwise write it as a formula)."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as classeur:
        df.to_excel(classeur, index=False)
        for feuille in classeur.sheets.values():
            for ligne in feuille.iter_rows():
                for cellule in ligne:
                    if isinstance(cellule.value, str):
                        cellule.data_type = "s"
    return buf.getvalue()


def _cellule(valeur: object) -> str:
    texte = formatting.valeur(valeur, milliers=" ")  # the PDF core fonts have no narrow no-break space
    return texte if len(texte) <= 60 else texte[:57] + "…"


def _lignes_texte(morceau: pd.DataFrame) -> list[str]:
    """The rows as fixed-width lines: a header, a rule, numbers right-aligned and text left-aligned."""
    entetes = [str(c) for c in morceau.columns]
    colonnes = [[_cellule(v) for v in morceau[c]] for c in morceau.columns]
    largeurs = [max([len(e), *(len(v) for v in col)]) for e, col in zip(entetes, colonnes, strict=True)]
    a_droite = [pd.api.types.is_numeric_dtype(morceau[c]) for c in morceau.columns]

    def ligne(valeurs: list[str]) -> str:
        return "  ".join(v.rjust(n) if d else v.ljust(n)
                         for v, n, d in zip(valeurs, largeurs, a_droite, strict=True)).rstrip()

    corps = [ligne([col[i] for col in colonnes]) for i in range(len(morceau))]
    return [ligne(entetes), "-" * (sum(largeurs) + 2 * (len(largeurs) - 1)), *corps]


def page_pdf(morceau: pd.DataFrame, titre: str, numero: int, nb_pages: int) -> Figure:
    """One landscape A4 page: the title, the page number and the rows of ``morceau`` under their headers.

    The table is set as fixed-width text (one text object per page, not one per cell); drawn inside
    :func:`pdf_bytes` it uses the PDF core Courier font, which needs no glyph embedding. Both keep a
    100-page export to a few seconds.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=_A4_PAYSAGE)
    fig.text(0.03, 0.95, titre, fontsize=13, weight="bold", parse_math=False)
    fig.text(0.97, 0.95, f"page {numero}/{nb_pages}", fontsize=9, ha="right")
    if morceau.empty:
        fig.text(0.5, 0.5, "Aucune ligne", ha="center", fontsize=12)
        return fig
    lignes = _lignes_texte(morceau)
    largeur_pt = 0.94 * _A4_PAYSAGE[0] * 72
    taille = max(3.0, min(9.0, largeur_pt / (0.61 * max(len(x) for x in lignes))))
    fig.text(0.03, 0.90, "\n".join(lignes), family="monospace", fontsize=taille, va="top",
             linespacing=1.45, parse_math=False)
    return fig


def pdf_bytes(df: pd.DataFrame, titre: str, lignes_par_page: int = LIGNES_PAR_PAGE) -> bytes:
    """A landscape A4 PDF of the table, ``lignes_par_page`` rows per page, header repeated, pages numbered.

    Not a formula-injection vector: cells are drawn as text by matplotlib, nothing in a PDF evaluates them
    (no form field, action or script is written), so ``=HYPERLINK(…)`` prints as those characters.
    """
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    nb_pages = max(1, math.ceil(len(df) / lignes_par_page))
    buf = io.BytesIO()
    with (matplotlib.rc_context(_POLICES_PDF),
          PdfPages(buf, metadata={"Title": titre, "Creator": "Euralis Workbench"}) as pdf):
        for numero in range(nb_pages):
            morceau = df.iloc[numero * lignes_par_page:(numero + 1) * lignes_par_page]
            pdf.savefig(page_pdf(morceau, titre, numero + 1, nb_pages))
    return buf.getvalue()
