"""Symbolic regression recovers the law planted by the simulator on several data sets and matches fair
baselines (ridge/lasso over the same term library, gradient boosting) on the same held-out lots with
far fewer terms; engine choice never hangs."""

import os
import stat
import subprocess
import sys
from datetime import date

import numpy as np
import pandas as pd
import pytest
import sympy

from euralis_lib import jobs, simulator, validation
from euralis_lib.database import db
from euralis_lib.jobs import JobParameterError, results
from euralis_lib.models import baselines, noms, regression
from euralis_lib.validation.regression import compare
from euralis_lib.validation.regression import score as score_regression
from tests.helpers.simulation import scorer_rows

# A data set used nowhere else (not in the matrix, the suite's slice or any development run).
UNSEEN_SEED, UNSEEN_END = 29, date(2026, 2, 28)


@pytest.fixture(scope="module")
def scored(slice_rows):
    """The regression scorer of the validation matrix on the suite's slice (several seeds and seasons) and on
    one unseen seed."""
    unseen = simulator.simulate(years=2, seed=UNSEEN_SEED, end=UNSEEN_END)
    return pd.concat([scorer_rows(slice_rows, "regression"),
                      score_regression(unseen).assign(jeu=validation.nom_jeu(unseen))])


def _par_cellule(scored: pd.DataFrame, metrique: str) -> pd.Series:
    return scored[scored["metrique"] == metrique].set_index(["jeu", "cellule"])["valeur"]


def test_without_julia_the_engine_is_the_term_library(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("PYTHON_JULIAPKG_EXE", raising=False)
    assert regression.julia_available() is False
    assert regression.choose_engine() == "bibliotheque"
    monkeypatch.setenv("PYTHON_JULIAPKG_EXE", str(tmp_path / "missing-julia"))
    assert regression.julia_available() is False


def test_a_broken_julia_falls_back_without_hanging(tmp_path):
    fake = tmp_path / "julia"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    code = "from euralis_lib.models import regression as r; print(r.julia_available(), r.choose_engine())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1].split() == ["True", "bibliotheque"], out.stderr[-2000:]


def test_planted_structure_is_recovered_on_the_slice(scored):
    """Terms present with coefficients within 10 % in at least 90 % of site × souche × data set."""
    part = scored[scored["metrique"] == "part_structure_retrouvee"]
    assert part["jeu"].nunique() == 4 and f"{UNSEEN_SEED}/{UNSEEN_END}" in set(part["jeu"]) and len(part) >= 24
    assert part["valeur"].mean() >= 0.9, part[part["valeur"] < 1][["jeu", "cellule", "detail"]].to_string()


def test_formula_is_within_0005_r2_of_the_best_fair_baseline_on_the_same_held_out_lots(scored):
    ecart = _par_cellule(scored, "ecart_r2_vs_meilleure_reference")
    assert len(ecart) >= 24
    details = scored[scored["metrique"] == "r2_test"].set_index(["jeu", "cellule"])["detail"]
    worst = ecart.sort_values().head(3)
    assert (ecart >= -0.005).all(), "\n".join(f"{k}: {v:+.4f} {details[k]}" for k, v in worst.items())
    r2, ceiling = _par_cellule(scored, "r2_test"), _par_cellule(scored, "plafond_bruit_r2")
    assert (r2 <= ceiling + 0.01).all(), "a held-out R² above the noise ceiling means a leak"


def test_formula_has_fewer_terms_than_the_polynomial_baseline(scored):
    marge = _par_cellule(scored, "marge_termes_vs_polynomiale")
    assert len(marge) >= 24
    assert (marge >= 1).all(), marge.sort_values().head().to_string()
    assert (_par_cellule(scored, "termes_formule") + marge == _par_cellule(scored, "termes_polynomiale")).all()


def test_baselines_are_not_built_to_lose_on_a_saturating_law():
    """On a law of the simulator's shape, the polynomial baseline reaches the noise ceiling where a straight
    line does not (the control: plain least squares on the features), and boosting learns it too."""
    rng = np.random.default_rng(5)
    n = 400
    X = np.column_stack([rng.uniform(6.5, 10.5, n), rng.uniform(5, 30, n), rng.uniform(8, 16, n)])
    y = 200 * X[:, 0] - 9.5 * X[:, 0] ** 2 - 2 * X[:, 1] - 7 * X[:, 2] + rng.normal(0, 4, n)
    train, test = slice(0, 300), slice(300, n)
    found = baselines.fit_baselines(X[train], y[train], X[test], y[test], ("d", "e", "j"), random_state=0)
    assert [b.nom for b in found] == ["polynomiale_ridge", "polynomiale_lasso", "boosting"]
    ceiling = 1 - 16 / np.var(y[test])
    poly = baselines.polynomial_choice(found)
    assert poly.r2_test >= ceiling - 0.01, found
    A = np.column_stack([np.ones(300), X[train]])
    coef, *_ = np.linalg.lstsq(A, y[train], rcond=None)
    linear = 1 - np.mean((y[test] - np.column_stack([np.ones(100), X[test]]) @ coef) ** 2) / np.var(y[test])
    assert linear < ceiling - 0.02 < poly.r2_test - 0.01, (linear, poly)
    assert next(b for b in found if b.nom == "boosting").r2_test > 0.8
    assert baselines.best(found).r2_test == max(poly.r2_test, found[2].r2_test)


def test_compare_needs_every_planted_term_within_tolerance():
    d, e = sympy.symbols("dose_totale_kg ecart_courbe_g")
    planted = {"constante": 10.0, "dose_totale_kg": 100.0, "dose_totale_kg**2": -5.0, "ecart_courbe_g": -2.0}
    assert compare(300 + 105 * d - 5.2 * d ** 2 - 2 * e, planted)[0]
    assert not compare(300 + 115 * d - 5 * d ** 2 - 2 * e, planted)[0]
    assert compare(300 + 100 * d - 5 * d ** 2 - 2 * e + 0.1 * d * e, planted) == (True, 0.0, 1)
    assert not compare(300 + 60 * d - 2 * e, planted)[0]


@pytest.mark.parametrize("engine", ["bibliotheque", "pyoperon"])
def test_a_small_coefficient_term_is_found(engine):
    rng = np.random.default_rng(1)
    n = 400
    df = pd.DataFrame({"x0": rng.uniform(1, 10, n), "x1": rng.uniform(1, 10, n), "x2": rng.uniform(1, 10, n)})
    df[regression.CIBLE] = 0.05 * df["x0"] * df["x1"] + 3 * df["x2"] + rng.normal(0, 0.01, n)
    model = regression.SymbolicRegression(features=("x0", "x1", "x2"), random_state=0, generations=200,
                                          engine=engine).fit(df)
    x0, x1, x2 = sympy.symbols("x0 x1 x2")
    poly = sympy.Poly(model.formula_.expression, x0, x1, x2)
    assert poly.coeff_monomial(x0 * x1) == pytest.approx(0.05, rel=0.05), model.formula_.texte
    assert poly.coeff_monomial(x2) == pytest.approx(3, rel=0.02)


def test_a_feature_never_recorded_is_left_out_instead_of_emptying_the_formula(sim_sets):
    lots = validation.lot_features(sim_sets[0]).assign(jeune_h=np.nan)
    lots = lots[lots["site_code"] == "LL"]
    fitted, skipped = regression.train_all(lots, seed=0, generations=0, min_lots=40)
    assert fitted and not skipped
    for model in fitted.values():
        assert "jeune_h" not in model.features and "jeune_h" not in model.formula_.texte


def test_job_stores_fronts_with_engine_and_records_skipped_combos(sim_db_url):
    engine = db.get_engine(sim_db_url)
    result = jobs.run_job("entrainement", engine, sites=["LL"], generations=40, min_lots=400)
    rows = db.read_df(engine, "SELECT * FROM formules_regression WHERE run_id = :r", {"r": result["run_id"]})
    skipped = db.read_df(engine, "SELECT * FROM regression_ignores WHERE run_id = :r", {"r": result["run_id"]})
    assert set(rows["engine"]) == {"bibliotheque"} and set(rows["site_code"]) == {"LL"}
    assert rows.groupby("souche_code")["est_retenue"].sum().eq(1).all()
    assert len(skipped) >= 1 and skipped["raison"].str.contains("minimum 400").all()
    refs = db.read_df(engine, "SELECT * FROM regression_references WHERE run_id = :r", {"r": result["run_id"]})
    par_combo = refs.groupby("souche_code")
    assert set(refs["reference"]) == {"polynomiale_ridge", "polynomiale_lasso", "boosting"}
    assert par_combo.size().eq(3).all() and par_combo["est_meilleure"].sum().eq(1).all()
    assert par_combo["est_polynomiale"].sum().eq(1).all() and len(par_combo) == rows["souche_code"].nunique()
    retenues = results.formules_retenues(engine, result["run_id"]).data
    assert len(retenues) == len(par_combo) and retenues["meilleure_reference"].notna().all()
    assert set(retenues["meilleure_reference"]) <= set(noms.REFERENCES.values())
    assert (retenues["ecart_r2"] - (retenues["r2_test"] - retenues["r2_meilleure_reference"])).abs().max() < 1e-9
    run = db.read_df(engine, "SELECT statut, engine, metriques FROM job_runs WHERE run_id = :r",
                     {"r": result["run_id"]}).iloc[0]
    assert run["statut"] == "success" and run["engine"] == "bibliotheque" and run["metriques"]["ignores"]
    assert all("r2_test_meilleure_reference" in m for m in run["metriques"]["modeles"].values())


def test_wrong_parameter_type_is_refused_before_any_write(sim_db_url):
    engine = db.get_engine(sim_db_url)
    with pytest.raises(JobParameterError, match="'generations' must be int"):
        jobs.run_job("entrainement", engine, generations="beaucoup")
    assert db.read_df(engine, "SELECT count(*) AS n FROM job_runs")["n"][0] == 0


def test_quality_page_shows_the_best_baseline_next_to_each_formula(sim_db_url):
    from euralis_lib.dashboards import common, qualite

    engine = db.get_engine(sim_db_url)
    jobs.run_job("entrainement", engine, publier=True, sites=["LL"], generations=0, min_lots=40)
    ctx = common.Contexte(engine, common.Filters(date(2026, 1, 1), date(2026, 6, 30), ["LL"]), lambda: None)
    texte = common.instantane(qualite.formules(ctx)[2])
    assert "Meilleure référence" in texte and "R² meilleure référence (mêmes lots)" in texte
    assert "polynomiale (" in texte or "boosting de gradient" in texte
