"""Job ``refresh_performances`` (hourly): refresh of the ``performances_sites`` materialized view.

The view (sql/005) aggregates slaughters per site and month; ``refresh_performances_sites()``
refreshes it concurrently once populated, so readers are never blocked. The refresh and the run's
completion share one transaction: a failed refresh leaves the previous contents in place.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from euralis_lib.jobs import base

JOB = "refresh_performances"


def run(engine: Engine, *, run_id: int | None) -> dict:
    """Refresh the view and record how many site-months it holds."""

    def write(conn: Connection, _rid: int, _output: None) -> dict:
        conn.execute(sa.text("SELECT refresh_performances_sites()"))
        nb, dernier = conn.execute(sa.text("SELECT count(*), max(mois) FROM performances_sites")).one()
        return {"lignes": int(nb), "dernier_mois": dernier.isoformat() if dernier else None}

    return base.execute(engine, JOB, {}, run_id, lambda: None, write)
