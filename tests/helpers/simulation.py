"""The simulated data the suite shares."""

from datetime import date

import pandas as pd

SIM_END = date(2026, 6, 30)


def scorer_rows(slice_rows: pd.DataFrame, modele: str) -> pd.DataFrame:
    """The rows of one scorer of the validation slice (fixture ``slice_rows``); fails with the scorer's error when
    it broke, so that no test judges an empty table."""
    rows = slice_rows[slice_rows["modele"] == modele]
    assert not rows.empty and "erreur" not in set(rows["metrique"]), \
        f"the {modele} scorer gave no rows: {slice_rows[slice_rows['metrique'] == 'erreur']['detail'].tolist()}"
    return rows
