"""Backups for real: pg_dump/pg_restore binaries against the test cluster, restore through a new database,
corrupt and foreign dumps, a full and a read-only filesystem (small tmpfs mounts), retention, the job."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa

from euralis_lib import config
from euralis_lib.database import backup, db, migrations, restore
from euralis_lib.database.backup import BackupError
from euralis_lib.database.pgclient import ClientToolError, Server, client_tools
from euralis_lib.jobs import results
from euralis_lib.jobs.schedule import load_schedule
from scheduler import runner
from tests.helpers.filesystem import small_filesystem


def _figures(url: str) -> dict[str, dict]:
    """Rows and content checksum of every table, read directly (independently of any backup)."""
    with closing(psycopg2.connect(Server(url).dsn())) as conn, conn.cursor() as cur:
        return backup.table_figures(cur)


def _databases(cluster) -> set[str]:
    with closing(psycopg2.connect(dbname="postgres", user="postgres", host=str(cluster.socket_dir))) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database")
            return {r[0] for r in cur.fetchall()}


def test_backup_then_destroy_then_restore_gives_the_same_rows(pg_cluster, sim_db_url, tmp_path):
    avant = _figures(sim_db_url)
    fait = backup.create_backup(sim_db_url, tmp_path)
    m = fait.manifest
    assert {t: f["rows"] for t, f in m["tables"].items()} == {t: f["rows"] for t, f in avant.items()}
    assert m["tables"]["doses_gavage"]["rows"] > 10_000 and m["tables"]["lots_gavage"]["rows"] > 500
    assert m["schema_version"] == migrations.discover()[-1].version and m["server_version"].startswith("16")
    assert (fait.path / "euralis.dump.sha256").read_text().split() == [m["dump"]["sha256"], "euralis.dump"]
    assert backup.sha256_file(fait.dump) == m["dump"]["sha256"] and fait.dump.stat().st_size == m["dump"]["bytes"]
    assert [b.path for b in backup.list_backups(tmp_path)] == [fait.path]

    engine = db.get_engine(sim_db_url)
    with engine.begin() as conn:  # destroy
        conn.execute(sa.text("DELETE FROM doses_gavage"))
        conn.execute(sa.text("DROP TABLE qualite_foies"))
    assert _figures(sim_db_url)["doses_gavage"]["rows"] == 0

    fait_restore = restore.restore(fait.path, sim_db_url)
    assert _figures(sim_db_url) == avant  # same rows and same content, table by table
    assert fait_restore.migrations_applied == []
    bases = _databases(pg_cluster)
    assert fait_restore.previous in bases and not any("_restauration_" in b for b in bases)
    ancien = make_url_for(sim_db_url, fait_restore.previous)
    assert _figures(ancien)["doses_gavage"]["rows"] == 0 and "qualite_foies" not in _figures(ancien)
    pg_cluster.drop(fait_restore.previous)


def make_url_for(url: str, database: str) -> str:
    return sa.engine.make_url(url).set(database=database).render_as_string(hide_password=False)


def test_dropping_a_scratch_database_waits_for_a_session_it_may_not_end(pg_cluster, monkeypatch):
    """A role that is not a superuser may not FORCE-drop a database while another role's session is in it —
    in CI, an autovacuum worker analysing a fresh restore made ``backup --verify`` fail. The drop waits for
    such a session to leave; one that stays is a clear error naming it."""
    suffix = os.urandom(4).hex()
    role, name = f"r_drop_{suffix}", f"d_drop_{suffix}"
    pg_cluster.admin(f"CREATE ROLE {role} LOGIN CREATEDB")
    server = Server(f"postgresql://{role}@/postgres?host={pg_cluster.socket_dir}")
    try:
        for stays in (False, True):
            pg_cluster.admin(f'CREATE DATABASE "{name}" OWNER {role}')
            other = psycopg2.connect(dbname=name, user="postgres", host=str(pg_cluster.socket_dir))
            if stays:
                monkeypatch.setattr(restore, "DROP_ATTEMPTS", 1)
                with pytest.raises(BackupError, match=f"could not drop the database {name}: sessions of postgres"):
                    restore.drop_database(server, name)
                other.close()
                pg_cluster.drop(name)
            else:
                threading.Timer(1.0, other.close).start()
                restore.drop_database(server, name)
            assert name not in _databases(pg_cluster)
    finally:
        pg_cluster.drop(name)
        pg_cluster.admin(f"DROP ROLE IF EXISTS {role}")


def test_verify_restores_into_a_scratch_database_and_records_the_outcome(pg_cluster, sim_db_url, tmp_path):
    fait = backup.create_backup(sim_db_url, tmp_path)
    avant = _databases(pg_cluster)
    resultat = restore.verify(fait.dump, sim_db_url)
    assert resultat.ok and resultat.problems == [] and resultat.recorded, resultat.describe()
    assert _databases(pg_cluster) == avant  # the scratch database is gone
    relu = backup.list_backups(tmp_path)[0]
    assert relu.verified and relu.verification["server"].startswith("postgres@")
    table = backup.backups_table(tmp_path)
    assert table.loc[0, "Vérification"] == "réussie" and table.loc[0, "Sauvegarde"] == fait.path.name


def test_a_backup_taken_while_the_materialized_view_is_stale_verifies_and_restores_it_refreshed(sim_db_url, tmp_path):
    """performances_sites is refreshed hourly: a backup taken after a change of abattages and before the next
    refresh holds the view's query, not its stale rows; the verification must not call that a lost backup."""
    engine = db.get_engine(sim_db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT refresh_performances_sites()"))
        conn.execute(sa.text("UPDATE abattages SET nb_canards_abattus = nb_canards_abattus - 1 "
                             "WHERE lot_id = (SELECT min(lot_id) FROM abattages WHERE nb_canards_abattus > 1)"))
        perimee = conn.execute(sa.text("SELECT sum(nb_canards_abattus) FROM performances_sites")).scalar_one()
    fait = backup.create_backup(sim_db_url, tmp_path)
    assert fait.manifest["tables"]["performances_sites"]["vue"]
    resultat = restore.verify(fait.dump, sim_db_url)
    assert resultat.ok, resultat.describe()
    with engine.begin() as conn:  # the view recomputed from the same tables: what a restore gives
        conn.execute(sa.text("SELECT refresh_performances_sites()"))
        recalculee = conn.execute(sa.text("SELECT sum(nb_canards_abattus) FROM performances_sites")).scalar_one()
    assert recalculee == perimee - 1


def test_manifest_matches_the_dump_while_a_writer_inserts_rows(sim_db_url, tmp_path):
    """The manifest is counted in the dump's own snapshot: rows written during the backup are in neither."""
    arret, ecrits = threading.Event(), []

    def ecrire() -> None:
        with closing(psycopg2.connect(Server(sim_db_url).dsn())) as conn, conn.cursor() as cur:
            conn.autocommit = True
            while not arret.is_set():
                cur.execute("INSERT INTO job_runs (job, statut) VALUES ('charge', 'success')")
                ecrits.append(1)

    ecrivain = threading.Thread(target=ecrire)
    ecrivain.start()
    try:
        while len(ecrits) < 50:  # the writer is under way before the backup starts
            time.sleep(0.01)
        fait = backup.create_backup(sim_db_url, tmp_path)
    finally:
        arret.set()
        ecrivain.join()
    pendant = fait.manifest["tables"]["job_runs"]["rows"]
    assert 50 <= pendant < len(ecrits)  # some rows, not all: the writer ran during the backup
    resultat = restore.verify(fait.path, sim_db_url)
    assert resultat.ok, resultat.describe()


def _copy(fait: backup.Backup, dest: Path) -> backup.Backup:
    copie = dest / fait.path.name
    shutil.copytree(fait.path, copie)
    return backup.read_backup(copie)


def _rechecksum(b: backup.Backup) -> None:
    """Make the manifest and .sha256 agree with the dump as it is now (as a careless copy tool would)."""
    digest = backup.sha256_file(b.dump)
    manifest = {**b.manifest, "dump": {**b.manifest["dump"], "sha256": digest, "bytes": b.dump.stat().st_size}}
    (b.path / "manifest.json").write_text(json.dumps(manifest))
    (b.path / "euralis.dump.sha256").write_text(f"{digest}  euralis.dump\n")


def test_truncated_dump_is_refused_and_the_current_data_is_untouched(pg_cluster, sim_db_url, tmp_path):
    fait = backup.create_backup(sim_db_url, tmp_path / "ok")
    tronque = _copy(fait, tmp_path / "tronque")
    with tronque.dump.open("r+b") as fh:
        fh.truncate(fait.manifest["dump"]["bytes"] // 2)
    avant, bases = _figures(sim_db_url), _databases(pg_cluster)

    resultat = restore.verify(tronque.path, sim_db_url)
    assert not resultat.ok and "truncated or corrupted" in resultat.problems[0]
    assert backup.read_backup(tronque.path).verification["ok"] is False
    with pytest.raises(BackupError, match="truncated or corrupted.*current data of .* is untouched"):
        restore.restore(tronque.path, sim_db_url)

    _rechecksum(tronque)  # the checksum no longer protects: pg_restore itself must fail cleanly
    with pytest.raises(BackupError, match="pg_restore .* failed.*current data of .* is untouched") as err:
        restore.restore(tronque.path, sim_db_url)
    assert "\n" not in str(err.value)
    assert _figures(sim_db_url) == avant and _databases(pg_cluster) == bases


def test_foreign_files_are_refused_and_the_current_data_is_untouched(pg_cluster, sim_db_url, empty_db_url, tmp_path):
    fait = backup.create_backup(sim_db_url, tmp_path / "ok")
    avant, bases = _figures(sim_db_url), _databases(pg_cluster)

    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4096))
    with pytest.raises(BackupError, match="not a backup made by"):
        restore.restore(image, sim_db_url)

    texte = _copy(fait, tmp_path / "texte")  # a plain SQL text where the archive should be
    texte.dump.write_text("CREATE TABLE intrus (x int);\n")
    _rechecksum(texte)
    with pytest.raises(BackupError, match="not a pg_dump archive that pg_restore can read"):
        restore.restore(texte.path, sim_db_url)

    autre = _copy(fait, tmp_path / "autre")  # a valid archive, but of another database
    shutil.copy(backup.create_backup(empty_db_url, tmp_path / "vide").dump, autre.dump)
    _rechecksum(autre)
    with pytest.raises(BackupError, match="differs from the manifest.*doses_gavage: 0 rows restored"):
        restore.restore(autre.path, sim_db_url)
    assert not restore.verify(autre.path, sim_db_url).ok

    assert _figures(sim_db_url) == avant and _databases(pg_cluster) == bases


def test_disk_full_keeps_earlier_backups_and_leaves_nothing_that_looks_valid(empty_db_url, sim_db_url, tmp_path):
    # A disk that holds the empty database's backup (its size grows with the schema: measured here) with room
    # to spare, and not the simulated database's (megabytes).
    mesure = backup.create_backup(empty_db_url, tmp_path / "mesure")
    taille_kb = sum(p.stat().st_size for p in mesure.path.iterdir()) // 1024
    with small_filesystem(tmp_path, 2 * taille_kb + 64) as disque:
        premiere = backup.create_backup(empty_db_url, disque)
        with pytest.raises(BackupError, match="(?i)no space left.*earlier backups are untouched") as err:
            backup.create_backup(sim_db_url, disque)
        assert "\n" not in str(err.value)
        assert [p.name for p in disque.iterdir()] == [premiere.path.name]
        assert [b.path for b in backup.list_backups(disque)] == [premiere.path]
        assert restore.checksum_problems(premiere) == []
        assert restore.verify(premiere.path, empty_db_url).ok


def test_backup_folder_not_writable_is_a_clear_error(empty_db_url, tmp_path):
    with small_filesystem(tmp_path, 1024) as disque:
        premiere = backup.create_backup(empty_db_url, disque)
        subprocess.run(["mount", "-o", "remount,ro", str(disque)], check=True)
        with pytest.raises(BackupError, match=f"cannot write the backup in {disque}: Read-only file system"):
            backup.create_backup(empty_db_url, disque)
        assert [b.path for b in backup.list_backups(disque)] == [premiere.path]
        assert restore.checksum_problems(premiere) == []
        verification = restore.verify(premiere.path, empty_db_url)
        assert verification.ok and not verification.recorded  # verified, but the folder cannot take the record


def test_client_tools_are_the_servers_own_major_or_the_closest_newer(monkeypatch):
    from pgserver._commands import POSTGRES_BIN_PATH

    assert client_tools(16).bin_dir == Path(POSTGRES_BIN_PATH)
    debian = Path("/usr/lib/postgresql/15/bin")
    if not (debian / "pg_dump").exists():
        pytest.fail("Debian's postgresql-client-15 is not installed (apt-get install postgresql-15; .ci/run does it)")
    assert client_tools(15).bin_dir == debian  # same major rather than the newer embedded 16
    monkeypatch.setenv("EURALIS_PG_BIN", str(debian))
    with pytest.raises(ClientToolError, match=r"no pg_dump/pg_restore of major version 16 .*found: 15\.\d+ "):
        client_tools(16)


def test_retention_keeps_newest_per_day_and_week_and_the_last_verified(empty_db_url, tmp_path):
    modele = backup.create_backup(empty_db_url, tmp_path / "modele")
    depart = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)  # a Thursday
    quand = {f"j{i}": depart - timedelta(days=i) for i in range(0, 30)}
    quand["j0_bis"] = depart + timedelta(hours=12)
    for nom, instant in quand.items():
        dossier = tmp_path / "b" / f"euralis-{instant:%Y%m%dT%H%M%SZ}"
        shutil.copytree(modele.path, dossier)
        manifest = {**modele.manifest, "created_at": instant.isoformat()}
        (dossier / "manifest.json").write_text(json.dumps(manifest))
        if nom == "j25":  # the only verified backup: kept whatever its age
            (dossier / "verification.json").write_text(json.dumps({"verified_at": instant.isoformat(), "ok": True,
                                                                   "problems": []}))
    (tmp_path / "b" / "notes.txt").write_text("not a backup")
    supprimes = backup.apply_retention(tmp_path / "b", daily=3, weekly=3)
    gardes = {b.created_at for b in backup.list_backups(tmp_path / "b")}
    # Days: 26/11 (12:00 copy, newer than 01:30), 25/11, 24/11. Weeks (ISO, Mon-Sun): the newest of the week of
    # 23/11, of 16-22/11 (22/11) and of 9-15/11 (15/11). Plus the verified one of 01/11.
    attendu = {quand["j0_bis"], quand["j1"], quand["j2"], quand["j4"], quand["j11"], quand["j25"]}
    assert gardes == attendu
    assert len(supprimes) == len(quand) - len(attendu)
    assert (tmp_path / "b" / "notes.txt").exists()
    with pytest.raises(BackupError, match="at least 1 daily"):
        backup.apply_retention(tmp_path / "b", daily=0, weekly=1)


def test_scheduled_backup_job_runs_the_notebook_and_records_its_figures(sim_db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("EURALIS_DATABASE_URL", sim_db_url)
    monkeypatch.setenv("EURALIS_REPORTS_DIR", str(tmp_path / "reports"))
    dossier = tmp_path / "sauvegardes"
    schedule_file = tmp_path / "schedule.yml"
    schedule_file.write_text(
        "retries: 0\nmissed_run_grace_hours: 0\njobs:\n  backup:\n    cron: '30 1 * * *'\n"
        f"    parameters: {{dossier: '{dossier}', quotidiennes: 2}}\n")
    schedule = load_schedule(schedule_file)
    engine = db.get_engine(sim_db_url)
    outcome = runner.run_entry(schedule, schedule.entry("backup"), engine)
    assert outcome.statut == "success", outcome.message
    [fait] = backup.list_backups(dossier)
    assert fait.verified
    with engine.connect() as conn:
        run = conn.execute(sa.text("SELECT statut, etape, metriques, rapport_path FROM job_runs WHERE run_id = :r"),
                           {"r": outcome.run_ids[0]}).one()
    assert run.statut == "success" and run.metriques["sauvegarde"] == fait.path.name
    # Scheduled, so published even with its own parameters (sql/202): the Ops page's backup caption names it.
    assert run.etape == "publie" and results.sauvegardes(engine, dossier=dossier).run.run_id == outcome.run_ids[0]
    assert run.metriques["dossier"] == str(dossier)
    assert run.metriques["octets"] == fait.manifest["dump"]["bytes"] and run.metriques["duree_verification_s"] > 0
    assert "réussie" in Path(run.rapport_path).with_suffix(".html").read_text(encoding="utf-8")


def test_cli_backup_verify_restore_messages(pg_cluster, empty_db_url, tmp_path):
    env = {**os.environ, "EURALIS_DATABASE_URL": empty_db_url}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "euralis_lib", *args], capture_output=True, text=True, env=env,
                              timeout=300, cwd=config.PROJECT_ROOT)

    fait = run("backup", "--to", str(tmp_path), "--verify")
    assert fait.returncode == 0, fait.stderr
    assert "backup written" in fait.stdout and "verified in" in fait.stdout
    [dossier] = backup.list_backups(tmp_path)
    sans_oui = run("restore", str(dossier.path))
    assert sans_oui.returncode == 2 and "add --yes" in sans_oui.stderr and len(sans_oui.stderr.splitlines()) == 1
    etranger = tmp_path / "etranger.dump"
    etranger.write_bytes(b"PGDMP" + os.urandom(100))
    refuse = run("backup", "verify", str(etranger))
    assert refuse.returncode == 2 and "not a backup made by" in refuse.stderr and "Traceback" not in refuse.stderr
    liste = run("backup", "list", "--to", str(tmp_path))
    assert dossier.path.name in liste.stdout and "verified" in liste.stdout
    ok = run("restore", str(dossier.path), "--yes")
    assert ok.returncode == 0, ok.stderr
    assert "restored" in ok.stdout and "DROP DATABASE" in ok.stdout
    pg_cluster.drop(re.search(r"kept as database (\S+);", ok.stdout).group(1))
