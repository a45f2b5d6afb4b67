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
* ``harmonique`` — statsmodels SARIMAX on weekly totals with yearly Fourier terms as regressors
  (a harmonic regression; closed weeks are missing values for the Kalman filter). AR(1) errors were
  tried and doubled the 90-day error in backtests (lots land in waves, so last week says little
  about next quarter). Weekly totals are spread over the days by the site's weekday profile.
* ``cycles`` — each gaveur's rhythm (:func:`cycles`): the lots in fattening land on their planned
  day, then every active gaveur starts his next lots after rests like the site's past ones at that
  time of year, with his usual number of ducks; the mean of simulated futures. It knows what a
  planner knows (who is fattening, who rests since when); on the simulator's 24 data sets it beats
  the naive out of sample where the harmonic regression and Prophet did not (``make validate``).

Errors are those of the total production over each horizon (7, 30, 90 days): daily slaughters are
lumpy (no slaughter on Sunday, a lot arrives in one day), so a daily percentage error measures when a
lot lands, not how much is produced; planning needs the volume of the week or month. The 7-day
figure is therefore the error on the next week's total. The percentage is that of an open-days total
of 7–90 days (windows mostly closed are skipped), never of a near-zero day, so it stays well defined.
Rolling origins over the last year and a half; per site and horizon the model with the lowest backtest
MAPE is chosen (:func:`choisir`, the one rule of the job, the Prévisions page and the validation
matrix), the baseline when nothing beats it. Few origins make that choice noisy: with 4 origins a
naive that happened to land within 1 % of three of them made a chosen model look 15 × worse.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from euralis_lib.models.noms import NAIF

FERMETURE_JOURS = 14
SAISON_NAIVE_JOURS = 364
HARMONIQUES = 4
CARNET_JOURS = 10  # domain.md: fattening lasts 10–13 days
CYCLES_CHEMINS = 200  # simulated futures per gaveur
CYCLES_FENETRE_JOURS = 10  # rests drawn from those that began within this many days of the same day of the year
CYCLES_RECUL_JOURS = 90  # longer than any rest outside a closure
CYCLES_INACTIF_JOURS = 120  # a gaveur without a lot started in this many days is taken as gone
MODELES = (NAIF, "prophet", "harmonique", "cycles")
A_LOTS = frozenset({"cycles"})  # models that need the site's lots
COLONNES_LOTS = ["gaveur_id", "debut", "fin", "nb_canards_entres", "date_abattage", "nb_canards_abattus",
                 "poids_foie_moyen_g"]


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


def _kg_par_canard(lots: pd.DataFrame, origin: pd.Timestamp) -> tuple[float, pd.Series] | None:
    """Liver kg per duck entered of the lots slaughtered in the eight weeks before ``origin`` (their
    mean weighted by ducks, and each lot's), or None when none was."""
    fait = pd.to_datetime(lots["date_abattage"])
    recent = lots[(fait <= origin) & (fait > origin - pd.Timedelta(days=56)) & (lots["nb_canards_entres"] > 0)]
    if recent.empty:
        return None
    par_canard = recent["nb_canards_abattus"] * recent["poids_foie_moyen_g"] / 1000 / recent["nb_canards_entres"]
    return float((par_canard * recent["nb_canards_entres"]).sum() / recent["nb_canards_entres"].sum()), par_canard


def _fenetre(doy: np.ndarray, centre: int) -> np.ndarray:
    """Days of the year within CYCLES_FENETRE_JOURS of ``centre``, around the year."""
    d = np.abs(doy - centre)
    return np.minimum(d, 365 - d) <= CYCLES_FENETRE_JOURS


def _histoire_cycles(y: pd.Series, lots: pd.DataFrame, origin: pd.Timestamp) -> dict | None:
    """What :func:`cycles` reads from the lots known at ``origin``: the site's past rests (slaughter to the
    gaveur's next start, those overlapping a closure of ``y`` left out) and fattening lengths, the lot size
    by day of the year relative to the mean, each active gaveur's last lot and usual size. None without
    enough history (30 rests, 10 slaughters, a slaughter in the last eight weeks)."""
    rendement = _kg_par_canard(lots, origin)
    lots = lots[pd.to_datetime(lots["debut"]) <= origin].copy()
    lots["debut"] = pd.to_datetime(lots["debut"])
    fait = pd.to_datetime(lots["date_abattage"])
    lots["abattage"] = fait.where(fait <= origin, _jour_abattage(lots["fin"]))
    lots = lots.sort_values(["gaveur_id", "debut"])
    suivant = lots.groupby("gaveur_id")["debut"].shift(-1)
    connu = lots["abattage"] <= origin
    # Rests that began in the last CYCLES_RECUL_JOURS are left out: the long ones have not ended yet, so
    # keeping the ended ones would favour short rests (the whole post-Christmas trough in January).
    repos = pd.DataFrame({"depuis": lots["abattage"], "jours": (suivant - lots["abattage"]).dt.days})[
        (lots["abattage"] <= origin - pd.Timedelta(days=CYCLES_RECUL_JOURS)) & suivant.notna()]
    cumul = y.isna().cumsum()
    fin_repos = repos["depuis"] + pd.to_timedelta(repos["jours"], unit="D")
    repos = repos[(cumul.reindex(fin_repos).to_numpy() - cumul.reindex(repos["depuis"]).to_numpy()) == 0]
    durees = (lots.loc[connu, "abattage"] - lots.loc[connu, "debut"]).dt.days.to_numpy()
    if rendement is None or len(repos) < 30 or len(durees) < 10:
        return None
    lots_doy = lots["debut"].dt.dayofyear.to_numpy() % 365
    taille = lots["nb_canards_entres"].to_numpy(dtype=float)
    facteur = np.array([taille[f].mean() if (f := _fenetre(lots_doy, d)).any() else np.nan for d in range(365)])
    facteur = np.nan_to_num(facteur / taille.mean(), nan=1.0)
    lots["norme"] = taille / facteur[lots_doy]
    derniers = lots.groupby("gaveur_id").tail(1)
    actifs = derniers[derniers["debut"] > origin - pd.Timedelta(days=CYCLES_INACTIF_JOURS)]
    habitude = lots[lots["debut"] > origin - pd.Timedelta(days=365)].groupby("gaveur_id")["norme"].mean()
    return {"kg_canard": rendement[0], "repos_doy": repos["depuis"].dt.dayofyear.to_numpy() % 365,
            "repos_jours": repos["jours"].to_numpy(), "durees": durees, "facteur_doy": facteur,
            "dernier_abattage": (actifs["abattage"] - origin).dt.days.to_numpy(),
            "dernier_canards": actifs["nb_canards_entres"].to_numpy(dtype=float),
            "habitude": habitude.reindex(actifs["gaveur_id"]).to_numpy()}


def cycles(y: pd.Series, lots: pd.DataFrame, periods: int, *, interval: float, seed: int) -> pd.DataFrame:
    """Each gaveur's rhythm carried forward from the origin (the end of ``y``).

    The lots in fattening land on their planned day (the day after their last meal, Monday for a
    Sunday) with their ducks × the liver kg per duck entered of the site's lots slaughtered in the eight
    weeks before. Then every active gaveur (a lot started in the last ``CYCLES_INACTIF_JOURS`` days)
    starts a next lot after a rest drawn from the site's past rests that began within
    ``CYCLES_FENETRE_JOURS`` of the same day of the year (earlier years: the season and the
    post-Christmas trough; an idle gaveur's rest is drawn among those longer than his rest so far),
    fattens it as long as one of the site's past lots, with his usual number of ducks (last year's,
    season removed) × the site's lot size at that time of year. ``CYCLES_CHEMINS`` simulated futures:
    ``yhat`` is their mean; the interval, their quantiles of the week around each day relative to its
    mean. Fattening lasts at least ``CARNET_JOURS`` days, so the first ``CARNET_JOURS`` days are exactly
    the lots in fattening.

    ``lots``: one site's lots (:data:`COLONNES_LOTS`, with ``gaveur_id``); only what was known at the
    origin is read. Falls back on :func:`harmonique` without enough history.
    """
    origin = y.index[-1]
    h = _histoire_cycles(y, lots, origin)
    if h is None:
        return harmonique(y, periods, interval=interval)
    rng = np.random.default_rng(seed)
    n = CYCLES_CHEMINS
    chemin = np.tile(np.arange(n), len(h["habitude"]))
    prod = np.zeros((n, periods + 1))
    cur = np.repeat(h["dernier_abattage"], n)  # each gaveur's last (or coming) slaughter, days after the origin
    en_cours = cur > 0
    sel = en_cours & (cur <= periods)
    np.add.at(prod, (chemin[sel], cur[sel]), np.repeat(h["dernier_canards"] * h["kg_canard"], n)[sel])
    minimum = np.where(en_cours, 1, 1 - cur)  # an idle gaveur starts after the origin
    taille = np.repeat(h["habitude"], n) * h["kg_canard"]
    vivant = cur <= periods
    while vivant.any():
        repos = np.zeros(len(cur), dtype=int)
        doy = (origin.dayofyear + cur) % 365
        for d, m in set(zip(doy[vivant].tolist(), minimum[vivant].tolist(), strict=True)):
            pool = h["repos_jours"][_fenetre(h["repos_doy"], d) & (h["repos_jours"] >= m)]
            idx = np.flatnonzero(vivant & (doy == d) & (minimum == m))
            repos[idx] = rng.choice(pool, len(idx)) if len(pool) else m + rng.integers(0, 7, len(idx))
        debut = cur + repos
        abattage = debut + rng.choice(h["durees"], len(cur))
        abattage += (origin.weekday() + abattage) % 7 == 6  # no slaughter on Sunday: Monday
        sel = vivant & (abattage <= periods)
        kg = taille * h["facteur_doy"][(origin.dayofyear + debut) % 365]
        np.add.at(prod, (chemin[sel], abattage[sel]), kg[sel])
        cur, minimum = np.where(vivant, abattage, cur), np.ones_like(minimum)
        vivant &= cur <= periods
    yhat = prod[:, 1:].mean(axis=0)
    # A day's production is lumpy (a lot lands or not), so the interval is that of the week around the day
    # across the simulated futures, relative to its mean, applied to the day's mean.
    semaine = np.apply_along_axis(lambda p: np.convolve(p, np.ones(7), mode="same"), 1, prod[:, 1:])
    moyenne = semaine.mean(axis=0)
    lo, hi = np.quantile(semaine, [(1 - interval) / 2, (1 + interval) / 2], axis=0) / np.where(moyenne > 0, moyenne, 1)
    return _frame(pd.date_range(origin + pd.Timedelta(days=1), periods=periods), yhat,
                  np.minimum(yhat * lo, yhat), np.maximum(yhat * hi, yhat))


def predict(modele: str, y: pd.Series, periods: int, *, interval: float, seed: int, croissance: str,
            lots: pd.DataFrame | None = None) -> pd.DataFrame:
    """Daily forecast (``ds``, ``yhat``, ``yhat_lower``, ``yhat_upper``) of one of :data:`MODELES`
    (``cycles`` needs the site's ``lots``)."""
    if modele in A_LOTS and lots is None:
        raise ValueError(f"the {modele!r} model needs the site's lots")
    if modele == "cycles":
        return cycles(y, lots, periods, interval=interval, seed=seed)
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
        site's ``lots`` the ``cycles`` model is left out."""
        y = observed(daily)
        modeles = [m for m in self.modeles if lots is not None or m not in A_LOTS]
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
            for name in modeles:
                pred = predict(name, train, h_max, interval=self.interval, seed=self.seed,
                               croissance=self.croissance, lots=lots)["yhat"].to_numpy()
                for h in self.horizons:
                    t, p = truth.iloc[:h].to_numpy(), pred[:h]
                    open_days = ~np.isnan(t)
                    if open_days.sum() < h / 2 or t[open_days].sum() <= 0:
                        continue  # mostly closed: nothing fair to judge
                    a, f = t[open_days].sum(), p[open_days].sum()
                    errors.append({"origine": origin, "modele": name, "horizon_jours": h,
                                   "ape": 100 * abs(a - f) / a, "ae": abs(a - f), "reel": a, "prevu": f})
        self.erreurs_ = pd.DataFrame(errors, columns=["origine", "modele", "horizon_jours", "ape", "ae", "reel",
                                                      "prevu"])
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


def forecast_sites(daily: pd.DataFrame, *, horizons: tuple[int, ...], nb_origines: int, interval: float, seed: int,
                   croissance: str, lots: pd.DataFrame | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Backtest every site, choose a model per horizon, forecast with it (``lots``: every site's lots with
    ``site_code`` and :data:`COLONNES_LOTS`, for the ``cycles`` model).

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
                                        lots=site_lots)
            forecasts.append(cache[modele].head(h).assign(site_code=site, horizon_jours=h, modele=modele))
    fc_df = pd.concat(forecasts, ignore_index=True) if forecasts else pd.DataFrame()
    bt_df = pd.concat([b for b in backtests if len(b)], ignore_index=True) if backtests else pd.DataFrame()
    return fc_df, bt_df, skipped
