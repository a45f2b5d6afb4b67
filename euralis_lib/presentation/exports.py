"""Table exports for supervisors: CSV (French Excel dialect), Excel and a paginated PDF.

The dashboards offer the three formats under every table; the PDF is built on demand (it is the
slow one) with reportlab's canvas. reportlab is imported on the first PDF only: every dashboard kernel
imports this module, few ever print.

Codes and names come from imported files, so a cell may start like a spreadsheet formula
(``=HYPERLINK(…)``, ``+1+1``, ``@SUM(…)``): the CSV prefixes such text with ``'`` (OWASP's advice
against formula injection) and the Excel file stores every string as a string, never as a formula.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

LIGNES_PAR_PAGE = 32
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


def excel_bytes(df: pd.DataFrame, contexte: Mapping[str, object] | None = None) -> bytes:
    """An .xlsx workbook: the table (French number and date formats, widths, frozen header, autofilter) and a
    « Filtres » sheet with ``contexte``; every text cell is stored as a string, so a code starting with ``=`` is
    shown as typed, never evaluated (:func:`euralis_lib.presentation.tables.excel`)."""
    from euralis_lib.presentation import tables

    return tables.excel(df, contexte)


def pdf_bytes(df: pd.DataFrame, titre: str, lignes_par_page: int = LIGNES_PAR_PAGE,
              contexte: Mapping[str, object] | None = None) -> bytes:
    """An A4 PDF of the table: header repeated on every page, numbers the French way, landscape when wide,
    ``contexte`` (filters, period, user) and the time of export under the title
    (:func:`euralis_lib.presentation.tables.pdf`).

    Not a formula-injection vector: cells are drawn as text by reportlab, nothing in a PDF evaluates them
    (no form field, action or script is written), so ``=HYPERLINK(…)`` prints as those characters.
    """
    from euralis_lib.presentation import tables

    return tables.pdf(df, titre, contexte, lignes_par_page)
