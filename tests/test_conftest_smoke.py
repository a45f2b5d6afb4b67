from euralis_lib.database import db, queries


def test_shared_sim_database_holds_three_sites(shared_sim_url):
    assert list(queries.sites(db.get_engine(shared_sim_url))["site_code"]) == ["LL", "LS", "MT"]


def test_cloned_databases_are_isolated(sim_db_url, empty_db_url):
    import sqlalchemy as sa

    with db.connect(db.get_engine(sim_db_url), transaction=True) as conn:
        conn.execute(sa.text("DELETE FROM alertes"))
    assert db.read_df(db.get_engine(empty_db_url), "SELECT count(*) AS n FROM lots_gavage")["n"][0] == 0
