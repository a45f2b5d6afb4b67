"""Scores the simulator's realism against domain.md's ranges, per data set.

Metrics: median taux de fonte and its share inside 20–27 %, share of lots under 580 ducks, January
slaughters over December's, liver weight lost per fasting hour (least squares on the planted law's
terms; domain: ~8 g/h) and the saturation (gain per kg of corn at the 90th percentile of doses over
the gain at the 10th).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from euralis_lib.simulator import SimulatedData
from euralis_lib.validation import ligne, lot_features, tableau

MODELE = "simulateur"


def score(donnees: SimulatedData) -> pd.DataFrame:
    """Realism metrics of one data set (cell ``ensemble``) and per site × souche for the liver law."""
    ab, lots = donnees.abattages, donnees.lots
    fonte = ab["taux_fonte_pct"]
    month = pd.to_datetime(ab["date_abattage"]).dt.month
    canards = ab.groupby(month)["nb_canards_abattus"].sum().reindex(range(1, 13), fill_value=0)
    rows = [ligne(MODELE, "ensemble", "fonte_mediane_pct", fonte.median(), objectif=22.0),
            ligne(MODELE, "ensemble", "fonte_mediane_pct_max", fonte.median(), objectif=25.0, sens="max"),
            ligne(MODELE, "ensemble", "proportion_fonte_20_27", fonte.between(20, 27).mean(), objectif=0.9),
            ligne(MODELE, "ensemble", "proportion_lots_sous_580", (lots["nb_canards_entres"] < 580).mean(),
                  objectif=0.05),
            ligne(MODELE, "ensemble", "janvier_sur_decembre", canards[1] / max(canards[12], 1), objectif=0.7,
                  sens="max")]
    f = lot_features(donnees).dropna(subset=["poids_foie_moyen_g"])
    for (site, souche), sub in f.groupby(["site_code", "souche_code"]):
        d = sub["dose_totale_kg"].to_numpy()
        A = np.column_stack([np.ones(len(d)), d, d ** 2, sub["ecart_courbe_g"], sub["jeune_h"]])
        coef, *_ = np.linalg.lstsq(A, sub["poids_foie_moyen_g"].to_numpy(), rcond=None)
        lo, hi = np.quantile(d, [0.1, 0.9])
        cell = f"{site}/{souche}"
        rows += [ligne(MODELE, cell, "perte_jeune_g_par_h", -coef[4], objectif=4.0),
                 ligne(MODELE, cell, "perte_jeune_g_par_h_max", -coef[4], objectif=12.0, sens="max"),
                 ligne(MODELE, cell, "saturation_pente_haute_sur_basse",
                       (coef[1] + 2 * coef[2] * hi) / (coef[1] + 2 * coef[2] * lo), objectif=0.6, sens="max")]
    return tableau(rows)
