"""Job ``previsions``: per site and horizon, the model chosen by backtest, its forecast and the errors.

The model and its backtest live in :mod:`euralis_lib.models.forecasting`; this job reads the daily
production, checks the parameters and stores forecasts and backtest errors with the run.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Connection, Engine

from euralis_lib.database import queries
from euralis_lib.database.db import copy_dataframe
from euralis_lib.jobs import base
from euralis_lib.models.forecasting import choisir, forecast_sites
from euralis_lib.models.noms import NAIF, PREVISION
from euralis_lib.presentation.formatting import nombre

JOB = "previsions"


def run(engine: Engine, *, run_id: int | None, sites: list[str] | None, horizons: list[int], nb_origines: int,
        intervalle: float, croissance: str, seed: int) -> dict:
    """Forecasts and backtest per site, stored with the run."""
    params = base.arguments(locals())
    p = base.perimetre(engine, JOB, sites)
    if not horizons or any(h <= 0 or h > 365 for h in horizons):
        raise base.JobParameterError(f"{JOB}: horizons must be between 1 and 365 days, not {horizons}.")
    if croissance not in {"flat", "linear"}:
        raise base.JobParameterError(f"{JOB}: croissance must be 'flat' or 'linear', not {croissance!r}.")
    if not 0 < intervalle < 1:
        raise base.JobParameterError(f"{JOB}: intervalle must be in ]0, 1[, not {intervalle}.")

    def compute():
        daily = queries.production_journaliere(engine, p.sites)
        return forecast_sites(daily, horizons=tuple(horizons), nb_origines=nb_origines, interval=float(intervalle),
                              seed=seed, croissance=croissance, lots=queries.lots_production(engine, p.sites))

    def write(conn: Connection, rid: int, output) -> dict:
        fc, bt, skipped = output
        if not fc.empty:
            rows = fc.rename(columns={"ds": "date_prevision"}).assign(run_id=rid)
            copy_dataframe(conn, "previsions", rows, ["run_id", "site_code", "date_prevision", "horizon_jours",
                                                      "yhat", "yhat_lower", "yhat_upper", "modele"])
        if not bt.empty:
            copy_dataframe(conn, "previsions_backtest", bt.assign(run_id=rid),
                           ["run_id", "site_code", "horizon_jours", "modele", "mape", "mae", "nb_origines", "retenu"])
        summary: dict = {}
        for row in bt.itertuples():
            summary.setdefault(row.site_code, {})[f"{row.modele}_mape_{row.horizon_jours}j"] = round(row.mape, 2)
        choix = {f"{r.site_code}/{r.horizon_jours}j": {"modele": r.modele, "ratio_naif": round(r.ratio, 3)}
                 for r in choisir(bt).itertuples()} if not bt.empty else {}
        return {"backtest": summary, "choix": choix, "ignores": skipped}

    def engines(output) -> str:
        fc = output[0]
        return ", ".join(sorted(set(fc["modele"]))) if not fc.empty else "aucun"

    return base.execute(engine, JOB, params, run_id, compute, write, engines)


def resume_choix(choix: pd.DataFrame) -> str:
    """French summary of :func:`choisir`'s table, per horizon: how often a model beats the naive and by
    how much (median, worst ratio). Measured figures only."""
    phrases = []
    for h, g in choix.groupby("horizon_jours"):
        battus = g[g["modele"] != NAIF]
        phrases.append(f"À {h} jours : le naïf saisonnier est battu sur {len(battus)} site(s) sur {len(g)} ; "
                       f"rapport de MAPE au naïf médian {nombre(g['ratio'].median(), 2)}, "
                       f"le plus mauvais {nombre(g['ratio'].max(), 2)} "
                       f"(modèles retenus : {', '.join(sorted({PREVISION.get(m, m) for m in g['modele']}))}).")
    return "\n".join(phrases)
