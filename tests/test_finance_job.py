"""The finance job snapshots the data layer's figures; prices come from the database."""

import pytest
import sqlalchemy as sa

from euralis_lib import jobs
from euralis_lib.database import db, queries
from euralis_lib.jobs import JobParameterError, runs
from tests.helpers.simulation import SIM_END


def test_job_snapshots_site_and_gaveur_months(sim_db_url):
    engine = db.get_engine(sim_db_url)
    result = jobs.run_job("finance", engine, sites=["LS"])
    stored = db.read_df(engine, "SELECT * FROM finance_indicateurs WHERE run_id = :r AND niveau = 'site'",
                        {"r": result["run_id"]})
    live = queries.finance_indicateurs(engine, sites="LS")
    assert len(stored) == len(live) and stored["marge_eur"].sum() == pytest.approx(live["marge_eur"].sum())
    gaveurs = db.read_df(engine, "SELECT sum(marge_eur) AS m FROM finance_indicateurs WHERE run_id = :r "
                         "AND niveau = 'gaveur'", {"r": result["run_id"]})["m"][0]
    assert gaveurs == pytest.approx(stored["marge_eur"].sum())


def test_a_price_change_in_the_database_changes_the_margin(sim_db_url):
    engine = db.get_engine(sim_db_url)
    before = queries.finance_indicateurs(engine, debut=SIM_END.replace(day=1), fin=SIM_END)["marge_eur"].sum()
    with db.connect(engine, transaction=True) as conn:
        conn.execute(sa.text("UPDATE prix_parametres SET valeur = valeur + 0.10 WHERE parametre = 'prix_mais_eur_kg'"))
    after = queries.finance_indicateurs(engine, debut=SIM_END.replace(day=1), fin=SIM_END)
    corn = db.read_df(engine, "SELECT sum(mais_total_kg) AS kg FROM abattages WHERE date_abattage BETWEEN :a AND :b",
                      {"a": SIM_END.replace(day=1), "b": SIM_END})["kg"][0]
    assert before - after["marge_eur"].sum() == pytest.approx(0.10 * float(corn), rel=1e-6)


def test_missing_price_fails_the_run_and_keeps_earlier_results(sim_db_url):
    engine = db.get_engine(sim_db_url)
    good = jobs.run_job("finance", engine)
    with db.connect(engine, transaction=True) as conn:
        conn.execute(sa.text("DELETE FROM prix_parametres WHERE parametre = 'prix_carcasse_eur_canard'"))
    with pytest.raises(JobParameterError, match="price is missing"):
        jobs.run_job("finance", engine)
    assert runs.latest_run(engine, "finance").run_id == good["run_id"]
    assert runs.latest_run(engine, "finance", statut="failed") is not None
    n = db.read_df(engine, "SELECT count(*) AS n FROM finance_indicateurs WHERE run_id = :r", {"r": good["run_id"]})
    assert n["n"][0] > 0
