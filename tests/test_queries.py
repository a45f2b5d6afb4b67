"""The data layer on real simulated data, with filters, against independent SQL."""

import time
from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from euralis_lib.database import db, queries
from tests.helpers.simulation import SIM_END

PERIOD = (SIM_END - timedelta(days=89), SIM_END)


@pytest.fixture(scope="module")
def engine(shared_sim_url):
    return db.get_engine(shared_sim_url)


def test_sites(engine):
    df = queries.sites(engine)
    assert list(df["site_code"]) == ["LL", "LS", "MT"]
    assert (df["nb_gaveurs"] > 0).all()


def test_data_period_and_default_period(engine):
    first, last = queries.data_period(engine)
    assert last == SIM_END and first < SIM_END - timedelta(days=700)
    assert queries.default_period(engine) == (SIM_END - timedelta(days=29), SIM_END)


@pytest.mark.parametrize("bad, message", [
    ({"sites": ["LL", "XX"]}, "valid choices are LL, LS, MT"),
    ({"debut": date(2026, 5, 1), "fin": date(2026, 4, 1)}, "Inverted period"),
    ({"debut": "2026-05-01"}, "must be a date"),
])
def test_bad_filters_raise_value_error(engine, bad, message):
    for fn in (queries.dashboard_kpis, queries.gaveur_performances, queries.qualite_lots,
               queries.finance_indicateurs, queries.lot_features, queries.production_journaliere):
        with pytest.raises(ValueError, match=message):
            fn(engine, **bad)


def test_dashboard_kpis_match_independent_sql(engine):
    kpis = queries.dashboard_kpis(engine, debut=PERIOD[0], fin=PERIOD[1]).set_index("site_code")
    raw = db.read_df(engine, """
        SELECT l.site_code, sum(a.nb_canards_abattus * a.poids_foie_moyen_g) / 1000 AS kg
        FROM abattages a JOIN lots_gavage l USING (lot_id)
        WHERE a.date_abattage BETWEEN :d0 AND :d1 GROUP BY 1""",
        {"d0": PERIOD[0], "d1": PERIOD[1]}).set_index("site_code")
    assert kpis["production_totale_kg"].to_dict() == pytest.approx(raw["kg"].astype(float).to_dict(), abs=1)
    lots = db.read_df(engine, "SELECT site_code, count(*) AS n FROM lots_gavage WHERE debut <= :d1 AND fin >= :d0 "
                      "GROUP BY 1", {"d0": PERIOD[0], "d1": PERIOD[1]}).set_index("site_code")["n"]
    assert kpis["nb_lots_actifs"].to_dict() == lots.to_dict()
    assert (kpis["nb_gaveurs_actifs"] <= queries.sites(engine).set_index("site_code")["nb_gaveurs"]).all()
    crit = db.read_df(engine, "SELECT count(*) AS n FROM alertes WHERE severite = 'critique' "
                      "AND horodatage::date BETWEEN :d0 AND :d1", {"d0": PERIOD[0], "d1": PERIOD[1]})["n"][0]
    assert kpis["nb_alertes_critiques"].sum() == crit


def test_dashboard_kpis_site_filter_and_default_period(engine):
    one = queries.dashboard_kpis(engine, sites="LS")
    assert list(one["site_code"]) == ["LS"]
    everything = queries.dashboard_kpis(engine).set_index("site_code")
    assert one.set_index("site_code").loc["LS"].equals(everything.loc["LS"])
    assert (everything["production_totale_kg"] > 0).all()


def test_production_journaliere_is_continuous_with_zeros(engine):
    df = queries.production_journaliere(engine, sites=["LL"], debut=PERIOD[0], fin=PERIOD[1])
    assert len(df) == 90 and (df["site_code"] == "LL").all()
    assert (df["production_kg"] == 0).any() and df["production_kg"].sum() > 0
    total = queries.dashboard_kpis(engine, sites="LL", debut=PERIOD[0], fin=PERIOD[1])["production_totale_kg"][0]
    assert df["production_kg"].sum() == pytest.approx(total, abs=1)


def test_gaveur_performances_rank_and_filters(engine):
    df = queries.gaveur_performances(engine, sites=["MT"], debut=PERIOD[0], fin=PERIOD[1])
    assert (df["site_code"] == "MT").all() and df["rang"].min() == 1
    best = df.sort_values("itm").iloc[0]
    assert best["rang"] == 1
    assert df["itm"].between(10, 18).all() and df["mortalite_pct"].between(0, 25).all()
    two = queries.gaveur_performances(engine, gaveurs=df["gaveur_id"].head(2).tolist())
    assert sorted(two["gaveur_id"]) == sorted(df["gaveur_id"].head(2))


def test_qualite_lots_and_resume(engine):
    lots = queries.qualite_lots(engine, sites=["LL", "LS"], debut=PERIOD[0], fin=PERIOD[1])
    assert set(lots["site_code"]) == {"LL", "LS"}
    assert lots["pct_extra"].between(0, 100).all()
    resume = queries.qualite_resume(engine, sites=["LL", "LS"], debut=PERIOD[0], fin=PERIOD[1])
    assert resume["nb_lots"].sum() == len(lots)
    assert (resume["itm_p10"] <= resume["itm_p50"]).all() and (resume["itm_p50"] <= resume["itm_p90"]).all()


def test_finance_matches_a_lot_recomputed_by_hand(engine):
    lot = db.read_df(engine, """
        SELECT l.lot_id, l.site_code, l.debut, l.nb_canards_entres, a.date_abattage, a.nb_canards_abattus,
               a.mais_total_kg, g.distance_km, g.gaveur_id
        FROM lots_gavage l JOIN abattages a USING (lot_id) JOIN gaveurs g USING (gaveur_id)
        WHERE a.date_abattage = :d ORDER BY l.lot_id LIMIT 1""", {"d": PERIOD[1] - timedelta(days=3)}).iloc[0]
    prices = db.read_df(engine, "SELECT parametre, valide_du, valeur FROM prix_parametres")

    def price(name, day):
        p = prices[(prices["parametre"] == name) & (prices["valide_du"] <= day)]
        return float(p.sort_values("valide_du")["valeur"].iloc[-1])

    day = lot["date_abattage"]
    grades = db.read_df(engine, "SELECT grade, poids_kg FROM qualite_foies WHERE lot_id = :l",
                        {"l": int(lot["lot_id"])})
    names = {"Extra": "extra", "Premier choix": "premier_choix", "Second choix": "second_choix", "Declasse": "declasse"}
    revenu = sum(float(r.poids_kg) * price(f"prix_foie_{names[r.grade]}_eur_kg", day) for r in grades.itertuples())
    revenu += lot["nb_canards_abattus"] * price("prix_carcasse_eur_canard", day)
    couts = (lot["nb_canards_entres"] * (price("prix_canard_pag_eur", lot["debut"])
                                         + price("cout_main_oeuvre_eur_canard", day)
                                         + price("cout_energie_eur_canard", day))
             + float(lot["mais_total_kg"]) * price("prix_mais_eur_kg", day)
             + 2 * float(lot["distance_km"]) * price("cout_transport_eur_km", day))
    df = queries.finance_indicateurs(engine, sites=lot["site_code"], debut=day, fin=day, niveau="gaveur")
    row = df[df["gaveur_id"] == lot["gaveur_id"]].iloc[0]
    assert row["nb_lots"] == 1
    assert row["revenu_eur"] == pytest.approx(revenu, rel=1e-6)
    assert row["couts_eur"] == pytest.approx(couts, rel=1e-6)
    assert row["marge_eur"] == pytest.approx(revenu - couts, rel=1e-6)


def test_finance_per_site_and_month(engine):
    df = queries.finance_indicateurs(engine, debut=PERIOD[0], fin=PERIOD[1])
    assert set(df["site_code"]) == {"LL", "LS", "MT"}
    assert df["mois"].dt.day.eq(1).all()
    assert (df["marge_eur"] == df["revenu_eur"] - df["couts_eur"]).all()
    assert df["marge_pct"].between(-50, 60).all()
    with pytest.raises(ValueError, match="niveau"):
        queries.finance_indicateurs(engine, niveau="region")


def test_lot_features_include_running_lots_without_outcomes(engine):
    df = queries.lot_features(engine, debut=SIM_END - timedelta(days=20), fin=SIM_END)
    running = df[df["date_abattage"].isna()]
    assert len(running) > 0 and running["poids_foie_moyen_g"].isna().all()
    done = df.dropna(subset=["date_abattage"])
    assert (done["nb_repas"] == 2 * done["duree_jours"]).all()
    assert pd.api.types.is_float_dtype(df["dose_totale_kg"])


def test_a_pool_closes_its_connections_once_idle_and_reconnects_on_the_next_query(shared_sim_url):
    """db.close_idle_connections: an open page's kernel keeps no database connection while idle (issue 22)."""
    moteur = db.close_idle_connections(sa.create_engine(shared_sim_url, pool_size=2), after_s=0.4)
    temoin = db.get_engine(shared_sim_url)
    try:
        with moteur.connect() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()

        def ouverte() -> bool:
            with temoin.connect() as conn:
                return conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"),
                                    {"p": pid}).scalar_one() == 1

        assert ouverte()  # kept by the pool right after use
        fin = time.monotonic() + 15
        while ouverte() and time.monotonic() < fin:
            time.sleep(0.2)
        assert not ouverte() and moteur.pool.checkedin() == 0
        with moteur.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        moteur.dispose()


def _abattages(engine, sites) -> pd.DataFrame:
    """Every slaughter of ``sites`` (day, gaveur, kg), read straight from the tables."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT a.date_abattage AS jour, l.gaveur_id, a.poids_foie_total_kg::float AS kg FROM abattages a "
            "JOIN lots_gavage l USING (lot_id) WHERE l.site_code = ANY(:s)"), {"s": list(sites)}).all()
    return pd.DataFrame(rows, columns=["jour", "gaveur_id", "kg"])


def _par_semaine(prod: pd.DataFrame, debut: date, fin: date, recul: int = 0) -> list[float]:
    """Independent weekly sums: week k covers debut+7k … min(debut+7k+6, fin), shifted back by ``recul`` days."""
    sommes = []
    for k in range(((fin - debut).days // 7) + 1):
        d0 = debut + timedelta(days=7 * k)
        d1 = min(d0 + timedelta(days=6), fin)
        jours = prod["jour"]
        sommes.append(float(prod.loc[(jours >= d0 - timedelta(days=recul)) & (jours <= d1 - timedelta(days=recul)),
                                     "kg"].sum()))
    return sommes


# 91 days: 13 whole weeks; 407 days: the two windows overlap, the last week has 1 day
@pytest.mark.parametrize("debut, fin", [(date(2026, 4, 1), date(2026, 6, 30)), (date(2025, 5, 20), date(2026, 6, 30))])
def test_year_over_year_weeks_align_weekdays_and_match_an_independent_sum(engine, debut, fin):
    sites = ["LL", "MT"]
    df = queries.comparaison_annee(engine, sites, debut, fin)
    prod = _abattages(engine, sites)
    assert df["production_kg"].tolist() == pytest.approx(_par_semaine(prod, debut, fin))
    attendu_avant = _par_semaine(prod, debut, fin, recul=364)
    assert df["production_kg_an_passe"].tolist() == pytest.approx(attendu_avant)
    assert sum(attendu_avant) > 0
    assert sum(_par_semaine(prod, debut, fin, recul=365)) != pytest.approx(sum(attendu_avant))  # 365 would differ
    # x axis = the current period's weeks; the year-earlier week is 52 weeks back, on the same weekday
    assert df["semaine"].iloc[0].date() == debut and df["semaine"].iloc[-1].date() <= fin
    assert ((df["semaine"] - df["semaine_an_passe"]).dt.days == 364).all()
    assert (df["semaine"].dt.dayofweek == df["semaine_an_passe"].dt.dayofweek).all()
    assert df["ecart_kg"].tolist() == pytest.approx((df["production_kg"] - df["production_kg_an_passe"]).tolist())
    avec = df["production_kg_an_passe"] > 0
    assert df.loc[avec, "ecart_pct"].tolist() == pytest.approx(
        (100 * (df["production_kg"] - df["production_kg_an_passe"]) / df["production_kg_an_passe"])[avec].tolist())
    assert df.loc[~avec, "ecart_pct"].isna().all()
    total = queries.dashboard_kpis(engine, sites, debut, fin)["production_totale_kg"].sum()
    assert df["production_kg"].sum() == pytest.approx(total, abs=0.1 * len(sites))


def test_year_over_year_of_one_gaveur_and_of_the_first_year(engine):
    prod = _abattages(engine, ["LL"])
    gaveur = int(prod["gaveur_id"].mode().iloc[0])
    debut, fin = date(2026, 1, 5), date(2026, 6, 30)
    df = queries.comparaison_annee(engine, ["LL"], debut, fin, gaveurs=[gaveur])
    sien = prod[prod["gaveur_id"] == gaveur]
    assert df["production_kg"].tolist() == pytest.approx(_par_semaine(sien, debut, fin))
    assert df["production_kg_an_passe"].tolist() == pytest.approx(_par_semaine(sien, debut, fin, recul=364))
    assert 0 < df["production_kg"].sum() < queries.comparaison_annee(engine, ["LL"], debut, fin)["production_kg"].sum()
    premier = prod["jour"].min()
    debut_annee = queries.comparaison_annee(engine, ["LL"], premier, premier + timedelta(days=60))
    assert debut_annee["production_kg"].sum() > 0 and debut_annee["production_kg_an_passe"].sum() == 0


def test_site_against_site_weekly_production_sums_to_each_sites_total(engine):
    debut, fin = PERIOD
    kpis = queries.dashboard_kpis(engine, ["LL", "MT"], debut, fin).set_index("site_code")["production_totale_kg"]
    for site in ("LL", "MT"):
        semaines = queries.production_semaines(engine, [site], debut, fin)
        assert semaines["production_kg"].sum() == pytest.approx(kpis[site], abs=0.1)
        assert semaines["production_kg"].tolist() == pytest.approx(_par_semaine(_abattages(engine, [site]), debut, fin))
    with pytest.raises(ValueError, match="needs both"):
        queries.production_semaines(engine, ["LL"], None, fin)
