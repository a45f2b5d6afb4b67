"""Refresh of the ``performances_sites`` materialized view (job ``refresh_performances``, hourly).

The view (sql/005) aggregates slaughters per site and month; ``refresh_performances_sites()``
refreshes it concurrently once populated, so readers are never blocked. The refresh and the run's
completion share one transaction: a failed refresh leaves the previous contents in place.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from euralis_lib import jobs
from euralis_lib.db import read_df

JOB = "refresh_performances"
PARAMS: dict[str, tuple[type, ...]] = {}


def run(engine: Engine, run_id: int | None = None, **params) -> dict:
    """Job ``refresh_performances``: refresh the view and record how many site-months it holds."""
    jobs.check_params(JOB, params, PARAMS)

    def write(conn: Connection, _rid: int, _output) -> dict:
        conn.execute(sa.text("SELECT refresh_performances_sites()"))
        nb, dernier = conn.execute(sa.text("SELECT count(*), max(mois) FROM performances_sites")).one()
        return {"lignes": int(nb), "dernier_mois": dernier.isoformat() if dernier else None}

    return jobs.execute(engine, JOB, params, run_id, lambda: None, write)


def performances_sites(engine: Engine) -> pd.DataFrame:
    """The contents of the view (site, month, lots, gaveurs, ducks, production, ITM, sigma, mortality)."""
    return read_df(engine, "SELECT * FROM performances_sites ORDER BY site_code, mois")
