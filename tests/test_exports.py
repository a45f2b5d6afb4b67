"""Table exports offered under every dashboard table: CSV, Excel and PDF read back."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

from euralis_lib.presentation import exports


def _table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"Site": ["LL", "LS", "MT"] * (n // 3) + ["LL"] * (n % 3),
                         "ITM": np.linspace(3.5, 4.5, n),
                         "Fin": pd.date_range("2026-01-01", periods=n, freq="D"),
                         "Explication": ["sigma élevé (+3,1 écarts-types)"] * n})


def test_csv_and_excel_read_back_to_the_same_table():
    df = _table(10)
    csv = exports.csv_bytes(df)
    assert csv.startswith(b"\xef\xbb\xbf")  # BOM, so Excel detects UTF-8
    relu = pd.read_csv(io.BytesIO(csv), sep=";", decimal=",", encoding="utf-8-sig", parse_dates=["Fin"])
    pd.testing.assert_frame_equal(relu, df)
    pd.testing.assert_frame_equal(pd.read_excel(io.BytesIO(exports.excel_bytes(df))), df)


def test_pdf_has_one_page_per_block_of_rows_and_the_title():
    pdf = exports.pdf_bytes(_table(70), "Lots anormaux", lignes_par_page=32)
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type /Page\b", pdf)) == 3
    assert b"Lots anormaux" in pdf  # document title in the metadata


def test_pdf_of_an_empty_table_is_one_page_saying_so():
    pdf = exports.pdf_bytes(_table(0), "Vide")
    assert len(re.findall(rb"/Type /Page\b", pdf)) == 1


def _texte(pdf: bytes) -> list[str]:
    from pypdf import PdfReader

    return [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]


def test_pdf_is_a_table_with_its_header_on_every_page_its_context_and_french_numbers():
    df = _table(70).assign(**{"Production (kg)": np.linspace(1000, 123456.7, 70)})
    contexte = {"Sites": "LL, MT", "Période": "du 01/06/2026 au 30/06/2026", "Utilisateur": "adm (admin)"}
    pages = _texte(exports.pdf_bytes(df, "Lots anormaux", lignes_par_page=32, contexte=contexte))
    assert len(pages) == 3
    for numero, texte in enumerate(pages, 1):
        assert "Lots anormaux" in texte and all(e in texte for e in df.columns), numero  # header repeated
        assert "Sites : LL, MT" in texte and "Utilisateur : adm (admin)" in texte and "Exporté le : " in texte
        assert f"page {numero}/3" in texte
    assert "123 456,70" in pages[2] and "01/01/2026" in pages[0] and "3,50" in pages[0]  # French formats


def test_pdf_turns_landscape_only_when_the_table_is_wide():
    from pypdf import PdfReader

    etroit = PdfReader(io.BytesIO(exports.pdf_bytes(_table(5)[["Site", "ITM"]], "Étroit"))).pages[0].mediabox
    large = pd.concat([_table(5)] * 3, axis=1, keys=range(3))
    large.columns = [f"{c} {i}" for i, c in large.columns]
    paysage = PdfReader(io.BytesIO(exports.pdf_bytes(large, "Large"))).pages[0].mediabox
    assert etroit.height > etroit.width and paysage.width > paysage.height


def test_excel_has_formats_widths_a_frozen_filtered_header_and_a_filters_sheet():
    import openpyxl

    df = _table(10).assign(Canards=range(10))
    classeur = openpyxl.load_workbook(io.BytesIO(exports.excel_bytes(df, {"Sites": "LL, MT"})))
    assert classeur.sheetnames == ["Tableau", "Filtres"]
    feuille = classeur["Tableau"]
    assert [c.value for c in feuille[1]] == list(df.columns) and all(c.font.bold for c in feuille[1])
    assert feuille.freeze_panes == "A2" and feuille.auto_filter.ref == "A1:E11"
    assert feuille["B2"].number_format == "#,##0.00" and feuille["C2"].number_format == "DD/MM/YYYY"
    assert feuille["E2"].number_format == "#,##0"
    assert feuille.column_dimensions["D"].width > feuille.column_dimensions["A"].width >= 6
    filtres = {ligne[0].value: ligne[1].value for ligne in classeur["Filtres"].iter_rows(min_row=2)}
    assert filtres["Sites"] == "LL, MT" and re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", filtres["Exporté le"])


def test_pdf_of_a_wide_french_table_is_landscape_cuts_long_cells_and_never_fails_on_a_glyph():
    from pypdf import PdfReader

    n = 3001
    longue = "Remarque très longue « à vérifier » par le superviseur, coût 12 € et œufs — " * 3
    df = pd.DataFrame({f"Élément {i}": [f"é{i} « œ » €"] * n for i in range(8)}).assign(
        Note=longue, Gaveur="Łukasz Dvořák\u202f中\t😀", Marge=np.arange(1, n + 1) * -1.5, Rang=np.arange(1, n + 1))
    contenu = exports.pdf_bytes(df, "Coûts « été » — œufs €", lignes_par_page=100,
                                contexte={"Gaveur": "Dvořák\u202f中"})
    lecteur = PdfReader(io.BytesIO(contenu))
    assert len(lecteur.pages) == 31
    boite = lecteur.pages[0].mediabox
    assert boite.width > boite.height
    pages = [p.extract_text() for p in lecteur.pages]
    assert "Coûts « été » — œufs €" in pages[0] and "Gaveur : Dvorák ?" in pages[0]
    premiere = pages[0].splitlines()
    entete = next(i for i, ligne in enumerate(premiere) if ligne.startswith("Élément 0"))
    assert premiere[entete].split()[-3:] == ["Gaveur", "Marge", "Rang"]  # the header row, in reading order
    assert premiere[entete + 1].startswith("é0 « œ » €") and premiere[entete + 1].endswith(" -1,50 1")
    assert longue[:47] + "…" in pages[0] and longue[:49] not in pages[0]  # a cell cut at 48 characters
    assert "Lukasz Dvorák ? ?" in pages[0]  # look-alikes, else « ? », for what the core fonts lack (\t: a space)
    lignes = [ligne for texte in pages for ligne in texte.splitlines() if ligne.startswith("é0 « œ » €")]
    assert len(lignes) == n and lignes[-1].endswith(" -4 501,50 3 001")  # every row, once, in order
    assert [ligne.rsplit(" ", 1)[-1] for ligne in lignes[:999]] == [str(i) for i in range(1, 1000)]
