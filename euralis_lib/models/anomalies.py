"""Lot anomalies (used by job ``anomalies``): a robust distance to each gaveur's habits, ranked, with a
threshold read from the score distribution and per-lot explanations.

Each lot is described relative to its own gaveur's habits (a lot is anomalous when it is unusual
*for that gaveur*, not when an irregular gaveur is irregular as usual): for every observable
indicator of :data:`FEATURES`, the deviation from the gaveur's median divided by the robust spread
(MAD × 1.4826) of those deviations over all lots. The score is the Euclidean norm of these robust
deviations. The model is not told how many lots are abnormal: a lot is flagged when the
modified z-score (Iglewicz & Hoaglin) of its log-score exceeds ``seuil_z`` (3.5 by default), i.e.
when it is far in the tail of this run's own score distribution. Critical anomalies (a deviation
of ``SEUIL_CRITIQUE`` robust units or more) raise one alert each, keyed so that re-runs never
duplicate them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from euralis_lib.models.noms import INDICATEURS_LOT

# What a site measures on every lot: mortality, feeding (curve deviation, corn, final doses) and the
# slaughter outcomes (liver weight, homogeneity, ITM, cooking loss).
FEATURES = ("mortalite_pct", "ecart_courbe_g", "dose_totale_kg", "dose_finale_g", "sigma_g", "itm",
            "poids_foie_moyen_g", "taux_fonte_pct")
SEUIL_CRITIQUE = 8.0
MAD_NORMALE = 1.4826


def _fr(x: float, unit: str) -> str:
    text = f"{x:.1f}".replace(".", ",")
    return f"{text} {unit}".strip()


def robust_z(values: pd.Series) -> pd.Series:
    """Modified z-score: distance to the median in robust standard deviations (MAD × 1.4826)."""
    mad = MAD_NORMALE * (values - values.median()).abs().median()
    return (values - values.median()) / (mad if mad > 0 else np.nan)


class LotAnomalyDetector(BaseEstimator):
    """Robust distance of each lot to its gaveur's habits (a scikit-learn estimator).

    Fitted attributes: ``scores_`` (higher = more unusual), ``ranks_`` (1 = most unusual),
    ``seuil_`` (the score above which a lot is flagged), ``flags_``, ``critical_`` (per lot) and
    ``deviations_`` (per lot and feature, in robust units).
    """

    def __init__(self, *, seuil_z: float = 3.5) -> None:
        self.seuil_z = seuil_z

    def fit(self, lots: pd.DataFrame) -> LotAnomalyDetector:
        """Score slaughtered lots (rows with a missing feature are not scored: they are explicitly dropped)."""
        data = lots.dropna(subset=list(FEATURES)).set_index("lot_id")
        if len(data) < 20:
            raise ValueError(f"{len(data)} complete lots: at least 20 are needed to score anomalies")
        medians = data.groupby("gaveur_id")[list(FEATURES)].transform("median")
        resid = data[list(FEATURES)] - medians
        mad = (resid - resid.median()).abs().median() * MAD_NORMALE
        self.deviations_ = (resid / mad.replace(0, np.nan)).fillna(0.0)
        self.scores_ = np.sqrt((self.deviations_ ** 2).sum(axis=1)).rename("score")
        self.ranks_ = self.scores_.rank(ascending=False, method="first").astype(int).rename("rang")
        log_score = np.log(self.scores_.clip(lower=1e-9))
        z = robust_z(log_score)
        self.flags_ = (z > self.seuil_z).rename("est_anomalie")
        mad_log = MAD_NORMALE * (log_score - log_score.median()).abs().median()
        self.seuil_ = float(np.exp(log_score.median() + self.seuil_z * mad_log))
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
            label, unit = INDICATEURS_LOT[feat]
            parts.append(f"{label} {_fr(row[feat], unit)} (habituel {_fr(medians[feat], unit)})")
        return "; ".join(parts), {k: round(float(v), 2) for k, v in dev.items()}
