"""Scores lot anomaly detection against the planted anomalous lots, per data set.

Metrics: average precision of the ranking, precision and recall at the threshold the model chose
itself (it is not told the planted rate). Reference: a plain threshold that ignores the gaveur —
each indicator's robust z over all lots, the largest one as score, flagged with the same rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from euralis_lib.models.anomalies import FEATURES, LotAnomalyDetector, robust_z
from euralis_lib.simulator import SimulatedData
from euralis_lib.validation import ligne, lot_features, tableau

MODELE = "anomalies"


def _precision_recall(flags: pd.Series, truth: pd.Series) -> tuple[float, float]:
    tp = int((flags & truth).sum())
    return tp / max(int(flags.sum()), 1), tp / max(int(truth.sum()), 1)


def score(donnees: SimulatedData) -> pd.DataFrame:
    """Average precision, precision and recall (cell ``ensemble``), with the plain threshold as reference."""
    lots = lot_features(donnees)
    det = LotAnomalyDetector().fit(lots)
    truth = pd.Series(det.scores_.index.isin({int(k) for k in donnees.truths("anomalie")}), index=det.scores_.index)
    data = det.data_[list(FEATURES)]
    base_score = data.apply(robust_z).abs().max(axis=1)
    base_log = np.log(base_score.clip(lower=1e-9))
    base_flags = robust_z(base_log) > det.seuil_z
    p, r = _precision_recall(det.flags_, truth)
    bp, br = _precision_recall(base_flags, truth)
    return tableau([
        ligne(MODELE, "ensemble", "precision_moyenne", average_precision_score(truth, det.scores_),
              reference=average_precision_score(truth, base_score), objectif=0.9),
        ligne(MODELE, "ensemble", "precision", p, reference=bp, objectif=0.85),
        ligne(MODELE, "ensemble", "rappel", r, reference=br, objectif=0.85),
        ligne(MODELE, "ensemble", "signales_sur_plantes", det.flags_.mean() / max(truth.mean(), 1e-9),
              sens="max"),
    ])
