"""Migrations: ordered, idempotent, recorded, atomic per file; TimescaleDB fallback on plain PostgreSQL."""

import shutil

import pytest
import sqlalchemy as sa

from euralis_lib.config import SQL_DIR
from euralis_lib.database import db, migrations
from euralis_lib.exceptions import MigrationError


@pytest.fixture
def blank_db(pg_cluster):
    name = "m_" + __import__("uuid").uuid4().hex[:10]
    pg_cluster.admin(f'CREATE DATABASE "{name}"')
    yield db.get_engine(pg_cluster.url(name))
    pg_cluster.drop(name)


def test_all_migrations_apply_then_rerun_is_a_no_op(blank_db):
    applied = migrations.apply_migrations(blank_db)
    assert applied == [m.path.name for m in migrations.discover()]
    assert migrations.apply_migrations(blank_db) == []
    recorded = db.read_df(blank_db, "SELECT version FROM schema_migrations ORDER BY version")["version"].tolist()
    assert recorded == [m.version for m in migrations.discover()]


def test_schema_has_the_tables_hypertable_candidates_and_view(empty_db_url):
    engine = db.get_engine(empty_db_url)
    tables = set(db.read_df(engine, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")["tablename"])
    assert len(tables - {"schema_migrations"}) >= 12
    assert {"doses_gavage", "alertes", "job_runs", "previsions", "clusters_gaveurs", "anomalies_lots",
            "planning_abattages", "finance_indicateurs", "formules_regression"} <= tables
    # Without TimescaleDB the time-series tables stay plain tables with a BRIN index on time.
    assert migrations.has_timescaledb(engine) is False
    brin = db.read_df(engine, "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING brin%'")["indexname"]
    assert {"doses_gavage_time_brin", "alertes_time_brin"} <= set(brin)
    with db.connect(engine) as conn:
        conn.execute(sa.text("SELECT refresh_performances_sites()"))
        assert conn.execute(sa.text("SELECT count(*) FROM performances_sites")).scalar_one() == 0


def test_failed_migration_rolls_back_whole_and_is_not_recorded(blank_db, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    (sql_dir / "900_broken.sql").write_text(
        "CREATE TABLE half_done (x int);\nINSERT INTO half_done VALUES (1);\nSELECT no_such_function();\n")
    with pytest.raises(MigrationError, match="900_broken.sql failed and was rolled back"):
        migrations.apply_migrations(blank_db, sql_dir)
    with db.connect(blank_db) as conn:
        assert conn.execute(sa.text("SELECT to_regclass('half_done')")).scalar_one() is None
        assert conn.execute(sa.text("SELECT count(*) FROM schema_migrations WHERE version = '900'")).scalar_one() == 0


def test_an_applied_migration_that_changed_is_refused(blank_db, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    migrations.apply_migrations(blank_db, sql_dir)
    with open(sql_dir / "001_reference.sql", "a") as f:
        f.write("\n-- edited after the fact\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrations.apply_migrations(blank_db, sql_dir)


def test_badly_named_migration_file_is_refused(tmp_path):
    (tmp_path / "7-oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNN_description.sql"):
        migrations.discover(tmp_path)
