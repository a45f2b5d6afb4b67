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
