"""Symbolic regression (used by job ``entrainement``): a readable liver-weight formula per site × souche.

Engines: PySR (genetic programming in Julia) where a Julia executable exists; otherwise
``bibliotheque``, a sparse regression over a library of candidate terms (every feature, its square —
a negative square is a saturation — and every product of two features, i.e. interactions), chosen
by forward selection with a swap pass and fitted by least squares. That is not a search over all
formulas: it finds laws that are sums of such terms, which is what the cooperative's formulas are.
``pyoperon`` (C++ genetic programming) can be asked for explicitly. Julia is detected without
importing pysr (which would try the network); when pysr is tried, ``PYTHON_JULIAPKG_OFFLINE=yes``
keeps it from hanging. The engine is recorded with every formula. The whole Pareto front
(complexity vs error) is kept, not only the retained formula. ``baselines_`` are the fair baselines
fitted on the same split (:mod:`euralis_lib.models.baselines`: ridge/lasso over the same term library,
gradient boosting); the retained formula is judged against the best of them.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sympy
from sklearn.base import BaseEstimator
from sklearn.metrics import mean_absolute_error, r2_score

from euralis_lib.models import baselines

CIBLE = "poids_foie_moyen_g"
FEATURES = ("dose_totale_kg", "poids_entree_moyen_kg", "duree_jours", "ecart_courbe_g", "dose_finale_g", "jeune_h")
MAX_TERMES = 9


def julia_available() -> bool:
    """True when a Julia executable can be found (PATH or PYTHON_JULIAPKG_EXE); never imports pysr."""
    exe = os.environ.get("PYTHON_JULIAPKG_EXE")
    return bool(shutil.which("julia") or shutil.which("juliaup") or (exe and os.path.exists(exe)))


def choose_engine() -> str:
    """'pysr' when Julia is there and pysr imports offline, otherwise 'bibliotheque' (pure Python)."""
    if not julia_available():
        return "bibliotheque"
    os.environ["PYTHON_JULIAPKG_OFFLINE"] = "yes"
    try:
        import pysr  # noqa: F401
    except Exception:  # pysr raises various errors (not only ImportError) when Julia is unusable
        return "bibliotheque"
    return "pysr"


def _round_sig(x: float, digits: int = 4) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, max(0, digits - 1 - int(math.floor(math.log10(abs(x))))))


def readable(expression: str | sympy.Expr, features: tuple[str, ...] = FEATURES) -> sympy.Expr:
    """Expand a formula and round its coefficients to 4 significant digits."""
    symbols = {name: sympy.Symbol(name) for name in features}
    expr = sympy.expand(sympy.sympify(expression, locals=symbols) if isinstance(expression, str) else expression)
    return expr.xreplace({n: sympy.Float(_round_sig(float(n))) for n in expr.atoms(sympy.Float)})


@dataclass
class Formula:
    """One formula of the Pareto front with its held-out accuracy and the bounds of its held-out residuals
    (observed − predicted, g) at split-conformal ranks (:func:`residual_bounds`): what the lot calculator adds to
    a prediction for its 80 % interval."""

    expression: sympy.Expr
    complexite: int
    r2_test: float
    mae_test: float
    mse_train: float
    est_retenue: bool = False
    residu_p10_g: float = math.nan
    residu_p90_g: float = math.nan

    @property
    def texte(self) -> str:
        """The formula as readable text."""
        return f"{CIBLE} = {sympy.sstr(self.expression)}"

    @property
    def nb_termes(self) -> int:
        """Terms of the formula, the intercept left aside."""
        return sum(1 for term in sympy.Add.make_args(self.expression) if not term.is_Number)


class SymbolicRegression(BaseEstimator):
    """Fit a Pareto front of formulas for ``CIBLE`` from ``features`` (a scikit-learn estimator).

    Fitted attributes: ``pareto_`` (formulas by complexity), ``formula_`` (the retained one),
    ``engine_`` (the engine that produced them), ``n_train_``/``n_test_`` (lots in each split),
    ``baselines_`` (with ``baselines=True``: ridge, lasso and boosting fitted and scored on the same split),
    ``best_baseline_`` (the one with the higher held-out R²), ``polynomial_baseline_`` (ridge or lasso, chosen by
    cross-validation) and ``test_`` (the held-out lots).
    """

    def __init__(self, *, generations: int, random_state: int, features: tuple[str, ...] = FEATURES,
                 engine: str | None = None, test_size: float = 0.25, baselines: bool = True) -> None:
        self.generations = generations
        self.random_state = random_state
        self.features = features
        self.engine = engine
        self.test_size = test_size
        self.baselines = baselines

    def fit(self, df: pd.DataFrame) -> SymbolicRegression:
        """Split lots into train/test (seeded), fit the engine, evaluate every Pareto formula."""
        data = df.dropna(subset=[*self.features, CIBLE])
        rng = np.random.default_rng(self.random_state)
        test = rng.random(len(data)) < self.test_size
        train_df, test_df = data[~test], data[test]
        self.n_train_, self.n_test_ = len(train_df), len(test_df)
        self.test_ = test_df
        self.engine_ = self.engine or choose_engine()
        fit = {"pysr": self._fit_pysr, "pyoperon": self._fit_operon, "bibliotheque": self._fit_bibliotheque}.get(
            self.engine_)
        if fit is None:
            raise ValueError(f"unknown engine {self.engine_!r}: use 'pysr', 'bibliotheque' or 'pyoperon'")
        if self.baselines:  # five sixths of the fit's time: left out where only the formula is needed
            X_train, y_train = train_df[list(self.features)].to_numpy(float), train_df[CIBLE].to_numpy(float)
            self.baselines_ = baselines.fit_baselines(X_train, y_train, test_df[list(self.features)].to_numpy(float),
                                                      test_df[CIBLE].to_numpy(float), self.features, self.random_state)
            self.best_baseline_ = baselines.best(self.baselines_)
            self.polynomial_baseline_ = baselines.polynomial_choice(self.baselines_)
        candidates = fit(train_df[list(self.features)].to_numpy(), train_df[CIBLE].to_numpy())
        front = []
        symbols = [sympy.Symbol(f) for f in self.features]
        for expression, complexity in candidates:
            fn = sympy.lambdify(symbols, expression, "numpy")

            def predict(frame: pd.DataFrame, fn=fn) -> np.ndarray:
                out = fn(*[frame[f].to_numpy(float) for f in self.features])
                return np.broadcast_to(np.asarray(out, dtype=float), (len(frame),))

            predicted = predict(test_df)
            p10, p90 = residual_bounds(test_df[CIBLE].to_numpy(float) - predicted)
            front.append(Formula(expression, int(complexity),
                                 r2_test=float(r2_score(test_df[CIBLE], predicted)),
                                 mae_test=float(mean_absolute_error(test_df[CIBLE], predicted)),
                                 mse_train=float(np.mean((train_df[CIBLE] - predict(train_df)) ** 2)),
                                 residu_p10_g=float(p10), residu_p90_g=float(p90)))
        front.sort(key=lambda f: f.complexite)
        # Retained: the lowest extended Bayesian information criterion on the training lots (selection
        # never sees test data): each fitted constant must lower n·ln(MSE) by more than ln(n) plus
        # 2·ln(number of candidate terms), so that picking the best of many candidates is paid for.
        n, p = len(train_df), _nb_candidats(len(self.features))
        self.formula_ = min(front, key=lambda f: n * math.log(max(f.mse_train, 1e-12))
                            + _constants(f.expression) * (math.log(n) + 2 * math.log(p)))
        self.formula_.est_retenue = True
        self.pareto_ = front
        return self

    def _fit_bibliotheque(self, X: np.ndarray, y: np.ndarray) -> list[tuple[sympy.Expr, int]]:
        T, exprs = baselines.term_library(X, self.features)
        front = []
        for chosen in _forward_swap(T, y, MAX_TERMES):
            A = np.column_stack([np.ones(len(y)), T[:, chosen]])
            coef, *_ = np.linalg.lstsq(A, y, rcond=None)
            expr = sympy.Float(coef[0]) + sum(sympy.Float(c) * exprs[k] for c, k in zip(coef[1:], chosen, strict=True))
            front.append((readable(expr, self.features), 1 + 2 * len(chosen)))
        return front

    def _fit_operon(self, X: np.ndarray, y: np.ndarray) -> list[tuple[sympy.Expr, int]]:
        from pyoperon.sklearn import SymbolicRegressor

        model = SymbolicRegressor(allowed_symbols="add,sub,mul,constant,variable", objectives=["r2", "length"],
                                  max_length=30, generations=self.generations, population_size=800,
                                  max_evaluations=300_000, n_threads=2, random_state=self.random_state)
        model.fit(X.astype(np.float32), y.astype(np.float32))
        return [(readable(model.get_model_string(p["tree"], 6, names=list(self.features)), self.features),
                 p["complexity"]) for p in model.pareto_front_]

    def _fit_pysr(self, X: np.ndarray, y: np.ndarray) -> list[tuple[sympy.Expr, int]]:
        from pysr import PySRRegressor

        model = PySRRegressor(niterations=self.generations // 5, binary_operators=["+", "-", "*"],
                              random_state=self.random_state, deterministic=True, parallelism="serial",
                              progress=False, verbosity=0)
        model.fit(X, y, variable_names=list(self.features))
        return [(readable(row.sympy_format, self.features), row.complexity)
                for row in model.equations_.itertuples()]


def residual_bounds(residus: np.ndarray, niveau: float = 0.8) -> tuple[float, float]:
    """The residuals to add to a prediction for a ``niveau`` interval with equal tails, taken from ``n`` held-out
    residuals as split conformal prediction takes them: the ⌊(n+1)·α/2⌋-th smallest and the ⌈(n+1)·(1−α/2)⌉-th
    (α = 1 − ``niveau``), so that a new lot falls inside with probability ≥ ``niveau`` whatever ``n``; plain
    10th / 90th percentiles cover less on the sixty held-out lots of a small site × souche. NaN when ``n`` is too
    small for the ranks."""
    tries = np.sort(np.asarray(residus, dtype=float))
    n, alpha = len(tries), 1 - niveau
    bas, haut = math.floor((n + 1) * alpha / 2), math.ceil((n + 1) * (1 - alpha / 2))
    if bas < 1 or haut > n:
        return math.nan, math.nan
    return float(tries[bas - 1]), float(tries[haut - 1])


def _nb_candidats(nb_features: int) -> int:
    """Size of the term library of ``bibliotheque``: features, squares and products of two."""
    return nb_features + nb_features * (nb_features + 1) // 2


def _constants(expr: sympy.Expr) -> int:
    """Fitted constants of a formula (its numeric coefficients, the intercept included)."""
    return max(1, sum(1 for term in sympy.Add.make_args(expr) if term.atoms(sympy.Float) or term.is_Number))


def _rss(T: np.ndarray, y: np.ndarray, cols: list[int]) -> float:
    A = np.column_stack([np.ones(len(y)), T[:, cols]])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    r = y - A @ coef
    return float(r @ r)


def _forward_swap(T: np.ndarray, y: np.ndarray, max_terms: int) -> list[list[int]]:
    """Best term set of each size 1..max_terms: forward selection, then swaps while one lowers the error."""
    sets, chosen = [], []
    for _ in range(min(max_terms, T.shape[1])):
        rest = [k for k in range(T.shape[1]) if k not in chosen]
        chosen = chosen + [min(rest, key=lambda k: _rss(T, y, chosen + [k]))]
        improved = True
        while improved:
            improved = False
            best = _rss(T, y, chosen)
            for pos in range(len(chosen)):
                for k in (k for k in range(T.shape[1]) if k not in chosen):
                    trial = chosen[:pos] + [k] + chosen[pos + 1:]
                    rss = _rss(T, y, trial)
                    if rss < best * (1 - 1e-9):
                        chosen, best, improved = trial, rss, True
        sets.append(list(chosen))
    return sets


Combo = tuple[str, str]


def train_all(df: pd.DataFrame, *, seed: int, generations: int, min_lots: int, engine: str | None = None,
              baselines: bool = True) -> tuple[dict[Combo, SymbolicRegression], dict[Combo, str]]:
    """One regression per site × souche; combos with fewer than ``min_lots`` slaughtered lots are skipped.
    ``baselines=False``: the formulas alone, without their fair baselines (``baselines_`` and the best left unset).

    A feature never recorded for a combination (e.g. ``jeune_h`` in imported files that lack it) is
    left out of its formula rather than emptying it.
    """
    engine = engine or choose_engine()
    fitted, skipped = {}, {}
    done = df.dropna(subset=[CIBLE])
    for (site, souche), group in done.groupby(["site_code", "souche_code"]):
        features = tuple(f for f in FEATURES if group[f].notna().any())
        complete = group.dropna(subset=list(features))
        if len(complete) < min_lots:
            skipped[(site, souche)] = (f"{len(complete)} lots abattus avec données complètes "
                                       f"(minimum {min_lots})")
            continue
        fitted[(site, souche)] = SymbolicRegression(engine=engine, random_state=seed, generations=generations,
                                                    features=features, baselines=baselines).fit(complete)
    return fitted, skipped
