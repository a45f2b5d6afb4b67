"""Validation scorer for forecasting: chosen model vs the fair seasonal naive per site × horizon,
judged out of sample, and the planted season (peak month) recovered.

The backtest has ``NB_ORIGINES`` rolling origins per site. The choice is made with
:func:`forecasting.choisir` (the rule of the job and the Prévisions page) on the even origins and
scored on the odd ones, interleaved so both halves cover the seasons (:func:`choix_hors_echantillon`):
these out-of-sample ratios carry the issue's goals (« ≤ 0.8 × naive » on the median, « never worse than
naive » on the worst cell). The ratio on the backtest that made the choice is kept as information only:
it cannot exceed 1, since the naive is a candidate.

``score(donnees)`` returns one row per metric per cell with the validation matrix's columns
(``modele, cellule, metrique, valeur, reference, objectif, sens``): ``sens='max'`` means lower is
better and ``objectif`` is a ceiling judged on the worst data set.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd

from euralis_lib.models import forecasting
from euralis_lib.simulator import SimulatedData
from euralis_lib.validation import COLONNES, ligne

HORIZONS = (7, 30, 90)
NB_ORIGINES = 16  # 8 choose, 8 judge: with 4 judging origins one lucky naive origin decided a cell
HORIZONS_OBJECTIF_MEDIAN = (30, 90)
RATIO_MEDIAN = 0.8
DUREE_GAVAGE_JOURS = 11  # domain.md: fattening lasts about 11 days; slaughter follows the lot's start by that


def daily_production(donnees: SimulatedData) -> pd.DataFrame:
    """Daily liver production (kg) per site from simulated data, as
    :func:`euralis_lib.database.queries.production_journaliere` returns it from the database (first to last
    slaughter day, zeros where nothing was slaughtered)."""
    ab = donnees.abattages.merge(donnees.lots[["lot_id", "site_code"]], on="lot_id")
    ab["production_kg"] = (ab["nb_canards_abattus"] * ab["poids_foie_moyen_g"] / 1000.0).round(2)
    ab["date"] = pd.to_datetime(ab["date_abattage"])
    days = pd.date_range(ab["date"].min(), ab["date"].max())
    frames = [ab[ab["site_code"] == s].groupby("date")["production_kg"].sum().reindex(days, fill_value=0.0)
              .rename_axis("date").reset_index().assign(site_code=s)
              for s in sorted(donnees.gaveurs["site_code"].unique())]
    return pd.concat(frames, ignore_index=True)


def lots_sites(donnees: SimulatedData) -> pd.DataFrame:
    """Every lot with its site, planned end and slaughter outcome (:data:`forecasting.COLONNES_LOTS`)."""
    ab = donnees.abattages[["lot_id", "date_abattage", "nb_canards_abattus", "poids_foie_moyen_g"]]
    return donnees.lots.merge(ab, on="lot_id", how="left")[["site_code", *forecasting.COLONNES_LOTS]]


def planted_peak_month(donnees: SimulatedData) -> int:
    """Month of the planted production peak: the simulator's peak of lot starts plus a fattening."""
    jour_pic = int(donnees.truths("saisonnalite")["production"]["jour_pic"])
    return (date(2001, 1, 1) + timedelta(days=jour_pic - 1 + DUREE_GAVAGE_JOURS)).month


def ecart_mois(a: int, b: int) -> int:
    """Distance between two months (1–12) around the year: December to January is 1."""
    return min(abs(a - b), 12 - abs(a - b))


def _row(modele: str, cellule: str, metrique: str, valeur: float, reference: float = math.nan,
         objectif: float = math.nan) -> dict:
    """A lower-is-better row of the matrix (:func:`euralis_lib.validation.ligne`)."""
    return ligne(modele, cellule, metrique, valeur, reference=reference, objectif=objectif, sens="max")


def _moities(erreurs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Backtest rows of the even origins (they choose) and of the odd ones (they judge), interleaved so both
    halves cover the seasons."""
    rang = erreurs["origine"].rank(method="dense").astype(int)
    return erreurs[rang % 2 == 0], erreurs[rang % 2 == 1]


def choix_hors_echantillon(erreurs: pd.DataFrame) -> pd.DataFrame:
    """The choice judged on origins it did not see: chosen on the even origins, scored on the odd ones
    (:func:`_moities`). Per horizon: model, its MAPE and the naive's there."""
    choix_part, juge_part = _moities(erreurs)
    choix = forecasting.choisir(choix_part.groupby(["modele", "horizon_jours"], as_index=False)["ape"].mean()
                                .rename(columns={"ape": "mape"}).assign(site_code="-"))
    juge = juge_part.groupby(["modele", "horizon_jours"])["ape"].mean()
    return pd.DataFrame([{"horizon_jours": r.horizon_jours, "modele": r.modele,
                          "mape": juge.get((r.modele, r.horizon_jours), np.nan),
                          "mape_naif": juge.get((forecasting.NAIF, r.horizon_jours), np.nan)}
                         for r in choix.itertuples()])


def calendrier_connu(donnees: SimulatedData, site: str, erreurs: pd.DataFrame) -> pd.DataFrame:
    """A bound no forecaster can reach, on the backtest's origins and horizons (``erreurs``: the site's
    :attr:`forecasting.Backtest.erreurs_`): it knows when every future lot is slaughtered and whose it is
    (the simulator's draws of rests and fattening lengths), only not its size (a draw within the gaveur's
    archetype range): the lots in fattening count with their real kg, a future lot with its gaveur's mean kg
    per lot over the whole data set (hindsight) × the site's mean lot kg at that time of year (lots started
    within 30 days of the same day of the year, relative to the mean). Errors of the horizon total over the
    same open days as the models (``modele = 'calendrier_connu'``).

    If this bound is worse than the naive out of sample in a cell, that cell's « never worse than the naive »
    is decided by the size draws and by the naive's luck on the judging origins, not by a model."""
    lots = lots_sites(donnees)
    lots = lots[(lots["site_code"] == site) & lots["date_abattage"].notna()].copy()
    lots["kg"] = lots["nb_canards_abattus"] * lots["poids_foie_moyen_g"] / 1000
    lots["debut"], lots["abattage"] = pd.to_datetime(lots["debut"]), pd.to_datetime(lots["date_abattage"])
    doy = lots["debut"].dt.day_of_year.to_numpy() % 365
    kg = lots["kg"].to_numpy()
    saison = np.array([kg[np.minimum(abs(doy - d), 365 - abs(doy - d)) <= 30].mean() for d in doy]) / kg.mean()
    lots["kg_attendu"] = (lots["kg"] / saison).groupby(lots["gaveur_id"]).transform("mean") * saison
    y = forecasting.observed(daily_production(donnees).query("site_code == @site"))
    rows = []
    for r in erreurs[erreurs["modele"] == forecasting.NAIF].itertuples():
        ouverts = y[y.index > r.origine].iloc[:r.horizon_jours].dropna().index
        w = lots[lots["abattage"].isin(ouverts)]
        prevu = float(np.where(w["debut"] <= r.origine, w["kg"], w["kg_attendu"]).sum())
        rows.append({"origine": r.origine, "modele": "calendrier_connu", "horizon_jours": r.horizon_jours,
                     "ape": 100 * abs(r.reel - prevu) / r.reel, "ae": abs(r.reel - prevu), "reel": r.reel,
                     "prevu": prevu})
    return pd.DataFrame(rows, columns=erreurs.columns)


def score(donnees: SimulatedData) -> pd.DataFrame:
    """Backtest every site; per horizon, the choice scored against the fair naive out of sample (the
    goals) and on the backtest that made it (information), every candidate's ratio; peak month."""
    daily, lots = daily_production(donnees), lots_sites(donnees)
    pic = planted_peak_month(donnees)
    rows = []
    for site, series in daily.groupby("site_code"):
        fitted = forecasting.Backtest(horizons=HORIZONS, nb_origines=NB_ORIGINES, seed=0,
                                      croissance="flat").fit(series, lots[lots["site_code"] == site])
        bt = fitted.results_.assign(site_code=site)
        naif = bt[bt["modele"] == forecasting.NAIF].set_index("horizon_jours")["mape"]
        for r in choix_hors_echantillon(fitted.erreurs_).itertuples():
            cellule, ratio = f"{site}/{r.horizon_jours}j", r.mape / r.mape_naif
            rows.append(_row("previsions", cellule, f"mape_hors_choix_{r.horizon_jours}j", r.mape, r.mape_naif))
            rows.append(_row("previsions", cellule, f"ratio_naif_hors_choix_{r.horizon_jours}j", ratio, 1.0,
                             objectif=1.0))
            if r.horizon_jours in HORIZONS_OBJECTIF_MEDIAN:
                # The goal is on the matrix median: « chosen MAPE ≤ 0.8 × naive » in at least half
                # of the cells (a share, judged on the mean of these 0/1 rows).
                rows.append(ligne("previsions", cellule, f"part_ratio_sous_{RATIO_MEDIAN}_{r.horizon_jours}j",
                                  float(ratio <= RATIO_MEDIAN), objectif=0.5, sens="min"))
        for r in forecasting.choisir(bt).itertuples():
            rows.append(_row("previsions", f"{site}/{r.horizon_jours}j", f"ratio_naif_dans_choix_{r.horizon_jours}j",
                             r.ratio, 1.0))
        for r in bt[bt["modele"] != forecasting.NAIF].itertuples():
            rows.append(_row(f"previsions/{r.modele}", f"{site}/{r.horizon_jours}j", f"ratio_naif_{r.horizon_jours}j",
                             r.mape / naif[r.horizon_jours], 1.0))
        # Information: the same out-of-sample ratio for a bound that knows when every lot lands (calendrier_connu).
        _, juge = _moities(pd.concat([fitted.erreurs_, calendrier_connu(donnees, site, fitted.erreurs_)]))
        juge = juge.groupby(["modele", "horizon_jours"])["ape"].mean()
        for h in HORIZONS:
            if ("calendrier_connu", h) in juge.index:
                rows.append(_row("previsions/calendrier_connu", f"{site}/{h}j", f"ratio_naif_hors_choix_{h}j",
                                 juge[("calendrier_connu", h)] / juge[(forecasting.NAIF, h)], 1.0))
        mois = forecasting.peak_month(forecasting.observed(series))
        # Within one month: the planted peak (lot starts' peak day + a fattening) lies near a month's
        # boundary, where October and November production are nearly equal.
        rows.append(_row("previsions", site, "ecart_mois_pic", ecart_mois(mois, pic), objectif=1.0))
    out = pd.DataFrame(rows, columns=COLONNES)
    out["valeur"] = out["valeur"].astype(float).replace([np.inf], np.nan)
    return out
