"""Symbolic regression recovers the formulas planted by the simulator; engine choice never hangs."""

import os
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import sympy

from euralis_lib import db, jobs, queries
from euralis_lib.jobs import JobParameterError
from euralis_lib.models import regression


@pytest.fixture(scope="module")
def features(shared_sim_url):
    return queries.lot_features(db.get_engine(shared_sim_url))


def test_without_julia_the_engine_is_pyoperon(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("PYTHON_JULIAPKG_EXE", raising=False)
    assert regression.julia_available() is False
    assert regression.choose_engine() == "pyoperon"
    monkeypatch.setenv("PYTHON_JULIAPKG_EXE", str(tmp_path / "missing-julia"))
    assert regression.julia_available() is False


def test_a_broken_julia_falls_back_to_pyoperon_without_hanging(tmp_path):
    fake = tmp_path / "julia"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    code = "from euralis_lib.models import regression as r; print(r.julia_available(), r.choose_engine())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1].split() == ["True", "pyoperon"], out.stderr[-2000:]


def test_planted_formulas_are_recovered_on_held_out_lots(features, sim_data):
    fitted, skipped = regression.train_all(features, seed=0, generations=200, min_lots=40)
    planted = sim_data.truths("formule")
    assert {f"{s}/{so}" for s, so in fitted} == set(planted) and not skipped
    for (site, souche), model in fitted.items():
        retained = model.formula_
        assert retained.r2_test >= 0.95, (site, souche, retained.texte)
        assert model.engine_ == "pyoperon" and model.n_test_ >= 15
        used = {str(s) for s in retained.expression.free_symbols}
        assert {"dose_totale_kg", "ecart_courbe_g"} <= used, retained.texte
        slope = sympy.diff(retained.expression, sympy.Symbol("dose_totale_kg"))
        planted_b = planted[f"{site}/{souche}"]["coefficients"]["dose_totale_kg"]
        assert float(slope.subs({sympy.Symbol("dose_totale_kg"): 8.0})) == pytest.approx(planted_b, rel=0.25)
        complexities = [f.complexite for f in model.pareto_]
        assert len(model.pareto_) >= 3 and complexities == sorted(complexities)


def test_a_small_coefficient_term_is_found():
    rng = np.random.default_rng(1)
    n = 400
    df = pd.DataFrame({"x0": rng.uniform(1, 10, n), "x1": rng.uniform(1, 10, n), "x2": rng.uniform(1, 10, n)})
    df[regression.CIBLE] = 0.05 * df["x0"] * df["x1"] + 3 * df["x2"] + rng.normal(0, 0.01, n)
    model = regression.SymbolicRegression(features=("x0", "x1", "x2"), random_state=0, generations=200).fit(df)
    x0, x1, x2 = sympy.symbols("x0 x1 x2")
    poly = sympy.Poly(model.formula_.expression, x0, x1, x2)
    assert poly.coeff_monomial(x0 * x1) == pytest.approx(0.05, rel=0.05), model.formula_.texte
    assert poly.coeff_monomial(x2) == pytest.approx(3, rel=0.02)


def test_job_stores_fronts_with_engine_and_records_skipped_combos(sim_db_url):
    engine = db.get_engine(sim_db_url)
    result = jobs.run_job("entrainement", engine, sites=["LL"], generations=40, min_lots=400)
    rows = db.read_df(engine, "SELECT * FROM formules_regression WHERE run_id = :r", {"r": result["run_id"]})
    skipped = db.read_df(engine, "SELECT * FROM regression_ignores WHERE run_id = :r", {"r": result["run_id"]})
    assert set(rows["engine"]) == {"pyoperon"} and set(rows["site_code"]) == {"LL"}
    assert rows.groupby("souche_code")["est_retenue"].sum().eq(1).all()
    assert len(skipped) >= 1 and skipped["raison"].str.contains("minimum 400").all()
    run = db.read_df(engine, "SELECT statut, engine, metriques FROM job_runs WHERE run_id = :r",
                     {"r": result["run_id"]}).iloc[0]
    assert run["statut"] == "success" and run["engine"] == "pyoperon" and run["metriques"]["ignores"]


def test_wrong_parameter_type_is_refused_before_any_write(sim_db_url):
    engine = db.get_engine(sim_db_url)
    with pytest.raises(JobParameterError, match="'generations' must be int"):
        jobs.run_job("entrainement", engine, generations="beaucoup")
    assert db.read_df(engine, "SELECT count(*) AS n FROM job_runs")["n"][0] == 0
