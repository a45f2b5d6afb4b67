"""Job ``anomalies``: scores every lot, flags the tail of the score distribution, stores the
explanations; the rule ``anomalie_lot`` (``sql/183``) raises one alert per critical anomaly as they land.

The detector lives in :mod:`euralis_lib.models.anomalies`; alerts are keyed (``cle_dedup``) so
re-runs never duplicate them.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from euralis_lib.database import queries
from euralis_lib.database.db import copy_dataframe
from euralis_lib.jobs import base
from euralis_lib.models.anomalies import LotAnomalyDetector

JOB = "anomalies"


def run(engine: Engine, *, run_id: int | None, sites: list[str] | None, debut: str | None, fin: str | None,
        seuil_z: float) -> dict:
    """Score lots, store explanations, raise one alert per critical anomaly."""
    params = base.arguments(locals())
    p = base.perimetre(engine, JOB, sites, debut, fin)
    if not 2.0 <= seuil_z <= 10.0:
        raise base.JobParameterError(f"{JOB}: seuil_z (robust z of the score) must be between 2 and 10, "
                                     f"not {seuil_z}.")

    def compute():
        lots = queries.lot_features(engine, p.sites, p.debut, p.fin)
        return lots, LotAnomalyDetector(seuil_z=seuil_z).fit(lots)

    def write(conn: Connection, rid: int, output) -> dict:
        _, det = output
        explained = {lot: det.explain(lot) for lot in det.flags_[det.flags_].index}
        rows = pd.DataFrame({"run_id": rid, "lot_id": det.scores_.index, "score": det.scores_.to_numpy(),
                             "est_anomalie": det.flags_.to_numpy(), "critique": det.critical_.to_numpy()})
        rows["explication"] = [explained[i][0] if i in explained else None for i in rows["lot_id"]]
        rows["contributions"] = ["{}" if i not in explained else pd.Series(explained[i][1]).to_json()
                                 for i in rows["lot_id"]]
        copy_dataframe(conn, "anomalies_lots", rows)
        # The alerts are raised by the rule anomalie_lot as the scores land (sql/183), deduplicated by lot.
        created = conn.execute(sa.text("SELECT count(*) FROM alertes WHERE run_id = :rid AND type = 'anomalie'"),
                               {"rid": rid}).scalar_one()
        return {"nb_lots": len(rows), "nb_anomalies": int(det.flags_.sum()), "nb_critiques": int(det.critical_.sum()),
                "seuil_score": round(det.seuil_, 3), "alertes_creees": created}

    return base.execute(engine, JOB, params, run_id, compute, write, lambda _: "distance robuste (MAD)")
