"""Finding 6 of issue 21 (formula injection in exports), replayed on the three export formats.

Text cells that a spreadsheet would run (``=HYPERLINK(…)``, ``+1+1``, ``-2+3``, ``@SUM(A1)``, a leading
tab) are written to CSV, Excel and PDF and read back: the CSV cells start with ``'``, the Excel cells are
strings (never formulas) holding exactly the text, the PDF prints them, and numbers — negative ones
included — stay numbers in CSV and Excel. The control shows the Excel check catching what openpyxl
writes by default.
"""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pandas as pd
import pytest

from euralis_lib.presentation import exports

ATTAQUES = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "  =1+1",
            "=cmd|' /C calc'!A0"]
# Text left as it is: it cannot start a formula (a carriage return inside a cell is quoted, not a new row).
SURS = ["LL-G001", "Dupré Jean", "2+3", "a=b", "#N/A", "$\\frac{1}{0}$", "Nom\r=1+1"]


def _table() -> pd.DataFrame:
    n = len(ATTAQUES) + len(SURS)
    return pd.DataFrame({"Code": ATTAQUES + SURS, "Canards": [-(i + 1) if i % 2 else i + 1 for i in range(n)],
                         "Marge (€)": [-1234.5 + i for i in range(n)], "=Entête": ["x"] * n})


def _cellules_csv(contenu: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(contenu.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_csv_prefixes_text_a_spreadsheet_would_run_and_keeps_numbers():
    df = _table()
    lignes = _cellules_csv(exports.csv_bytes(df))
    assert lignes[0] == ["Code", "Canards", "Marge (€)", "'=Entête"]  # headers too
    codes = [ligne[0] for ligne in lignes[1:]]
    assert codes == ["'" + a for a in ATTAQUES] + SURS  # the whole text kept after the quote, safe text untouched
    assert len(lignes) == len(df) + 1  # a carriage return inside a cell does not start a row
    relu = pd.read_csv(io.BytesIO(exports.csv_bytes(df)), sep=";", decimal=",", encoding="utf-8-sig")
    assert pd.api.types.is_integer_dtype(relu["Canards"]) and pd.api.types.is_float_dtype(relu["Marge (€)"])
    assert relu["Canards"].tolist() == df["Canards"].tolist() and (relu["Canards"] < 0).any()
    assert relu["Marge (€)"].tolist() == pytest.approx(df["Marge (€)"].tolist())


def test_csv_neutralises_one_cell_at_a_time():
    assert exports.neutraliser("=1+1") == "'=1+1" and exports.neutraliser(" \u00a0@x") == "' \u00a0@x"
    assert exports.neutraliser(-3) == -3 and exports.neutraliser(-2.5) == -2.5 and exports.neutraliser(None) is None
    assert exports.neutraliser("LL-G001") == "LL-G001" and exports.neutraliser("") == ""


def _cellules_xlsx(contenu: bytes) -> list[openpyxl.cell.Cell]:
    feuille = openpyxl.load_workbook(io.BytesIO(contenu)).active
    return [c for ligne in feuille.iter_rows() for c in ligne]


def test_excel_writes_every_text_as_a_string_never_a_formula():
    df = _table()
    contenu = exports.excel_bytes(df)
    cellules = _cellules_xlsx(contenu)
    assert [c.coordinate for c in cellules if c.data_type == "f"] == []
    with zipfile.ZipFile(io.BytesIO(contenu)) as xlsx:
        assert b"<f>" not in xlsx.read("xl/worksheets/sheet1.xml")  # no formula element in the file itself
    relu = pd.read_excel(io.BytesIO(contenu), keep_default_na=False)  # "#N/A" is a code here, not a gap
    # exact text (XML reads a carriage return as a line feed)
    assert relu["Code"].tolist() == [t.replace("\r", "\n") for t in ATTAQUES + SURS]
    assert list(relu.columns)[-1] == "=Entête"
    assert all(c.data_type == "s" for c in cellules if isinstance(c.value, str))
    assert relu["Canards"].tolist() == df["Canards"].tolist() and pd.api.types.is_integer_dtype(relu["Canards"])
    assert relu["Marge (€)"].tolist() == pytest.approx(df["Marge (€)"].tolist())
    nombres = [c for c in cellules if c.column > 1 and c.row > 1 and c.column < 4]
    assert nombres and all(c.data_type == "n" for c in nombres) and any(c.value < 0 for c in nombres)


def test_control_openpyxl_alone_writes_these_strings_as_formulas():
    """What the Excel export did before (``df.to_excel``): the check above would have failed."""
    buf = io.BytesIO()
    _table().to_excel(buf, index=False)
    formules = [c.value for c in _cellules_xlsx(buf.getvalue()) if c.data_type == "f"]
    assert '=HYPERLINK("http://evil.example","x")' in formules and "=Entête" in formules


def test_pdf_prints_the_text_and_carries_nothing_that_runs():
    pdf = exports.pdf_bytes(_table(), '=HYPERLINK("http://evil.example","x")')
    assert pdf.startswith(b"%PDF")
    for action in (b"/JavaScript", b"/JS", b"/OpenAction", b"/AA", b"/Launch", b"/URI", b"/AcroForm"):
        assert action not in pdf, action


def test_pdf_prints_the_hyperlink_code_as_text_and_excel_keeps_it_a_string_in_the_filters_sheet_too():
    from pypdf import PdfReader

    code = ATTAQUES[0]
    pdf = exports.pdf_bytes(_table(), "Export", contexte={"Gaveur": code})
    texte = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert texte.count(code) >= 2 and b"/URI" not in pdf  # the cell and the context line, printed, no link
    classeur = openpyxl.load_workbook(io.BytesIO(exports.excel_bytes(_table(), {"Gaveur": code})))
    cellules = [c for f in classeur.worksheets for ligne in f.iter_rows() for c in ligne]
    assert [c.coordinate for c in cellules if c.data_type == "f"] == []
    assert classeur["Filtres"]["B2"].value == code and classeur["Filtres"]["B2"].data_type == "s"
