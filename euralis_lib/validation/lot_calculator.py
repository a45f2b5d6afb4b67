"""Scores the lot calculator's 80 % liver-weight interval on lots it never saw (« Simulateur de lot », issue 24).

The formulas are trained as the job ``entrainement`` trains them (same estimator, same split, residual
percentiles from its held-out lots) but on the lots slaughtered before the last :data:`MOIS_EVALUES` months only;
the lots slaughtered in those months, their features as recorded, are then predicted with
:func:`euralis_lib.models.lot_calculator.liver_weight`. ``couverture_80`` is the share of those lots whose liver
weight falls inside their interval, all sites × souches of the data set together. The issue's goal is on the
held-out lots of several seeds: 75 % to 85 % covered, judged on the mean over the data sets (``part_`` rows,
:func:`euralis_lib.validation.matrix.resume`): ``part_lots_couverts_80`` at least 0.75 and
``part_lots_couverts_80_max`` at most 0.85. One data set holds a few hundred held-out lots, so its own share
wanders by about ±2 points around the interval's true coverage (binomial); the min and max per data set stay in
the report. Per cell, the coverage, the lots and the interval's mean width (g) are information rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from euralis_lib.models import lot_calculator, regression
from euralis_lib.simulator import SimulatedData
from euralis_lib.validation import ligne, lot_features, tableau

MODELE = "lot_calculator"
MOIS_EVALUES = 6
GENERATIONS = 200


def intervals(model: regression.SymbolicRegression, lots: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the 80 % liver-weight interval of each lot, from the model's retained formula."""
    valeurs = {f: lots[f].to_numpy(float) for f in model.features}
    f = model.formula_
    centre = np.broadcast_to(np.asarray(lot_calculator.evaluate(f.texte, valeurs), dtype=float), (len(lots),))
    return centre + f.residu_p10_g, centre + f.residu_p90_g


def score(donnees: SimulatedData) -> pd.DataFrame:
    """Coverage rows (see module docstring)."""
    features = lot_features(donnees)
    features = features[features[regression.CIBLE].notna()]
    coupure = pd.to_datetime(features["date_abattage"]).max() - pd.DateOffset(months=MOIS_EVALUES)
    avant = pd.to_datetime(features["date_abattage"]) <= coupure
    fitted, _ = regression.train_all(features[avant], seed=0, generations=GENERATIONS, min_lots=40, baselines=False)
    rows, dedans_tous = [], []
    for (site, souche), model in sorted(fitted.items()):
        cell = f"{site}/{souche}"
        evalues = features[~avant & (features["site_code"] == site) & (features["souche_code"] == souche)]
        evalues = evalues.dropna(subset=list(model.features))
        if evalues.empty:
            continue
        bas, haut = intervals(model, evalues)
        observe = evalues[regression.CIBLE].to_numpy(float)
        dedans = (bas <= observe) & (observe <= haut)
        dedans_tous.append(dedans)
        detail = f"{model.formula_.texte} [{model.engine_}]"
        rows += [{**r, "detail": detail} for r in (
            ligne(MODELE, cell, "couverture_80_cellule", float(dedans.mean())),
            ligne(MODELE, cell, "lots_evalues", len(evalues)),
            ligne(MODELE, cell, "largeur_80_g", float(np.mean(haut - bas))))]
    tous = np.concatenate(dedans_tous) if dedans_tous else np.array([], dtype=bool)
    couverture = float(tous.mean()) if len(tous) else 0.0
    detail = f"{int(tous.sum())} lots sur {len(tous)} dans leur intervalle"
    rows += [{**r, "detail": detail} for r in (
        ligne(MODELE, "toutes", "part_lots_couverts_80", couverture, objectif=0.75),
        ligne(MODELE, "toutes", "part_lots_couverts_80_max", couverture, objectif=0.85, sens="max"),
        ligne(MODELE, "toutes", "lots_evalues", len(tous)))]
    return tableau(rows)
