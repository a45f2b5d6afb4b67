"""The simulator: deterministic, within the domain's orders of magnitude, with its truths planted."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from euralis_lib import db, queries, simulator
from euralis_lib.exceptions import DataLoadError
from tests.conftest import SIM_END


def test_same_seed_same_data_other_seed_other_data():
    a = simulator.simulate(years=1, seed=7, end=date(2025, 3, 31))
    b = simulator.simulate(years=1, seed=7, end=date(2025, 3, 31))
    c = simulator.simulate(years=1, seed=8, end=date(2025, 3, 31))
    for name in ("gaveurs", "lots", "doses", "abattages", "qualite", "alertes", "prix", "verites"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not a.abattages["poids_foie_moyen_g"].equals(c.abattages["poids_foie_moyen_g"])


def test_structure_matches_the_cooperative(sim_data):
    assert sorted(sim_data.gaveurs["site_code"].unique()) == ["LL", "LS", "MT"]
    assert 60 <= len(sim_data.gaveurs) <= 120
    per_site = sim_data.lots.groupby("site_code")["souche_code"].nunique()
    assert per_site.between(2, 3).all()
    assert len(sim_data.lots) > 1500


def test_lots_within_domain_ranges(sim_data):
    lots = sim_data.lots
    duree = (pd.to_datetime(lots["fin"]) - pd.to_datetime(lots["debut"])).dt.days + 1
    assert duree.between(10, 13).all()
    assert lots["nb_canards_entres"].between(100, 3200).all()
    assert lots["poids_entree_moyen_kg"].between(3.8, 4.5).all()
    mortalite = 100 * lots["nb_morts"] / lots["nb_canards_entres"]
    assert 1.0 <= mortalite.median() <= 4.0


def test_feeding_curves_within_domain_ranges(sim_data):
    doses = sim_data.doses
    complete = doses.groupby("lot_id").filter(lambda d: len(d) >= 20)
    first = complete.sort_values("repas").groupby("lot_id")["dose_theorique_g"].first()
    last = complete.sort_values("repas").groupby("lot_id")["dose_theorique_g"].last()
    assert first.between(180, 220).all() and last.between(400, 480).all()
    normal = set(sim_data.lots["lot_id"]) - {int(k) for k in sim_data.truths("anomalie")}
    total_kg = complete[complete["lot_id"].isin(normal)].groupby("lot_id")["dose_g"].sum() / 1000
    assert total_kg.quantile(0.05) >= 6.5 and total_kg.quantile(0.95) <= 10.0
    assert set(doses["horodatage"].dt.hour) == {6, 18}


def test_slaughter_outcomes_within_domain_ranges(sim_data):
    ab = sim_data.abattages
    itm = ab["mais_total_kg"] / (ab["nb_canards_abattus"] * ab["poids_foie_moyen_g"] / 1000)
    assert 12 <= itm.quantile(0.05) and itm.quantile(0.95) <= 16
    assert 550 <= ab["poids_foie_moyen_g"].mean() <= 720
    assert ab["poids_foie_moyen_g"].min() >= 300
    assert ab["taux_fonte_pct"].median() == pytest.approx(21, abs=3)
    grades = sim_data.qualite.groupby("lot_id")["nb_foies"].sum()
    assert (grades == ab.set_index("lot_id")["nb_canards_abattus"].reindex(grades.index)).all()
    jours = pd.to_datetime(ab["date_abattage"]).dt.weekday
    assert (jours != 6).all(), "no slaughter on Sundays"


def test_autumn_peak_and_sanitary_stop(sim_data):
    ab = sim_data.abattages.merge(sim_data.lots[["lot_id", "site_code"]])
    ab["kg"] = ab["nb_canards_abattus"] * ab["poids_foie_moyen_g"] / 1000
    month = pd.to_datetime(ab["date_abattage"]).dt.month
    assert ab[month.isin([11, 12])]["kg"].sum() / 2 > 1.3 * ab[month.isin([6, 7])]["kg"].sum() / 2
    (site, stop), = sim_data.truths("arret_sanitaire").items()
    d0, d1 = date.fromisoformat(stop["debut"]), date.fromisoformat(stop["fin"])
    assert (d1 - d0).days + 1 >= 28
    lots = sim_data.lots[sim_data.lots["site_code"] == site]
    assert not ((lots["debut"] <= d1) & (lots["fin"] >= d0)).any()


def test_planted_formula_explains_liver_weight_from_stored_features(shared_sim_url, sim_data):
    features = queries.lot_features(db.get_engine(shared_sim_url)).dropna(subset=["poids_foie_moyen_g"])
    for key, truth in sim_data.truths("formule").items():
        site, souche = key.split("/")
        sub = features[(features["site_code"] == site) & (features["souche_code"] == souche)]
        c = truth["coefficients"]
        predicted = (c["constante"] + c["dose_totale_kg"] * sub["dose_totale_kg"]
                     + c["poids_entree_moyen_kg*duree_jours"] * sub["poids_entree_moyen_kg"] * sub["duree_jours"]
                     + c["ecart_courbe_g"] * sub["ecart_courbe_g"])
        residual = sub["poids_foie_moyen_g"] - predicted
        assert len(sub) >= 40, key
        assert abs(residual.mean()) < 1.5 and residual.std() == pytest.approx(truth["bruit_sd_g"], rel=0.25), key


def test_truths_cover_archetypes_and_anomalies(sim_data):
    archetypes = sim_data.truths("archetype")
    assert set(archetypes) == {str(g) for g in sim_data.gaveurs["gaveur_id"]}
    assert len({a["archetype"] for a in archetypes.values()}) == 4
    anomalies = sim_data.truths("anomalie")
    assert 0.01 <= len(anomalies) / len(sim_data.lots) <= 0.05
    assert {a["type"] for a in anomalies.values()} == {"mortalite", "alimentation", "sigma"}


def test_load_refuses_a_database_with_data_and_replace_is_atomic(sim_db_url):
    engine = db.get_engine(sim_db_url)
    small = simulator.simulate(years=1, seed=3, end=SIM_END - timedelta(days=400))
    with pytest.raises(DataLoadError, match="already holds lots"):
        simulator.load(engine, small)
    counts = simulator.load(engine, small, replace=True)
    assert counts["lots_gavage"] == len(small.lots)
    assert simulator.planted_truths(engine)["arret_sanitaire"] == small.truths("arret_sanitaire")
    n = db.read_df(engine, "SELECT count(*) AS n FROM doses_gavage")["n"][0]
    assert n == len(small.doses)


def test_planted_truths_round_trip_through_the_database(shared_sim_url, sim_data):
    truths = simulator.planted_truths(db.get_engine(shared_sim_url))
    assert truths["formule"] == sim_data.truths("formule")
    assert set(truths["anomalie"]) == set(sim_data.truths("anomalie"))
    assert np.isclose(truths["saisonnalite"]["production"]["amplitude"], simulator.SAISON_AMPLITUDE)
