"""Prophet forecasts: intervals, closures, and a backtest that beats the seasonal-naive baseline."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from euralis_lib import db, jobs, simulator
from euralis_lib.models import forecasting


@pytest.fixture(scope="module")
def daily_three_years():
    data = simulator.simulate(years=3, seed=42, end=date(2026, 6, 30))
    ab = data.abattages.merge(data.lots[["lot_id", "site_code"]])
    ab["production_kg"] = ab["nb_canards_abattus"] * ab["poids_foie_moyen_g"] / 1000
    ab["date"] = pd.to_datetime(ab["date_abattage"])
    days = pd.date_range(ab["date"].min(), date(2026, 6, 30))
    frames = [ab[ab["site_code"] == s].groupby("date")["production_kg"].sum().reindex(days, fill_value=0.0)
              .rename_axis("date").reset_index().assign(site_code=s) for s in ("LL", "LS", "MT")]
    return pd.concat(frames, ignore_index=True)


def test_prophet_beats_seasonal_naive_on_every_site(daily_three_years):
    for site, series in daily_three_years.groupby("site_code"):
        bt = forecasting.Backtest(horizons=(7, 30, 90), nb_origines=8, seed=0, croissance="flat").fit(series).results_
        mape = bt.groupby("modele")["mape"].mean()
        assert mape["prophet"] < mape["naif_saisonnier"], (site, bt)
        assert set(bt["horizon_jours"]) == {7, 30, 90}


def test_long_zero_stretches_are_closures_not_training_data():
    days = pd.date_range("2025-01-01", periods=60)
    kg = np.where((days >= "2025-01-20") & (days < "2025-02-10"), 0.0, 500.0)
    kg[5] = 0.0  # a single quiet day stays a real zero
    series = forecasting.training_series(pd.DataFrame({"date": days, "production_kg": kg}))
    assert series["y"].isna().sum() == 21 and series["y"].iloc[5] == 0.0


def test_job_writes_forecasts_with_intervals_and_backtest(sim_db_url):
    engine = db.get_engine(sim_db_url)
    result = jobs.run_job("previsions", engine, nb_origines=2)
    fc = db.read_df(engine, "SELECT * FROM previsions WHERE run_id = :r", {"r": result["run_id"]})
    assert fc.groupby(["site_code", "horizon_jours"]).size().to_dict() == {
        (s, h): h for s in ("LL", "LS", "MT") for h in (7, 30, 90)}
    assert ((fc["yhat_lower"] <= fc["yhat"]) & (fc["yhat"] <= fc["yhat_upper"])).all()
    assert (fc["yhat_lower"] >= 0).all()
    bt = db.read_df(engine, "SELECT * FROM previsions_backtest WHERE run_id = :r", {"r": result["run_id"]})
    assert set(bt["modele"]) == {"prophet", "naif_saisonnier"} and len(bt) == 18
    assert result["backtest"]["LL"]["prophet_mape_30j"] > 0


def test_bad_horizon_is_refused(sim_db_url):
    with pytest.raises(jobs.JobParameterError, match="horizons"):
        jobs.run_job("previsions", db.get_engine(sim_db_url), horizons=[0, 30])
