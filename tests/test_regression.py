"""Symbolic regression recovers the law planted by the simulator on several data sets and beats least
squares on held-out lots; engine choice never hangs."""

import os
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import sympy

from euralis_lib import db, jobs, validation
from euralis_lib.jobs import JobParameterError
from euralis_lib.models import regression
from euralis_lib.validation.regression import compare
from euralis_lib.validation.regression import score as score_regression


@pytest.fixture(scope="module")
def scored(sim_sets):
    """The regression scorer of the validation matrix on the suite's slice (several seeds and seasons)."""
    return pd.concat([score_regression(data).assign(jeu=validation.nom_jeu(data)) for data in sim_sets])


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
    assert part["jeu"].nunique() == 3 and len(part) >= 18
    assert part["valeur"].mean() >= 0.9, part[part["valeur"] < 1][["jeu", "cellule", "detail"]].to_string()


def test_formulas_beat_least_squares_on_the_same_held_out_lots(scored):
    gain = scored[scored["metrique"] == "gain_r2_vs_mco"]
    assert (gain["valeur"] > 0).all(), gain.sort_values("valeur").head().to_string()
    r2 = scored[scored["metrique"] == "r2_test"].set_index(["jeu", "cellule"])["valeur"]
    ceiling = scored[scored["metrique"] == "plafond_bruit_r2"].set_index(["jeu", "cellule"])["valeur"]
    assert (r2 <= ceiling + 0.01).all(), "a held-out R² above the noise ceiling means a leak"


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
    run = db.read_df(engine, "SELECT statut, engine, metriques FROM job_runs WHERE run_id = :r",
                     {"r": result["run_id"]}).iloc[0]
    assert run["statut"] == "success" and run["engine"] == "bibliotheque" and run["metriques"]["ignores"]


def test_wrong_parameter_type_is_refused_before_any_write(sim_db_url):
    engine = db.get_engine(sim_db_url)
    with pytest.raises(JobParameterError, match="'generations' must be int"):
        jobs.run_job("entrainement", engine, generations="beaucoup")
    assert db.read_df(engine, "SELECT count(*) AS n FROM job_runs")["n"][0] == 0
