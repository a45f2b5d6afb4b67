"""Table exports for supervisors: CSV (French Excel dialect), Excel and a paginated PDF.

The dashboards offer the three formats under every table; the PDF is built on demand (it is the
slow one) with matplotlib's PDF backend, without pyplot so it is safe in a served kernel. matplotlib is
imported on the first PDF only: every dashboard kernel imports this module, few ever print.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import pandas as pd

from euralis_lib import formatting

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LIGNES_PAR_PAGE = 32
_A4_PAYSAGE = (11.69, 8.27)
# PDF core fonts (Helvetica, Courier): metrics only, nothing to embed, ten times faster than TrueType.
_POLICES_PDF = {"pdf.use14corefonts": True, "font.family": "sans-serif", "font.weight": "medium",
                "font.sans-serif": ["Helvetica"], "font.monospace": ["Courier"]}


def csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV as French Excel opens it: ``;`` separator, decimal comma, UTF-8 with BOM."""
    return df.to_csv(index=False, sep=";", decimal=",").encode("utf-8-sig")


def excel_bytes(df: pd.DataFrame) -> bytes:
    """An .xlsx workbook with the table on its first sheet."""
    buf = io.BytesIO()
    df.to_excel(buf, index=False)
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
    fig.text(0.03, 0.95, titre, fontsize=13, weight="bold")
    fig.text(0.97, 0.95, f"page {numero}/{nb_pages}", fontsize=9, ha="right")
    if morceau.empty:
        fig.text(0.5, 0.5, "Aucune ligne", ha="center", fontsize=12)
        return fig
    lignes = _lignes_texte(morceau)
    largeur_pt = 0.94 * _A4_PAYSAGE[0] * 72
    taille = max(3.0, min(9.0, largeur_pt / (0.61 * max(len(x) for x in lignes))))
    fig.text(0.03, 0.90, "\n".join(lignes), family="monospace", fontsize=taille, va="top",
             linespacing=1.45)
    return fig


def pdf_bytes(df: pd.DataFrame, titre: str, lignes_par_page: int = LIGNES_PAR_PAGE) -> bytes:
    """A landscape A4 PDF of the table, ``lignes_par_page`` rows per page, header repeated, pages numbered."""
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
