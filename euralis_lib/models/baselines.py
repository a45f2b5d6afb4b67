"""Fair baselines for the liver-weight formulas: what a formula must match on the same held-out lots.

The term library (every feature, its square and every product of two features) is defined here once
and shared by the formula search (:mod:`euralis_lib.models.regression`) and its baselines, so the
comparison is made on equal terms:

* ``polynomiale_ridge`` / ``polynomiale_lasso``: least squares over the whole term library, terms
  standardised, regularised by cross-validation (``RidgeCV`` and ``LassoCV`` on the same folds of the
  training lots). Both are fitted; the polynomial baseline is the one with the lower cross-validated
  error (chosen on training lots only).
* ``boosting``: scikit-learn's ``HistGradientBoostingRegressor`` (small trees, shrinkage 0.05), its
  number of iterations chosen by early stopping on a validation share of the training lots (one fit:
  a grid search over iterations cost ~5 s per site × souche on this machine for the same choice).

The best baseline is the one with the higher held-out R² on the formula's split (the harder
comparison for the formula: it lets the baseline pick with hindsight).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LassoCV, RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

RIDGE_ALPHAS = np.logspace(-4, 4, 33)
FOLDS = 5


def term_library(X: np.ndarray, features: tuple[str, ...]) -> tuple[np.ndarray, list[sympy.Expr]]:
    """The candidate terms of a formula: each feature, then each product of two features (squares included)."""
    symbols = [sympy.Symbol(f) for f in features]
    columns, exprs = [X[:, i] for i in range(X.shape[1])], list(symbols)
    for i in range(X.shape[1]):
        for j in range(i, X.shape[1]):
            columns.append(X[:, i] * X[:, j])
            exprs.append(symbols[i] * symbols[j])
    return np.column_stack(columns), exprs


@dataclass(frozen=True)
class Baseline:
    """One baseline's held-out accuracy; ``nb_termes``: its non-zero terms (None for boosting); ``cv_mse``: its
    error estimated on training lots only (cross-validation, or boosting's early-stopping validation)."""

    nom: str
    r2_test: float
    nb_termes: int | None
    cv_mse: float


def polynomial(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
               features: tuple[str, ...], random_state: int) -> list[Baseline]:
    """Ridge and lasso over the standardised term library, each with its cross-validated error."""
    T_train, _ = term_library(X_train, features)
    T_test, _ = term_library(X_test, features)
    folds = KFold(FOLDS, shuffle=True, random_state=random_state)
    ridge = make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS, cv=folds, scoring="neg_mean_squared_error"))
    lasso = make_pipeline(StandardScaler(), LassoCV(cv=folds, alphas=60, max_iter=20_000,
                                                    random_state=random_state))
    out = []
    for nom, model in (("polynomiale_ridge", ridge), ("polynomiale_lasso", lasso)):
        model.fit(T_train, y_train)
        est = model[-1]
        cv_mse = -est.best_score_ if nom == "polynomiale_ridge" else float(est.mse_path_.mean(axis=1).min())
        out.append(Baseline(nom, float(r2_score(y_test, model.predict(T_test))),
                            int(np.count_nonzero(np.abs(est.coef_) > 1e-12)), float(cv_mse)))
    return out


def boosting(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
             random_state: int) -> Baseline:
    """Gradient boosting on the raw features, its number of iterations chosen by early stopping."""
    model = HistGradientBoostingRegressor(learning_rate=0.05, max_iter=1000, max_leaf_nodes=15, min_samples_leaf=10,
                                          early_stopping=True, validation_fraction=0.2, n_iter_no_change=30,
                                          scoring="loss", random_state=random_state)
    # One thread: the suite and the jobs run beside other processes on 2 cores, where OpenMP's default
    # (a thread per core, spinning) oversubscribes and slowed a fit from seconds to minutes.
    with threadpool_limits(limits=1):
        model.fit(X_train, y_train)
    # validation_score_ is minus the half squared error: twice it is the MSE
    return Baseline("boosting", float(r2_score(y_test, model.predict(X_test))), None,
                    float(-2 * model.validation_score_.max()))


def fit_baselines(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                  features: tuple[str, ...], random_state: int) -> list[Baseline]:
    """Ridge, lasso and boosting fitted on the training lots and scored on the held-out lots."""
    return [*polynomial(X_train, y_train, X_test, y_test, features, random_state),
            boosting(X_train, y_train, X_test, y_test, random_state)]


def polynomial_choice(baselines: list[Baseline]) -> Baseline:
    """The polynomial baseline kept: ridge or lasso, whichever has the lower cross-validated error."""
    return min((b for b in baselines if b.nom.startswith("polynomiale")), key=lambda b: b.cv_mse)


def best(baselines: list[Baseline]) -> Baseline:
    """The best baseline: the kept polynomial one or boosting, whichever has the higher held-out R²."""
    return max([polynomial_choice(baselines), *(b for b in baselines if b.nom == "boosting")],
               key=lambda b: b.r2_test)
