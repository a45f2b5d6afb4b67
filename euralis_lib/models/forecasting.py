"""Production forecasting (used by job ``previsions``): candidate models per site, chosen by backtest.

The series is daily liver production (kg) per site. Stretches of ``FERMETURE_JOURS`` or more days
without any slaughter are site closures (sanitary stops): every model, the baseline included, sees
them as missing, and the backtest leaves closed days out of the error (nobody forecasts an avian
influenza stop; what we judge is the production of an open site).

Candidates (:data:`MODELES`):

* ``naif_saisonnier`` — the baseline: the same weekday 364 days earlier; a day that was closed
  then is read one (then two) years earlier, or else as the site's mean for that weekday over the
  eight weeks before the origin. Same closure handling as the models, so the comparison is fair.
* ``prophet`` — Prophet on daily data (yearly + weekly seasonality, flat trend by default).
* ``lots_en_cours`` — the lots already in fattening at the origin: each lands the day after its
  planned end (Monday for a Sunday), weighing its ducks × the liver kg per duck entered of the
  site's lots slaughtered in the eight weeks before. Fattening lasts at least ``CARNET_JOURS``
  days, so every lot slaughtered in that window has already started; later days use ``harmonique``.
* ``harmonique`` — statsmodels SARIMAX on weekly totals with yearly Fourier terms as regressors
  (a harmonic regression; closed weeks are missing values for the Kalman filter). AR(1) errors were
  tried and doubled the 90-day error in backtests (lots land in waves, so last week says little
  about next quarter). Weekly totals are spread over the days by the site's weekday profile.

Errors are those of the total production over each horizon (7, 30, 90 days): daily slaughters are
lumpy (no slaughter on Sunday, a lot arrives in one day), so a daily percentage error measures when a
lot lands, not how much is produced; planning needs the volume of the week or month. The 7-day
figure is therefore the error on the next week's total. Rolling origins over the last year and a half;
per site and horizon the model with the lowest backtest MAPE is chosen (:func:`choisir`), the
baseline when nothing beats it.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

FERMETURE_JOURS = 14
SAISON_NAIVE_JOURS = 364
HARMONIQUES = 4
CARNET_JOURS = 10  # domain.md: fattening lasts 10–13 days
NAIF = "naif_saisonnier"
MODELES = (NAIF, "prophet", "harmonique", "lots_en_cours")
LIBELLES = {NAIF: "Naïf saisonnier", "prophet": "Prophet", "harmonique": "Régression harmonique (SARIMAX)",
            "lots_en_cours": "Lots en cours puis régression harmonique"}
COLONNES_LOTS = ["debut", "fin", "nb_canards_entres", "date_abattage", "nb_canards_abattus", "poids_foie_moyen_g"]


def _quiet_prophet() -> None:
    import cmdstanpy

    cmdstanpy.disable_logging()
    logging.getLogger("prophet").setLevel(logging.ERROR)


def observed(daily: pd.DataFrame) -> pd.Series:
    """Daily production indexed by date, closures (runs of ≥ FERMETURE_JOURS zero days) set to NaN."""
    s = daily.set_index("date")["production_kg"].astype(float).asfreq("D", fill_value=0.0)
    zero = s.eq(0)
    run_id = (zero != zero.shift()).cumsum()
    run_len = zero.groupby(run_id).transform("size")
    return s.mask(zero & (run_len >= FERMETURE_JOURS))


def training_series(daily: pd.DataFrame) -> pd.DataFrame:
    """Prophet's ``ds``/``y`` frame, with closures set to NaN."""
    y = observed(daily)
    return pd.DataFrame({"ds": y.index, "y": y.to_numpy()})


def _frame(days: pd.DatetimeIndex, yhat: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> pd.DataFrame:
    clip = lambda a: np.clip(np.asarray(a, dtype=float), 0, None)  # noqa: E731
    return pd.DataFrame({"ds": days, "yhat": clip(yhat), "yhat_lower": clip(lower), "yhat_upper": clip(upper)})


def prophet(y: pd.Series, periods: int, *, interval: float, seed: int, croissance: str) -> pd.DataFrame:
    """Fit Prophet (yearly + weekly seasonality) on ``y`` and forecast ``periods`` days after its end."""
    from prophet import Prophet

    _quiet_prophet()
    np.random.seed(seed)
    model = Prophet(growth=croissance, yearly_seasonality=True, weekly_seasonality=True, daily_seasonality=False,
                    interval_width=interval, uncertainty_samples=200)
    model.fit(pd.DataFrame({"ds": y.index, "y": y.to_numpy()}).dropna())
    future = pd.DataFrame({"ds": pd.date_range(y.index[-1] + pd.Timedelta(days=1), periods=periods)})
    out = model.predict(future)
    return _frame(pd.DatetimeIndex(out["ds"]), out["yhat"], out["yhat_lower"], out["yhat_upper"])


def seasonal_naive(y: pd.Series, periods: int, *, interval: float) -> pd.DataFrame:
    """Closure-aware seasonal naive after the end of ``y``; the interval comes from the past
    year-over-year differences of the same days (empirical quantiles)."""
    end = y.index[-1]
    days = pd.date_range(end + pd.Timedelta(days=1), periods=periods)
    pred = pd.Series(np.nan, index=days)
    for k in (1, 2, 3):
        lag = y.reindex(days - pd.Timedelta(days=k * SAISON_NAIVE_JOURS)).to_numpy()
        pred = pred.fillna(pd.Series(lag, index=days))
    recent = y[y.index > end - pd.Timedelta(days=56)].dropna()
    by_weekday = recent.groupby(recent.index.weekday).mean()
    pred = pred.fillna(pd.Series(days.weekday.map(by_weekday).to_numpy(dtype=float), index=days)).fillna(0.0)
    diffs = (y - y.shift(SAISON_NAIVE_JOURS)).dropna()
    lo, hi = (np.quantile(diffs, [(1 - interval) / 2, (1 + interval) / 2]) if len(diffs) else (0.0, 0.0))
    return _frame(days, pred.to_numpy(), pred.to_numpy() + lo, pred.to_numpy() + hi)


def _fourier(mid_days: pd.DatetimeIndex) -> np.ndarray:
    t = 2 * np.pi * mid_days.day_of_year.to_numpy() / 365.25
    return np.column_stack([f(k * t) for k in range(1, HARMONIQUES + 1) for f in (np.sin, np.cos)])


def _weekly(y: pd.Series) -> pd.Series:
    """Totals of the 7-day weeks ending on the last day of ``y`` (NaN if any day of the week is closed),
    indexed by each week's middle day; an incomplete first week is dropped."""
    n = len(y) // 7 * 7
    tail = y.iloc[len(y) - n:]
    values = tail.to_numpy().reshape(-1, 7)
    totals = np.where(np.isnan(values).any(axis=1), np.nan, np.nansum(values, axis=1))
    return pd.Series(totals, index=tail.index[3::7])


def _weekday_shares(y: pd.Series) -> np.ndarray:
    """Share of a week's production made on each weekday (Monday = 0), from the open days of ``y``."""
    means = y.dropna().groupby(y.dropna().index.weekday).mean().reindex(range(7), fill_value=0.0)
    total = means.sum()
    return (means / total).to_numpy() if total > 0 else np.full(7, 1 / 7)


def _fit_weekly(y: pd.Series):
    """Weekly totals of ``y`` and the SARIMAX harmonic regression fitted on them."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    weeks = _weekly(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = SARIMAX(weeks.to_numpy(), exog=_fourier(weeks.index), order=(0, 0, 0), trend="c").fit(disp=False)
    return weeks, fit


def harmonique(y: pd.Series, periods: int, *, interval: float) -> pd.DataFrame:
    """Harmonic regression on weekly totals (statsmodels SARIMAX, yearly Fourier terms), spread over
    days by the weekday profile of ``y``."""
    weeks, fit = _fit_weekly(y)
    n_ahead = -(-periods // 7)
    future_mid = weeks.index[-1] + pd.to_timedelta(7 * np.arange(1, n_ahead + 1), unit="D")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = fit.get_forecast(n_ahead, exog=_fourier(pd.DatetimeIndex(future_mid)))
    mean, ci = fc.predicted_mean, fc.conf_int(alpha=1 - interval)
    days = pd.date_range(y.index[-1] + pd.Timedelta(days=1), periods=periods)
    share = _weekday_shares(y)[days.weekday] * 7  # a day's weight relative to an average day
    week = np.arange(periods) // 7
    return _frame(days, mean[week] / 7 * share, ci[week, 0] / 7 * share, ci[week, 1] / 7 * share)


def _jour_abattage(fin: pd.Series) -> pd.Series:
    """Planned slaughter day: the day after the last meal, Monday instead of Sunday."""
    jour = pd.to_datetime(fin) + pd.Timedelta(days=1)
    return jour + pd.to_timedelta((jour.dt.weekday == 6).astype(int), unit="D")


def lots_en_cours(y: pd.Series, lots: pd.DataFrame, periods: int, *, interval: float,
                  base: pd.DataFrame | None = None) -> pd.DataFrame:
    """Known lots for the first ``CARNET_JOURS`` days after the end of ``y``, the harmonic regression after.

    ``lots``: one site's lots (:data:`COLONNES_LOTS`); only what was known at the origin is read
    (lots started by then, slaughters done by then). ``base``: the harmonic forecast when already made.
    """
    origin = y.index[-1]
    base = harmonique(y, periods, interval=interval) if base is None else base
    debut = pd.to_datetime(lots["debut"])
    fait = pd.to_datetime(lots["date_abattage"])
    recent = lots[(fait <= origin) & (fait > origin - pd.Timedelta(days=56)) & (lots["nb_canards_entres"] > 0)]
    if recent.empty:
        return base
    par_canard = recent["nb_canards_abattus"] * recent["poids_foie_moyen_g"] / 1000 / recent["nb_canards_entres"]
    kg_canard = float((par_canard * recent["nb_canards_entres"]).sum() / recent["nb_canards_entres"].sum())
    lo_r, hi_r = np.quantile(par_canard / kg_canard, [(1 - interval) / 2, (1 + interval) / 2])
    prevu = _jour_abattage(lots["fin"])
    en_cours = lots[(debut <= origin) & (prevu > origin)]
    kg = (en_cours["nb_canards_entres"] * kg_canard).groupby(prevu[en_cours.index]).sum()
    connu = base["ds"] <= origin + pd.Timedelta(days=CARNET_JOURS)
    yhat = kg.reindex(base.loc[connu, "ds"]).fillna(0.0).to_numpy()
    out = base.copy()
    out.loc[connu, "yhat"], out.loc[connu, "yhat_lower"], out.loc[connu, "yhat_upper"] = yhat, yhat * lo_r, yhat * hi_r
    return out


def predict(modele: str, y: pd.Series, periods: int, *, interval: float, seed: int, croissance: str,
            lots: pd.DataFrame | None = None, base: pd.DataFrame | None = None) -> pd.DataFrame:
    """Daily forecast (``ds``, ``yhat``, ``yhat_lower``, ``yhat_upper``) of one of :data:`MODELES`
    (``lots_en_cours`` needs the site's ``lots``; ``base``: its harmonic forecast if already made)."""
    if modele == "lots_en_cours":
        if lots is None:
            raise ValueError("the 'lots_en_cours' model needs the site's lots")
        return lots_en_cours(y, lots, periods, interval=interval, base=base)
    if modele == NAIF:
        return seasonal_naive(y, periods, interval=interval)
    if modele == "prophet":
        return prophet(y, periods, interval=interval, seed=seed, croissance=croissance)
    if modele == "harmonique":
        return harmonique(y, periods, interval=interval)
    raise ValueError(f"unknown forecasting model {modele!r}; choose among {', '.join(MODELES)}")


def peak_month(y: pd.Series) -> int:
    """Month (1–12) of highest mean daily production in a year of the harmonic model's seasonal curve."""
    _, fit = _fit_weekly(y)
    days = pd.date_range("2001-01-01", "2001-12-31")
    curve = pd.Series(_fourier(days) @ np.asarray(fit.params[1:1 + 2 * HARMONIQUES]), index=days)
    return int(curve.groupby(curve.index.month).mean().idxmax())


class Backtest(BaseEstimator):
    """Rolling-origin backtest of :data:`MODELES` for one site.

    Fitted attributes: ``erreurs_`` (one row per origin, model and horizon: absolute percentage
    and absolute errors of the horizon total) and ``results_`` (their means per model and horizon:
    MAPE, MAE, number of origins).
    """

    def __init__(self, *, horizons: tuple[int, ...], nb_origines: int, seed: int, croissance: str,
                 interval: float = 0.8, modeles: tuple[str, ...] = MODELES) -> None:
        self.horizons = horizons
        self.nb_origines = nb_origines
        self.seed = seed
        self.croissance = croissance
        self.interval = interval
        self.modeles = modeles

    def fit(self, daily: pd.DataFrame, lots: pd.DataFrame | None = None) -> Backtest:
        """Run the backtest on a site's daily series (needs > 1 year + the longest horizon); without the
        site's ``lots`` the ``lots_en_cours`` model is left out."""
        y = observed(daily)
        modeles = [m for m in self.modeles if lots is not None or m != "lots_en_cours"]
        h_max = max(self.horizons)
        last_origin = y.index[-1] - pd.Timedelta(days=h_max)
        first_possible = y.index[0] + pd.Timedelta(days=SAISON_NAIVE_JOURS + 60)
        if last_origin <= first_possible:
            raise ValueError("series too short for a backtest (needs about 14 months + the longest horizon)")
        step = max(7, int((last_origin - first_possible).days / self.nb_origines))
        origins = pd.date_range(end=last_origin, periods=self.nb_origines, freq=f"{step}D")
        errors: list[dict] = []
        for origin in origins:
            train = y[y.index <= origin]
            truth = y[(y.index > origin)].iloc[:h_max]
            faites: dict[str, pd.DataFrame] = {}
            for name in modeles:
                faites[name] = predict(name, train, h_max, interval=self.interval, seed=self.seed,
                                       croissance=self.croissance, lots=lots, base=faites.get("harmonique"))
                pred = faites[name]["yhat"].to_numpy()
                for h in self.horizons:
                    t, p = truth.iloc[:h].to_numpy(), pred[:h]
                    open_days = ~np.isnan(t)
                    if open_days.sum() < h / 2 or t[open_days].sum() <= 0:
                        continue  # mostly closed: nothing fair to judge
                    a, f = t[open_days].sum(), p[open_days].sum()
                    errors.append({"origine": origin, "modele": name, "horizon_jours": h,
                                   "ape": 100 * abs(a - f) / a, "ae": abs(a - f)})
        self.erreurs_ = pd.DataFrame(errors, columns=["origine", "modele", "horizon_jours", "ape", "ae"])
        self.results_ = (self.erreurs_.groupby(["modele", "horizon_jours"], sort=False)
                         .agg(mape=("ape", "mean"), mae=("ae", "mean"), nb_origines=("ape", "size")).reset_index())
        return self


def choisir(backtest: pd.DataFrame) -> pd.DataFrame:
    """Per site and horizon, the model with the lowest backtest MAPE (the baseline on a tie), with the
    baseline's MAPE and the ratio. Input: backtest rows with ``site_code``."""
    rows = []
    for (site, h), g in backtest.dropna(subset=["mape"]).groupby(["site_code", "horizon_jours"]):
        g = g.assign(rang=(g["modele"] != NAIF).astype(int)).sort_values(["mape", "rang"])
        best = g.iloc[0]
        naive = g.loc[g["modele"] == NAIF, "mape"]
        mape_naif = float(naive.iloc[0]) if len(naive) else np.nan
        rows.append({"site_code": site, "horizon_jours": int(h), "modele": best["modele"], "mape": float(best["mape"]),
                     "mape_naif": mape_naif, "ratio": float(best["mape"]) / mape_naif if mape_naif else np.nan})
    return pd.DataFrame(rows, columns=["site_code", "horizon_jours", "modele", "mape", "mape_naif", "ratio"])


def resume_choix(choix: pd.DataFrame) -> str:
    """French summary of :func:`choisir`'s table, per horizon: how often a model beats the naive and by
    how much (median, worst ratio). Measured figures only."""
    from euralis_lib.formatting import nombre

    phrases = []
    for h, g in choix.groupby("horizon_jours"):
        battus = g[g["modele"] != NAIF]
        phrases.append(f"À {h} jours : le naïf saisonnier est battu sur {len(battus)} site(s) sur {len(g)} ; "
                       f"rapport de MAPE au naïf médian {nombre(g['ratio'].median(), 2)}, "
                       f"le plus mauvais {nombre(g['ratio'].max(), 2)} "
                       f"(modèles retenus : {', '.join(sorted({LIBELLES.get(m, m) for m in g['modele']}))}).")
    return "\n".join(phrases)


def forecast_sites(daily: pd.DataFrame, *, horizons: tuple[int, ...], nb_origines: int, interval: float, seed: int,
                   croissance: str, lots: pd.DataFrame | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Backtest every site, choose a model per horizon, forecast with it (``lots``: every site's lots with
    ``site_code`` and :data:`COLONNES_LOTS`, for the ``lots_en_cours`` model).

    Returns the forecasts (``modele`` column: the chosen model; the baseline for a site without a
    backtest), the backtest rows (``retenu`` marks the chosen model) and the skipped sites.
    """
    forecasts, backtests, skipped = [], [], {}
    for site, series in daily.groupby("site_code"):
        series = series.sort_values("date")
        site_lots = None if lots is None else lots[lots["site_code"] == site]
        if series["production_kg"].gt(0).sum() < 60:
            skipped[site] = "moins de 60 jours avec abattage"
            continue
        try:
            bt = Backtest(horizons=horizons, nb_origines=nb_origines, seed=seed, croissance=croissance,
                          interval=interval).fit(series, site_lots).results_.assign(site_code=site)
        except ValueError as exc:
            skipped[site] = f"backtest impossible : {exc}"
            bt = pd.DataFrame(columns=["modele", "horizon_jours", "mape", "mae", "nb_origines", "site_code"])
        chosen = dict(zip(choisir(bt)["horizon_jours"], choisir(bt)["modele"], strict=True)) if len(bt) else {}
        bt["retenu"] = [chosen.get(h) == m for m, h in zip(bt["modele"], bt["horizon_jours"], strict=True)]
        backtests.append(bt)
        y = observed(series)
        cache: dict[str, pd.DataFrame] = {}
        for h in horizons:
            modele = chosen.get(h, NAIF)
            if modele not in cache:
                cache[modele] = predict(modele, y, max(horizons), interval=interval, seed=seed, croissance=croissance,
                                        lots=site_lots, base=cache.get("harmonique"))
            forecasts.append(cache[modele].head(h).assign(site_code=site, horizon_jours=h, modele=modele))
    fc_df = pd.concat(forecasts, ignore_index=True) if forecasts else pd.DataFrame()
    bt_df = pd.concat([b for b in backtests if len(b)], ignore_index=True) if backtests else pd.DataFrame()
    return fc_df, bt_df, skipped
