"""What supervisors read: French numbers, dates, Paris times, Oui/Non, « — », report links."""

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from euralis_lib.presentation import formatting


def test_numbers_the_french_way():
    assert formatting.nombre(1234567.891, 1) == "1\u202f234\u202f567,9"
    assert formatting.nombre(-1234) == "-1\u202f234"
    assert formatting.nombre(1234.5, 2, milliers=" ") == "1 234,50"
    assert formatting.nombre(None) == formatting.nombre(float("nan")) == formatting.nombre(float("inf")) == "—"


def test_times_are_shown_in_paris_whatever_they_come_in():
    ete = datetime(2026, 7, 1, 14, 27, tzinfo=UTC)
    hiver = pd.Timestamp("2026-11-25 16:27", tz="UTC")
    assert formatting.horodatage(ete) == "01/07/2026 16:27"  # UTC+2 in summer
    assert formatting.horodatage(hiver) == "25/11/2026 17:27"  # UTC+1 in winter
    assert formatting.horodatage(pd.Timestamp("2026-11-25 17:27")) == "25/11/2026 17:27"  # naive: already local


def test_days_months_booleans_and_missing_values():
    assert formatting.jour(date(2026, 3, 4)) == "04/03/2026"
    assert formatting.mois(date(2025, 11, 1)) == "nov. 2025" and formatting.mois(date(2026, 6, 1)) == "juin 2026"
    assert (formatting.booleen(True), formatting.booleen(np.False_), formatting.booleen(None)) == ("Oui", "Non", "—")
    assert formatting.valeur(pd.NA) == formatting.valeur(pd.NaT) == "—"


def test_a_table_never_shows_raw_python_values(tmp_path, monkeypatch):
    monkeypatch.setenv("EURALIS_REPORTS_DIR", str(tmp_path))
    rapport = tmp_path / "2026-11-25" / "finance-12.ipynb"
    df = pd.DataFrame({"place": [True, False], "date_abattage": [date(2026, 1, 2), None],
                       "debut": pd.to_datetime(["2026-11-25 16:27", "2026-07-01 08:00"]).tz_localize("UTC"),
                       "cout": [1234.5, float("nan")], "mois": pd.to_datetime(["2025-11-01", "2025-12-01"]),
                       "rapport_path": [str(rapport), "/srv/ailleurs/finance-3.ipynb"], "raison": [None, "capacité"]})
    t = formatting.tableau(df)
    assert list(t["place"]) == ["Oui", "Non"]
    assert list(t["date_abattage"]) == ["02/01/2026", "—"]
    assert list(t["debut"]) == ["25/11/2026 17:27", "01/07/2026 10:00"]
    assert list(t["cout"]) == ["1\u202f234,50", "—"] and list(t["raison"]) == ["—", "capacité"]
    assert list(t["mois"]) == ["nov. 2025", "déc. 2025"]
    assert t["rapport_path"][0] == '<a href="../rapports/2026-11-25/finance-12.html" target="_blank">rapport</a>'
    assert t["rapport_path"][1] == "—"  # outside the reports folder: no link, and never the path


@settings(max_examples=500, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10**18, 10**18)
                | st.sampled_from([2.675, 0.125, -0.0, -0.001, 0.005, 1e15, float("nan"), float("inf"), True, None,
                                   date(2026, 3, 4)])),
       st.integers(0, 3), st.sampled_from(["\u202f", " "]))
def test_format_column_writes_what_valeur_writes(valeurs, decimales, milliers):
    """The PDF export's fast path: the same texts as :func:`formatting.valeur`, half-even rounding included."""
    attendu = [formatting.valeur(v, decimales, milliers) for v in valeurs]
    assert formatting.format_column(valeurs, decimales, milliers) == attendu


def test_huge_numbers_format_instead_of_failing():
    """Babel rounds in the decimal context (28 digits): 1e26 with two decimals raised InvalidOperation."""
    assert formatting.nombre(1e26, 2) == "100" + "\u202f000" * 8 + ",00"
    assert formatting.valeur(-1.7e308).startswith("-170\u202f000\u202f000")
    assert formatting.valeur(5e-324) == "0,00"


def test_format_column_reads_a_series_like_its_values():
    serie = pd.Series([1234.5, float("nan"), -2.675])
    assert formatting.format_column(serie) == ["1\u202f234,50", "—", "-2,68"]
    assert formatting.format_column(pd.Series([1, 2345], dtype="int64"), milliers=" ") == ["1", "2 345"]
