"""Production forecasting (used by job ``previsions``): Prophet per site, backtested against a baseline.

The series is daily liver production (kg) per site. Stretches of ``FERMETURE_JOURS`` or more days
without any slaughter are treated as site closures (sanitary stops) and left out of training.
Backtest: rolling origins over the last year; errors are computed on weekly totals (daily
slaughters are lumpy: many days are legitimately zero, where a percentage error means nothing),
for Prophet and for a seasonal-naive baseline (the same days one year earlier, 364 days, so
weekdays align). MAPE/MAE are those of the total production over each horizon (what planning needs), averaged over
origins; a site's overall comparison is the mean over horizons. Prophet's trend is flat by default
(``croissance='flat'``): over 3 months the cooperative's volume follows the season, not a trend, and
a free linear trend extrapolates recent swings; 'linear' remains available.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

FERMETURE_JOURS = 14
SAISON_NAIVE_JOURS = 364


def _quiet_prophet() -> None:
    import cmdstanpy

    cmdstanpy.disable_logging()
    logging.getLogger("prophet").setLevel(logging.ERROR)


def training_series(daily: pd.DataFrame) -> pd.DataFrame:
    """Prophet's ``ds``/``y`` frame, with closures (long runs of zeros) set to NaN."""
    s = daily.set_index("date")["production_kg"].astype(float).asfreq("D", fill_value=0.0)
    zero = s.eq(0)
    run_id = (zero != zero.shift()).cumsum()
    run_len = zero.groupby(run_id).transform("size")
    y = s.mask(zero & (run_len >= FERMETURE_JOURS))
    return pd.DataFrame({"ds": y.index, "y": y.to_numpy()})


def fit_predict(train: pd.DataFrame, periods: int, *, interval: float, seed: int, croissance: str) -> pd.DataFrame:
    """Fit Prophet (yearly + weekly seasonality) and forecast ``periods`` days after the last date."""
    from prophet import Prophet

    _quiet_prophet()
    np.random.seed(seed)
    model = Prophet(growth=croissance, yearly_seasonality=True, weekly_seasonality=True, daily_seasonality=False,
                    interval_width=interval, uncertainty_samples=200)
    model.fit(train.dropna())
    future = pd.DataFrame({"ds": pd.date_range(train["ds"].max() + pd.Timedelta(days=1), periods=periods)})
    out = model.predict(future)[["ds", "yhat", "yhat_lower", "yhat_upper"]]
    out[["yhat", "yhat_lower", "yhat_upper"]] = out[["yhat", "yhat_lower", "yhat_upper"]].clip(lower=0)
    return out


def seasonal_naive(series: pd.Series, start: pd.Timestamp, periods: int) -> pd.Series:
    """The same days 364 days earlier (weekday aligned)."""
    days = pd.date_range(start, periods=periods)
    return pd.Series(series.reindex(days - pd.Timedelta(days=SAISON_NAIVE_JOURS)).to_numpy(), index=days)


def _horizon_errors(actual: pd.Series, predicted: pd.Series) -> tuple[float | None, float]:
    """Absolute percentage error and absolute error of the total over the horizon."""
    a, p = float(actual.sum()), float(predicted.sum())
    return (abs(a - p) / a if a > 0 else None), abs(a - p)


class Backtest(BaseEstimator):
    """Rolling-origin backtest of Prophet against the seasonal-naive baseline for one site.

    Fitted attribute: ``results_`` (one row per model and horizon: MAPE, MAE, number of origins).
    """

    def __init__(self, *, horizons: tuple[int, ...], nb_origines: int, seed: int, croissance: str,
                 interval: float = 0.8) -> None:
        self.horizons = horizons
        self.nb_origines = nb_origines
        self.seed = seed
        self.croissance = croissance
        self.interval = interval

    def fit(self, daily: pd.DataFrame) -> Backtest:
        """Run the backtest on a site's daily series (needs > 1 year + the longest horizon)."""
        train_all = training_series(daily)
        actual = daily.set_index("date")["production_kg"].astype(float).asfreq("D", fill_value=0.0)
        h_max = max(self.horizons)
        last_origin = actual.index[-1] - pd.Timedelta(days=h_max)
        first_possible = actual.index[0] + pd.Timedelta(days=SAISON_NAIVE_JOURS + 60)
        if last_origin <= first_possible:
            raise ValueError("series too short for a backtest (needs about 14 months + the longest horizon)")
        origins = pd.date_range(end=last_origin, periods=self.nb_origines,
                                freq=f"{max(7, int((last_origin - first_possible).days / self.nb_origines))}D")
        errors: dict[tuple[str, int], tuple[list[float], list[float]]] = {}
        for origin in origins:
            train = train_all[train_all["ds"] <= origin]
            forecast = fit_predict(train, h_max, interval=self.interval, seed=self.seed,
                                   croissance=self.croissance).set_index("ds")["yhat"]
            naive = seasonal_naive(actual, origin + pd.Timedelta(days=1), h_max)
            truth = actual.reindex(forecast.index)
            for h in self.horizons:
                for name, pred in (("prophet", forecast), ("naif_saisonnier", naive)):
                    ape, ae = _horizon_errors(truth.iloc[:h], pred.iloc[:h].fillna(0))
                    bucket = errors.setdefault((name, h), ([], []))
                    if ape is not None:
                        bucket[0].append(ape)
                    bucket[1].append(ae)
        self.results_ = pd.DataFrame([
            {"modele": name, "horizon_jours": h, "mape": 100 * float(np.mean(ape)) if ape else np.nan,
             "mae": float(np.mean(ae)), "nb_origines": len(origins)}
            for (name, h), (ape, ae) in errors.items()])
        return self


def forecast_sites(daily: pd.DataFrame, *, horizons: tuple[int, ...], nb_origines: int, interval: float, seed: int,
                   croissance: str) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Forecasts and backtests for every site in ``daily``; sites without enough history are skipped."""
    forecasts, backtests, skipped = [], [], {}
    for site, series in daily.groupby("site_code"):
        series = series.sort_values("date")
        if series["production_kg"].gt(0).sum() < 60:
            skipped[site] = "moins de 60 jours avec abattage"
            continue
        fc = fit_predict(training_series(series), max(horizons), interval=interval, seed=seed, croissance=croissance)
        for h in horizons:
            forecasts.append(fc.head(h).assign(site_code=site, horizon_jours=h))
        try:
            backtest = Backtest(horizons=horizons, nb_origines=nb_origines, seed=seed, croissance=croissance,
                                interval=interval).fit(series)
            backtests.append(backtest.results_.assign(site_code=site))
        except ValueError as exc:
            skipped[site] = f"backtest impossible : {exc}"
    fc_df = pd.concat(forecasts, ignore_index=True) if forecasts else pd.DataFrame()
    bt_df = pd.concat(backtests, ignore_index=True) if backtests else pd.DataFrame()
    return fc_df, bt_df, skipped
