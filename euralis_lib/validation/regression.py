"""Scores the liver-weight regression against the planted law, per site × souche.

Per cell: ``part_structure_retrouvee`` (1 when every planted term is in the retained formula with its
coefficient within 10 %, the intercept left aside; the goal is a share of cells, judged on the mean
over the matrix), ``r2_test`` (held-out R², reference: the best fair baseline on the same split,
:mod:`euralis_lib.models.baselines`), ``r2_polynomiale`` (ridge or lasso over the same term library,
chosen by cross-validation) and ``r2_boosting`` (gradient boosting), ``ecart_r2_vs_meilleure_reference``
(R² minus the best baseline's, goal ≥ −0.005 on every cell), ``termes_formule`` and
``termes_polynomiale`` (non-zero terms), ``marge_termes_vs_polynomiale`` (the polynomial baseline's
terms minus the formula's, goal ≥ 1: fewer terms in the formula), ``plafond_bruit_r2`` (the best R²
the planted noise allows on that test split), ``ecart_coef_max_pct`` (largest relative error of a
planted coefficient, 1000 when a planted term is missing) and ``termes_superflus`` (terms not planted).
The ``detail`` column carries the retained formula and its engine.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import sympy

from euralis_lib.models import regression
from euralis_lib.simulator import SimulatedData
from euralis_lib.validation import ligne, lot_features, tableau

MODELE = "regression"
TOLERANCE = 0.10
ECART_R2 = 0.005  # the formula's held-out R² may trail the best baseline by at most this
GENERATIONS = 200


def compare(expression: sympy.Expr, planted: dict[str, float]) -> tuple[bool, float, int]:
    """(structure recovered, largest relative coefficient error, number of terms not planted)."""
    got = {str(k): float(v) for k, v in sympy.expand(expression).as_coefficients_dict().items()}
    erreurs = [abs(got[t] / v - 1) if t in got else math.inf for t, v in planted.items() if t != "constante"]
    superflus = sum(1 for t in got if t != "1" and t not in planted)
    return all(e <= TOLERANCE for e in erreurs), max(erreurs), superflus


def score(donnees: SimulatedData) -> pd.DataFrame:
    """One row per metric per site × souche (see module docstring)."""
    features = lot_features(donnees)
    fitted, _ = regression.train_all(features, seed=0, generations=GENERATIONS, min_lots=40)
    truths = donnees.truths("formule")
    rows = []
    for (site, souche), model in sorted(fitted.items()):
        cell = f"{site}/{souche}"
        truth = truths[cell]
        ok, err, extra = compare(model.formula_.expression, truth["coefficients"])
        test = model.test_
        ceiling = 1 - truth["bruit_sd_g"] ** 2 / float(np.var(test[regression.CIBLE]))
        detail = f"{model.formula_.texte} [{model.engine_}]"
        r2, best, poly = model.formula_.r2_test, model.best_baseline_, model.polynomial_baseline_
        boost = next(b for b in model.baselines_ if b.nom == "boosting")
        termes = model.formula_.nb_termes
        detail += (f" — meilleure référence {best.nom} R² {best.r2_test:.4f}; "
                   f"polynomiale {poly.nom} ({poly.nb_termes} termes)")
        cell_rows = [ligne(MODELE, cell, "part_structure_retrouvee", float(ok), objectif=0.9),
                     ligne(MODELE, cell, "r2_test", r2, reference=best.r2_test),
                     ligne(MODELE, cell, "r2_polynomiale", poly.r2_test),
                     ligne(MODELE, cell, "r2_boosting", boost.r2_test),
                     ligne(MODELE, cell, "ecart_r2_vs_meilleure_reference", r2 - best.r2_test, objectif=-ECART_R2),
                     ligne(MODELE, cell, "termes_formule", termes),
                     ligne(MODELE, cell, "termes_polynomiale", poly.nb_termes),
                     ligne(MODELE, cell, "marge_termes_vs_polynomiale", poly.nb_termes - termes, objectif=1),
                     ligne(MODELE, cell, "plafond_bruit_r2", ceiling),
                     ligne(MODELE, cell, "ecart_coef_max_pct", 100 * min(err, 10.0), sens="max"),
                     ligne(MODELE, cell, "termes_superflus", extra, sens="max")]
        rows += [{**r, "detail": detail} for r in cell_rows]
    return tableau(rows)
