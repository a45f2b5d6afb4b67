"""Table exports for supervisors: CSV (French Excel dialect), Excel and a paginated PDF.

The dashboards offer the three formats under every table; the PDF is built on demand (it is the
slow one) with matplotlib's PDF backend, without pyplot so it is safe in a served kernel.
"""

from __future__ import annotations

import io
import math
from datetime import datetime

import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

LIGNES_PAR_PAGE = 32
_A4_PAYSAGE = (11.69, 8.27)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV as French Excel opens it: ``;`` separator, decimal comma, UTF-8 with BOM."""
    return df.to_csv(index=False, sep=";", decimal=",").encode("utf-8-sig")


def excel_bytes(df: pd.DataFrame) -> bytes:
    """An .xlsx workbook with the table on its first sheet."""
    buf = io.BytesIO()
    df.to_excel(buf, index=False)
    return buf.getvalue()


def _cellule(valeur: object) -> str:
    if valeur is None or (isinstance(valeur, float) and math.isnan(valeur)):
        return ""
    if isinstance(valeur, float):
        return f"{valeur:,.2f}".replace(",", " ").replace(".", ",")
    if isinstance(valeur, pd.Timestamp | datetime):
        return valeur.strftime("%d/%m/%Y %H:%M") if (valeur.hour or valeur.minute) else valeur.strftime("%d/%m/%Y")
    texte = str(valeur)
    return texte if len(texte) <= 60 else texte[:57] + "…"


def page_pdf(morceau: pd.DataFrame, titre: str, numero: int, nb_pages: int) -> Figure:
    """One landscape A4 page: the title, the page number and the rows of ``morceau`` under their headers."""
    fig = Figure(figsize=_A4_PAYSAGE)
    ax = fig.add_axes((0.03, 0.05, 0.94, 0.85))
    ax.axis("off")
    fig.text(0.03, 0.95, titre, fontsize=13, weight="bold")
    fig.text(0.97, 0.95, f"page {numero}/{nb_pages}", fontsize=9, ha="right")
    if morceau.empty:
        ax.text(0.5, 0.5, "Aucune ligne", ha="center", fontsize=12)
        return fig
    entetes = [str(c) for c in morceau.columns]
    cellules = [[_cellule(v) for v in ligne] for ligne in morceau.itertuples(index=False)]
    table = ax.table(cellText=cellules, colLabels=entetes, loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7 if len(entetes) > 8 else 8)
    table.auto_set_column_width(list(range(len(entetes))))
    return fig


def pdf_bytes(df: pd.DataFrame, titre: str, lignes_par_page: int = LIGNES_PAR_PAGE) -> bytes:
    """A landscape A4 PDF of the table, ``lignes_par_page`` rows per page, header repeated, pages numbered."""
    nb_pages = max(1, math.ceil(len(df) / lignes_par_page))
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": titre, "Creator": "Euralis Workbench"}) as pdf:
        for numero in range(nb_pages):
            morceau = df.iloc[numero * lignes_par_page:(numero + 1) * lignes_par_page]
            pdf.savefig(page_pdf(morceau, titre, numero + 1, nb_pages))
    return buf.getvalue()
