"""Job ``anomalies``: scores every lot, flags the tail of the score distribution, stores the
explanations, raises one alert per critical anomaly.

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
        lots, det = output
        explained = {lot: det.explain(lot) for lot in det.flags_[det.flags_].index}
        rows = pd.DataFrame({"run_id": rid, "lot_id": det.scores_.index, "score": det.scores_.to_numpy(),
                             "est_anomalie": det.flags_.to_numpy(), "critique": det.critical_.to_numpy()})
        rows["explication"] = [explained[i][0] if i in explained else None for i in rows["lot_id"]]
        rows["contributions"] = ["{}" if i not in explained else pd.Series(explained[i][1]).to_json()
                                 for i in rows["lot_id"]]
        copy_dataframe(conn, "anomalies_lots", rows)
        info = lots.set_index("lot_id")
        created = 0
        for lot in det.critical_[det.critical_].index:
            created += conn.execute(sa.text(
                "INSERT INTO alertes (horodatage, site_code, gaveur_id, lot_id, type, severite, message, source, "
                "run_id, cle_dedup) VALUES (CAST(:jour AS date) + time '08:00', :site, :gaveur, :lot, 'anomalie', "
                "'critique', :msg, 'job anomalies', :rid, :cle) ON CONFLICT (cle_dedup, horodatage) DO NOTHING"),
                {"jour": info.loc[lot, "fin"], "site": info.loc[lot, "site_code"],
                 "gaveur": int(info.loc[lot, "gaveur_id"]), "lot": int(lot), "rid": rid,
                 "msg": f"Lot {info.loc[lot, 'code_lot']} anormal : {explained[lot][0]}",
                 "cle": f"anomalie:{lot}"}).rowcount
        return {"nb_lots": len(rows), "nb_anomalies": int(det.flags_.sum()), "nb_critiques": int(det.critical_.sum()),
                "seuil_score": round(det.seuil_, 3), "alertes_creees": created}

    return base.execute(engine, JOB, params, run_id, compute, write, lambda _: "distance robuste (MAD)")
