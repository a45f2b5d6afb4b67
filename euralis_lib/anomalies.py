"""Lot anomalies (job ``anomalies``): Isolation Forest with per-lot explanations and alerts.

Each lot is described relative to its own gaveur's habits (a lot is anomalous when it is unusual
*for that gaveur*, not when an irregular gaveur is irregular as usual): for every feature, the
deviation from the gaveur's median divided by the robust spread (MAD) of those deviations over all
lots. The Isolation Forest scores these deviations; the explanation lists the features with the
largest deviations. ``contamination`` is the expected share of abnormal lots (2–3 % in practice).
Critical anomalies (a deviation of ``SEUIL_CRITIQUE`` robust units or more)
raise one alert each, keyed so that re-runs never duplicate them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sklearn.ensemble import IsolationForest
from sqlalchemy.engine import Connection, Engine

from euralis_lib import jobs, queries
from euralis_lib.db import copy_dataframe

JOB = "anomalies"
# The direct process indicators; ITM and liver weight follow from them and only add noise.
FEATURES = ("mortalite_pct", "ecart_courbe_g", "sigma_g")
LIBELLES = {"mortalite_pct": ("mortalité", "%"), "ecart_courbe_g": ("écart à la courbe", "g"),
            "sigma_g": ("sigma", "g")}
SEUIL_CRITIQUE = 8.0
PARAMS = {"sites": (list, str, type(None)), "debut": (str, type(None)), "fin": (str, type(None)),
          "contamination": (float,), "seed": (int,)}


def _fr(x: float, unit: str) -> str:
    text = f"{x:.1f}".replace(".", ",")
    return f"{text} {unit}".strip()


@dataclass
class LotAnomalyDetector:
    """Isolation Forest on per-gaveur robust deviations; ``scores_``, ``flags_``, ``deviations_``."""

    contamination: float = 0.025
    random_state: int = 0
    scores_: pd.Series = field(default_factory=pd.Series, init=False)
    flags_: pd.Series = field(default_factory=pd.Series, init=False)
    deviations_: pd.DataFrame = field(default_factory=pd.DataFrame, init=False)
    critical_: pd.Series = field(default_factory=pd.Series, init=False)

    def fit(self, lots: pd.DataFrame) -> LotAnomalyDetector:
        """Score slaughtered lots (rows with a missing feature are not scored: they are explicitly dropped)."""
        data = lots.dropna(subset=list(FEATURES)).set_index("lot_id")
        if len(data) < 20:
            raise ValueError(f"{len(data)} complete lots: at least 20 are needed to score anomalies")
        medians = data.groupby("gaveur_id")[list(FEATURES)].transform("median")
        resid = data[list(FEATURES)] - medians
        mad = (resid - resid.median()).abs().median() * 1.4826
        dev = resid / mad.replace(0, np.nan)
        self.deviations_ = dev.fillna(0.0)
        forest = IsolationForest(n_estimators=300, contamination=self.contamination,
                                 random_state=self.random_state).fit(self.deviations_)
        self.scores_ = pd.Series(-forest.score_samples(self.deviations_), index=data.index, name="score")
        self.flags_ = pd.Series(forest.predict(self.deviations_) == -1, index=data.index, name="est_anomalie")
        self.critical_ = self.flags_ & (self.deviations_.abs().max(axis=1) >= SEUIL_CRITIQUE)
        self._data = data
        return self

    def explain(self, lot_id: int, top: int = 2) -> tuple[str, dict[str, float]]:
        """French explanation of a lot's score and the per-feature deviations (robust units)."""
        dev = self.deviations_.loc[lot_id]
        row = self._data.loc[lot_id]
        medians = self._data[self._data["gaveur_id"] == row["gaveur_id"]][list(FEATURES)].median()
        parts = []
        for feat in dev.abs().sort_values(ascending=False).index[:top]:
            label, unit = LIBELLES[feat]
            parts.append(f"{label} {_fr(row[feat], unit)} (habituel {_fr(medians[feat], unit)})")
        return "; ".join(parts), {k: round(float(v), 2) for k, v in dev.items()}


def run(engine: Engine, run_id: int | None = None, **params) -> dict:
    """Job ``anomalies``: score lots, store explanations, raise one alert per critical anomaly."""
    jobs.check_params(JOB, params, PARAMS)
    sites = jobs.parse_sites(JOB, params.get("sites"))
    debut = jobs.parse_date(JOB, "debut", params.get("debut"))
    fin = jobs.parse_date(JOB, "fin", params.get("fin"))
    contamination = params.get("contamination", 0.025)
    if not 0 < contamination < 0.5:
        raise jobs.JobParameterError(f"{JOB}: contamination must be in ]0, 0.5[, not {contamination}.")

    def compute():
        lots = queries.lot_features(engine, sites, debut, fin)
        return lots, LotAnomalyDetector(contamination, params.get("seed", 0)).fit(lots)

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
                "alertes_creees": created}

    return jobs.execute(engine, JOB, params, run_id, compute, write, lambda _: "scikit-learn IsolationForest")
