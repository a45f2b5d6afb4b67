"""Job ``finance``: snapshot of revenue, costs and margins per site / gaveur and month.

The computation lives once, in :func:`euralis_lib.database.queries.finance_indicateurs` (SQL on the data
and the prices of ``prix_parametres``); this job stores its result with the run that produced it,
so dashboards show figures traceable to a dated run.
"""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy.engine import Connection, Engine

from euralis_lib.database import queries
from euralis_lib.database.db import copy_dataframe
from euralis_lib.jobs import base

JOB = "finance"
DETAILS = ("revenu_foie_eur", "revenu_carcasse_eur", "cout_canards_eur", "cout_mais_eur", "cout_main_oeuvre_eur",
           "cout_energie_eur", "cout_transport_eur")


def _rows(df: pd.DataFrame, niveau: str, run_id: int) -> pd.DataFrame:
    out = pd.DataFrame({
        "run_id": run_id, "niveau": niveau, "site_code": df["site_code"],
        "gaveur_id": df["gaveur_id"].astype("Int64") if "gaveur_id" in df else pd.array([None] * len(df), "Int64"),
        "mois": df["mois"].dt.date, "nb_lots": df["nb_lots"], "nb_canards": df["nb_canards"],
        "revenu_eur": df["revenu_eur"], "couts_eur": df["couts_eur"], "marge_eur": df["marge_eur"],
        "details": [json.dumps({k: round(float(v), 2) for k, v in row.items()})
                    for row in df[list(DETAILS)].to_dict("records")]})
    return out


def run(engine: Engine, *, run_id: int | None, sites: list[str] | None, debut: str | None, fin: str | None) -> dict:
    """Store per-site and per-gaveur monthly indicators; months with a missing price are refused."""
    params = base.arguments(locals())
    p = base.perimetre(engine, JOB, sites, debut, fin)

    def compute():
        per_site = queries.finance_indicateurs(engine, p.sites, p.debut, p.fin, niveau="site")
        per_gaveur = queries.finance_indicateurs(engine, p.sites, p.debut, p.fin, niveau="gaveur")
        missing = per_site[per_site[["revenu_eur", "couts_eur"]].isna().any(axis=1)]
        if not missing.empty:
            months = ", ".join(f"{r.site_code} {r.mois:%Y-%m}" for r in missing.itertuples())
            raise base.JobParameterError(f"{JOB}: a price is missing in prix_parametres for {months}; "
                                         "add it and re-run (earlier results are kept).")
        return per_site, per_gaveur

    def write(conn: Connection, rid: int, output) -> dict:
        per_site, per_gaveur = output
        rows = pd.concat([_rows(per_site, "site", rid), _rows(per_gaveur, "gaveur", rid)], ignore_index=True)
        if not rows.empty:
            copy_dataframe(conn, "finance_indicateurs", rows)
        totals = per_site.groupby("site_code")[["revenu_eur", "couts_eur", "marge_eur"]].sum().round(0)
        return {"par_site": {s: r.to_dict() for s, r in totals.iterrows()}, "nb_mois": int(per_site["mois"].nunique())}

    return base.execute(engine, JOB, params, run_id, compute, write)
