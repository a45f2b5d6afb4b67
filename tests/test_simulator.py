"""The simulator: deterministic, within domain.md's orders of magnitude on several seeds, truths planted
only in the returned data (never in production tables)."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from euralis_lib import simulator, validation
from euralis_lib.database import db, queries
from euralis_lib.exceptions import DataLoadError
from tests.helpers.simulation import SIM_END


def _ols(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients (with an intercept first) and their standard errors."""
    A = np.column_stack([np.ones(len(X)), X])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    s2 = resid @ resid / (len(y) - A.shape[1])
    return coef, np.sqrt(np.diag(s2 * np.linalg.inv(A.T @ A)))


def test_same_seed_same_data_other_seed_other_data():
    a = simulator.simulate(years=1, seed=7, end=date(2025, 3, 31))
    b = simulator.simulate(years=1, seed=7, end=date(2025, 3, 31))
    c = simulator.simulate(years=1, seed=8, end=date(2025, 3, 31))
    for name in ("gaveurs", "lots", "doses", "abattages", "qualite", "alertes", "prix", "verites"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not a.abattages["poids_foie_moyen_g"].equals(c.abattages["poids_foie_moyen_g"])


def test_structure_matches_the_cooperative(sim_sets):
    for data in sim_sets:
        assert sorted(data.gaveurs["site_code"].unique()) == ["LL", "LS", "MT"]
        assert 60 <= len(data.gaveurs) <= 120
        assert data.lots.groupby("site_code")["souche_code"].nunique().between(2, 3).all()
        assert len(data.lots) > 1500, data.parametres


def test_lot_sizes_spread_from_small_rooms_to_large_buildings(sim_sets):
    for data in sim_sets:
        taille = data.lots["nb_canards_entres"]
        assert 0.05 <= (taille < 580).mean() <= 0.35, data.parametres  # small farms exist
        assert (taille > 2400).mean() >= 0.1 and 800 <= taille.median() <= 2000, data.parametres
        mortalite = 100 * data.lots["nb_morts"] / taille
        assert 1.0 <= mortalite.median() <= 4.0


def test_feeding_curves_within_domain_ranges(sim_sets):
    for data in sim_sets:
        complete = data.doses.groupby("lot_id").filter(lambda d: len(d) >= 20).sort_values("repas")
        first = complete.groupby("lot_id")["dose_theorique_g"].first()
        last = complete.groupby("lot_id")["dose_theorique_g"].last()
        assert first.between(180, 220).all()
        assert last.quantile(0.05) >= 380 and last.quantile(0.95) <= 480
        normal = set(data.lots["lot_id"]) - {int(k) for k in data.truths("anomalie")}
        total_kg = complete[complete["lot_id"].isin(normal)].groupby("lot_id")["dose_g"].sum() / 1000
        assert total_kg.quantile(0.05) >= 6.5 and total_kg.quantile(0.95) <= 10.5, data.parametres
        assert total_kg.std() >= 0.7, "corn doses must spread enough for the saturation to show"
        assert set(data.doses["horodatage"].dt.hour) == {6, 18}


def test_slaughter_outcomes_within_domain_ranges(sim_sets):
    for data in sim_sets:
        ab = data.abattages
        itm = ab["mais_total_kg"] / (ab["nb_canards_abattus"] * ab["poids_foie_moyen_g"] / 1000)
        assert 12 <= itm.median() <= 16 and itm.quantile(0.05) >= 11.5 and itm.quantile(0.95) <= 16.5
        assert 550 <= ab["poids_foie_moyen_g"].mean() <= 720
        assert ab["poids_foie_moyen_g"].quantile(0.01) >= 300, "legal minimum"
        grades = data.qualite.groupby("lot_id")["nb_foies"].sum()
        assert (grades == ab.set_index("lot_id")["nb_canards_abattus"].reindex(grades.index)).all()
        assert (pd.to_datetime(ab["date_abattage"]).dt.weekday != 6).all(), "no slaughter on Sundays"


def test_taux_de_fonte_centred_in_the_reference_range_and_rising_with_weight(sim_sets):
    for data in sim_sets:
        fonte = data.abattages["taux_fonte_pct"]
        assert 22.0 <= fonte.median() <= 25.0, data.parametres
        assert fonte.between(20, 27).mean() >= 0.9, data.parametres
        assert fonte.corr(data.abattages["poids_foie_moyen_g"]) >= 0.3


def test_autumn_peak_post_christmas_drop_and_sanitary_stop(sim_sets):
    for data in sim_sets:
        ab = data.abattages
        month = pd.to_datetime(ab["date_abattage"]).dt.month
        canards = ab.groupby(month)["nb_canards_abattus"].sum()
        assert canards[[11, 12]].sum() > 1.3 * canards[[6, 7]].sum(), data.parametres
        assert canards[1] < 0.7 * canards[12], f"January {canards[1]} vs December {canards[12]}"
        (site, stop), = data.truths("arret_sanitaire").items()
        d0, d1 = date.fromisoformat(stop["debut"]), date.fromisoformat(stop["fin"])
        assert (d1 - d0).days + 1 >= 28
        lots = data.lots[data.lots["site_code"] == site]
        assert not ((lots["debut"] <= d1) & (lots["fin"] >= d0)).any()


def test_fasting_lowers_liver_weight_at_the_domain_rate(sim_sets):
    """domain.md: ~723 g after 9 h vs ~675 g after 15 h of fasting, i.e. about 8 g per hour."""
    for data in sim_sets:
        f = validation.lot_features(data).dropna(subset=["poids_foie_moyen_g"])
        assert f["jeune_h"].between(6, 24).all()
        for (site, souche), sub in f.groupby(["site_code", "souche_code"]):
            if len(sub) < 80:
                continue
            d = sub["dose_totale_kg"].to_numpy()
            X = np.column_stack([d, d ** 2, sub["ecart_courbe_g"], sub["jeune_h"]])
            coef, se = _ols(X, sub["poids_foie_moyen_g"].to_numpy())
            assert -12 <= coef[4] <= -4, (site, souche, coef[4])


def test_liver_weight_saturates_in_corn(sim_sets):
    """The gain per extra kg of corn at high doses is well below the gain at low doses, and the
    curvature is clear in the data (a straight line cannot absorb it)."""
    for data in sim_sets:
        f = validation.lot_features(data).dropna(subset=["poids_foie_moyen_g"])
        for (site, souche), sub in f.groupby(["site_code", "souche_code"]):
            if len(sub) < 80:
                continue
            d = sub["dose_totale_kg"].to_numpy()
            coef, se = _ols(np.column_stack([d, d ** 2, sub["ecart_courbe_g"], sub["jeune_h"]]),
                            sub["poids_foie_moyen_g"].to_numpy())
            assert coef[2] / se[2] < -5, (site, souche)
            lo, hi = np.quantile(d, [0.1, 0.9])
            assert coef[1] + 2 * coef[2] * hi < 0.6 * (coef[1] + 2 * coef[2] * lo), (site, souche)


def test_planted_formula_explains_liver_weight_from_stored_features(shared_sim_url, sim_data):
    features = queries.lot_features(db.get_engine(shared_sim_url)).dropna(subset=["poids_foie_moyen_g"])
    for key, truth in sim_data.truths("formule").items():
        site, souche = key.split("/")
        sub = features[(features["site_code"] == site) & (features["souche_code"] == souche)]
        c = truth["coefficients"]
        predicted = (c["constante"] + c["dose_totale_kg"] * sub["dose_totale_kg"]
                     + c["dose_totale_kg**2"] * sub["dose_totale_kg"] ** 2
                     + c["ecart_courbe_g"] * sub["ecart_courbe_g"] + c["jeune_h"] * sub["jeune_h"])
        residual = sub["poids_foie_moyen_g"] - predicted
        assert len(sub) >= 40, key
        assert abs(residual.mean()) < 1.5 and residual.std() == pytest.approx(truth["bruit_sd_g"], rel=0.25), key


def test_in_memory_features_equal_the_database_query(shared_sim_url, sim_data):
    stored = queries.lot_features(db.get_engine(shared_sim_url)).set_index("lot_id")
    memory = validation.lot_features(sim_data).set_index("lot_id")
    cols = ["nb_repas", "dose_totale_kg", "dose_finale_g", "ecart_courbe_g", "mortalite_pct", "duree_jours",
            "poids_foie_moyen_g", "sigma_g", "itm", "jeune_h", "mais_total_kg", "poids_foie_total_kg"]
    pd.testing.assert_frame_equal(memory[cols].astype(float), stored.loc[memory.index, cols].astype(float),
                                  check_exact=False, atol=0.011)


def test_truths_cover_archetypes_and_anomalies(sim_sets):
    for data in sim_sets:
        archetypes = data.truths("archetype")
        assert set(archetypes) == {str(g) for g in data.gaveurs["gaveur_id"]}
        assert len({a["archetype"] for a in archetypes.values()}) == 4
        anomalies = data.truths("anomalie")
        assert 0.01 <= len(anomalies) / len(data.lots) <= 0.05
        assert {a["type"] for a in anomalies.values()} == {"mortalite", "alimentation", "sigma"}


def test_planted_anomalies_do_not_leak_into_alerts(sim_sets):
    """Alerts come only from what a site measures (mortality above 3 %), never from the planted truths."""
    for data in sim_sets:
        alertes = data.alertes
        assert set(alertes["type"]) == {"mortalite"}
        lots = data.lots.set_index("lot_id")
        measured = 100 * lots["nb_morts"] / lots["nb_canards_entres"]
        slaughtered = set(data.abattages["lot_id"])
        assert set(alertes["lot_id"]) == {i for i in measured[measured > 3.0].index if i in slaughtered}


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
