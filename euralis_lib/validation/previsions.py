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
    """Daily liver production (kg) per site from simulated data, as :func:`euralis_lib.queries.production_journaliere`
    returns it from the database (first to last slaughter day, zeros where nothing was slaughtered)."""
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


def choix_hors_echantillon(erreurs: pd.DataFrame) -> pd.DataFrame:
    """The choice judged on origins it did not see: chosen on the even origins, scored on the odd ones
    (interleaved, so both halves cover the seasons). Per horizon: model, its MAPE and the naive's there."""
    rang = erreurs["origine"].rank(method="dense").astype(int)
    choix_part, juge_part = erreurs[rang % 2 == 0], erreurs[rang % 2 == 1]
    choix = forecasting.choisir(choix_part.groupby(["modele", "horizon_jours"], as_index=False)["ape"].mean()
                                .rename(columns={"ape": "mape"}).assign(site_code="-"))
    juge = juge_part.groupby(["modele", "horizon_jours"])["ape"].mean()
    return pd.DataFrame([{"horizon_jours": r.horizon_jours, "modele": r.modele,
                          "mape": juge.get((r.modele, r.horizon_jours), np.nan),
                          "mape_naif": juge.get((forecasting.NAIF, r.horizon_jours), np.nan)}
                         for r in choix.itertuples()])


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
        mois = forecasting.peak_month(forecasting.observed(series))
        # Within one month: the planted peak (lot starts' peak day + a fattening) lies near a month's
        # boundary, where October and November production are nearly equal.
        rows.append(_row("previsions", site, "ecart_mois_pic", ecart_mois(mois, pic), objectif=1.0))
    out = pd.DataFrame(rows, columns=COLONNES)
    out["valeur"] = out["valeur"].astype(float).replace([np.inf], np.nan)
    return out
