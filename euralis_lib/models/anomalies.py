"""Lot anomalies (used by job ``anomalies``): Isolation Forest with per-lot explanations and alerts.

Each lot is described relative to its own gaveur's habits (a lot is anomalous when it is unusual
*for that gaveur*, not when an irregular gaveur is irregular as usual): for every feature, the
deviation from the gaveur's median divided by the robust spread (MAD) of those deviations over all
lots. The Isolation Forest scores these deviations; the explanation lists the features with the
largest deviations. ``contamination`` is the expected share of abnormal lots (2–3 % in practice).
Critical anomalies (a deviation of ``SEUIL_CRITIQUE`` robust units or more)
raise one alert each, keyed so that re-runs never duplicate them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest

# The direct process indicators; ITM and liver weight follow from them and only add noise.
FEATURES = ("mortalite_pct", "ecart_courbe_g", "sigma_g")
LIBELLES = {"mortalite_pct": ("mortalité", "%"), "ecart_courbe_g": ("écart à la courbe", "g"),
            "sigma_g": ("sigma", "g")}
SEUIL_CRITIQUE = 8.0


def _fr(x: float, unit: str) -> str:
    text = f"{x:.1f}".replace(".", ",")
    return f"{text} {unit}".strip()


class LotAnomalyDetector(BaseEstimator):
    """Isolation Forest on per-gaveur robust deviations (a scikit-learn estimator).

    Fitted attributes: ``scores_`` (higher = more unusual), ``flags_``, ``critical_`` (per lot) and
    ``deviations_`` (per lot and feature, in robust units).
    """

    def __init__(self, *, contamination: float, random_state: int) -> None:
        self.contamination = contamination
        self.random_state = random_state

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
        self.data_ = data
        return self

    def explain(self, lot_id: int, top: int = 2) -> tuple[str, dict[str, float]]:
        """French explanation of a lot's score and the per-feature deviations (robust units)."""
        dev = self.deviations_.loc[lot_id]
        row = self.data_.loc[lot_id]
        medians = self.data_[self.data_["gaveur_id"] == row["gaveur_id"]][list(FEATURES)].median()
        parts = []
        for feat in dev.abs().sort_values(ascending=False).index[:top]:
            label, unit = LIBELLES[feat]
            parts.append(f"{label} {_fr(row[feat], unit)} (habituel {_fr(medians[feat], unit)})")
        return "; ".join(parts), {k: round(float(v), 2) for k, v in dev.items()}
