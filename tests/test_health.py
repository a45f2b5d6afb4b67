"""Health checks, Prometheus metrics and the Ops page's backup section, on real databases, real backups,
a real (small, filled) filesystem, a real Voilà and the real scheduler daemon."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from euralis_lib import config, jobs
from euralis_lib.dashboards import ops as ops_page
from euralis_lib.dashboards.common import Contexte
from euralis_lib.database import backup, db, restore
from euralis_lib.jobs import runs
from euralis_lib.jobs.schedule import load_schedule
from euralis_lib.operations import health, metrics
from euralis_lib.operations.health import CRITICAL, OK, WARNING, Thresholds
from euralis_lib.serving import serve
from euralis_lib.serving.browser import free_port
from tests.helpers.filesystem import small_filesystem
from tests.helpers.pages import pools

SANS_DISQUE = Thresholds(disk_warning_pct=0, disk_critical_pct=0)  # disk has its own test on a small filesystem


def _succes(engine, job: str) -> int:
    run_id = runs.start_run(engine, job)
    with db.connect(engine, transaction=True) as conn:
        runs.complete_run(conn, run_id, {})
    return run_id


def _scheduled_jobs() -> list[str]:
    return list(load_schedule(check_notebooks=False).entries)


def _by_name(checks: list[health.Check]) -> dict[str, health.Check]:
    return {c.name: c for c in checks}


def test_healthy_installation_is_ok_everywhere(sim_db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("EURALIS_DATABASE_URL", sim_db_url)
    monkeypatch.setenv("EURALIS_REPORTS_DIR", str(tmp_path / "reports"))
    engine = db.get_engine(sim_db_url)
    for job in _scheduled_jobs():
        _succes(engine, job)
    fait = backup.create_backup(sim_db_url, tmp_path / "sauvegardes")
    assert restore.verify(fait.path, sim_db_url).ok
    port = free_port()
    # No preheated kernels: this judges the health checks, not the pools (whose start-up, on 2 busy cores, can
    # hold the server's first answer past the check's 5 s timeout).
    proc = serve.start(port, env={**os.environ, **pools()}, pool_size=0, log_path=tmp_path / "voila.log")
    try:
        serve.wait_ready(proc, port, timeout=120)
        checks = health.run_checks(f"http://127.0.0.1:{port}/voila/tree", SANS_DISQUE, tmp_path / "sauvegardes")
    finally:
        serve.stop(proc)
    assert [(c.name, c.status) for c in checks if c.status != OK] == [], [c.line() for c in checks]
    noms = _by_name(checks)
    assert {f"job {j}" for j in _scheduled_jobs()} <= set(noms)
    assert "PostgreSQL 16" in noms["database"].detail and "0.0 h old" in noms["backup"].detail
    assert not noms["disk data"].skipped  # the test cluster's data folder is visible (superuser connection)
    assert health.overall(checks) == OK


def test_late_jobs_failures_and_old_backups_turn_warning_then_critical(sim_db_url, tmp_path):
    engine = db.get_engine(sim_db_url)
    _succes(engine, "finance")  # daily at 03:15
    maintenant = datetime.now(UTC)
    limites = Thresholds()
    finance = next(c for c in health.check_jobs(engine, maintenant, limites) if c.name == "job finance")
    assert finance.status == OK
    dans = {j: next(c for c in health.check_jobs(engine, maintenant + timedelta(days=j), limites)
                    if c.name == "job finance") for j in (2, 4)}
    assert dans[2].status == WARNING and "scheduled run(s) since" in dans[2].detail
    assert dans[4].status == CRITICAL
    jamais = next(c for c in health.check_jobs(engine, maintenant, limites) if c.name == "job entrainement")
    assert jamais.status == WARNING and "never succeeded" in jamais.detail

    echec = runs.start_run(engine, "planning")
    runs.fail_run(engine, echec, "ValueError: capacité inconnue")
    assert health.check_failures(engine, limites).status == WARNING
    assert f"planning (1, last run {echec})" in health.check_failures(engine, limites).detail
    _succes(engine, "planning")
    assert health.check_failures(engine, limites).status == OK

    dossier = tmp_path / "sauvegardes"
    assert health.check_backup(dossier, maintenant, limites).status == CRITICAL  # none yet
    ancienne = backup.create_backup(sim_db_url, dossier)
    assert health.check_backup(dossier, maintenant, limites).status == CRITICAL  # not verified
    assert restore.verify(ancienne.path, sim_db_url).ok
    assert health.check_backup(dossier, maintenant, limites).status == OK
    assert health.check_backup(dossier, maintenant + timedelta(hours=30), limites).status == WARNING
    assert health.check_backup(dossier, maintenant + timedelta(hours=80), limites).status == CRITICAL
    time.sleep(1.1)  # a second backup gets its own time stamp
    recente = backup.create_backup(sim_db_url, dossier)
    with recente.dump.open("r+b") as fh:
        fh.truncate(100)
    assert not restore.verify(recente.path, sim_db_url).ok
    verdict = health.check_backup(dossier, maintenant, limites)
    assert verdict.status == WARNING and f"newer backup {recente.path.name} FAILED" in verdict.detail


def test_pending_and_edited_migrations(sim_db_url):
    engine = db.get_engine(sim_db_url)
    assert health.check_migrations(engine).status == OK
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM "
                             "schema_migrations)"))
    attente = health.check_migrations(engine)
    assert attente.status == WARNING and "1 pending" in attente.detail
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_migrations SET checksum = 'x' WHERE version = '001'"))
    modifie = health.check_migrations(engine)
    assert modifie.status == CRITICAL and "001_reference.sql" in modifie.detail


def test_disk_almost_full_on_a_real_small_filesystem(tmp_path):
    with small_filesystem(tmp_path, 1024) as disque:
        assert health.check_disk("reports", disque / "reports", Thresholds()).status == OK  # folder not created yet
        with (disque / "remplissage").open("wb") as fh:
            fh.write(b"\0" * (1024 * 1024 - 80 * 1024))  # about 92 % used
        assert health.check_disk("reports", disque, Thresholds()).status == WARNING
        with (disque / "remplissage").open("ab") as fh:
            fh.write(b"\0" * (40 * 1024))  # about 96 % used
        assert health.check_disk("reports", disque, Thresholds()).status == CRITICAL


def _health_cli(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "euralis_lib", "health", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env_extra}, cwd=config.PROJECT_ROOT)


def test_database_down_is_critical_with_the_reason_not_a_traceback(tmp_path):
    dehors = _health_cli({"EURALIS_DATABASE_URL": "postgresql://bob:s3cr3t@127.0.0.1:9/prod",
                          "EURALIS_BACKUP_DIR": str(tmp_path)}, "--dashboards-url", "http://127.0.0.1:9/")
    assert dehors.returncode == 2 and "Traceback" not in dehors.stderr + dehors.stdout and dehors.stderr == ""
    premiere = dehors.stdout.splitlines()[0]
    assert premiere.startswith("CRITICAL  database: Cannot reach the database at 127.0.0.1:9/prod")
    assert "s3cr3t" not in dehors.stdout and dehors.stdout.rstrip().endswith("overall: CRITICAL")

    arrete = _health_cli({"EURALIS_DATABASE_URL": "", "EURALIS_HOME": str(tmp_path / "home"),
                          "EURALIS_BACKUP_DIR": str(tmp_path)}, "--json", "--dashboards-url", "http://127.0.0.1:9/")
    rapport = json.loads(arrete.stdout)
    assert arrete.returncode == 2 and rapport["status"] == "critical" and rapport["code"] == 2
    base = next(c for c in rapport["checks"] if c["name"] == "database")
    assert base["status"] == "critical" and "embedded PostgreSQL" in base["detail"] and "absent" in base["detail"]
    assert not (tmp_path / "home" / "pgdata").exists()  # health never starts the embedded server
    assert next(c for c in rapport["checks"] if c["name"] == "dashboards")["status"] == "critical"


def test_dashboards_down_everywhere_is_critical_one_instance_down_among_several_a_warning():
    mortes = [f"http://127.0.0.1:{free_port()}/voila/tree" for _ in range(2)]
    assert health.dashboards_urls(" , ".join(mortes)) == mortes
    toutes = health.check_dashboards(mortes)
    assert [c.status for c in toutes] == [CRITICAL, CRITICAL]
    assert [c.name for c in toutes] == [f"dashboards {m.split('/')[2]}" for m in mortes]
    [seule] = health.check_dashboards(mortes[:1])
    assert (seule.name, seule.status) == ("dashboards", CRITICAL) and "does not answer" in seule.detail


def _scrape(port: int) -> dict[str, list]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        texte = resp.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(texte)}


def _value(samples: list, name: str, **labels: str) -> float:
    return next(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_count_runs_durations_and_backups(sim_db_url, tmp_path):
    engine = db.get_engine(sim_db_url)
    for _ in range(2):
        _succes(engine, "finance")
    echec = runs.start_run(engine, "finance")
    runs.fail_run(engine, echec, "RuntimeError: test")
    fait = backup.create_backup(sim_db_url, tmp_path)
    restore.verify(fait.path, sim_db_url)
    serveur = metrics.serve(engine, port=free_port(), backup_dir=tmp_path)
    try:
        assert serveur.server_address[0] == "127.0.0.1"
        m = _scrape(serveur.server_port)
    finally:
        serveur.shutdown()
    assert _value(m["euralis_database_up"], "euralis_database_up") == 1
    assert _value(m["euralis_job_runs"], "euralis_job_runs_total", job="finance", status="success") == 2
    assert _value(m["euralis_job_runs"], "euralis_job_runs_total", job="finance", status="failed") == 1
    h = m["euralis_job_duration_seconds"]
    assert _value(h, "euralis_job_duration_seconds_count", job="finance", status="success") == 2
    assert _value(h, "euralis_job_duration_seconds_bucket", job="finance", status="success", le="+Inf") == 2
    assert _value(h, "euralis_job_duration_seconds_bucket", job="finance", status="success", le="1.0") == 2
    with engine.connect() as conn:
        fin = conn.execute(sa.text("SELECT extract(epoch FROM max(fin)) FROM job_runs WHERE job = 'finance' "
                                   "AND statut = 'success'")).scalar()
    succes = m["euralis_job_last_success_timestamp_seconds"]
    assert _value(succes, "euralis_job_last_success_timestamp_seconds", job="finance") == pytest.approx(float(fin))
    assert _value(m["euralis_backups"], "euralis_backups") == 1
    assert _value(m["euralis_backup_last_verified"], "euralis_backup_last_verified") == 1
    assert _value(m["euralis_backup_last_size_bytes"], "euralis_backup_last_size_bytes") == fait.dump.stat().st_size
    assert 0 <= _value(m["euralis_backup_verified_age_seconds"], "euralis_backup_verified_age_seconds") < 600

    eteinte = metrics.serve(db.get_engine("postgresql://bob:pw@127.0.0.1:9/x"), port=free_port(), backup_dir=tmp_path)
    try:
        m = _scrape(eteinte.server_port)
    finally:
        eteinte.shutdown()
    assert _value(m["euralis_database_up"], "euralis_database_up") == 0 and "euralis_job_runs" not in m
    assert _value(m["euralis_backups"], "euralis_backups") == 1
    assert metrics.serve(engine, port=0) is None


def test_scheduler_daemon_serves_metrics_on_localhost(sim_db_url, tmp_path):
    schedule = tmp_path / "schedule.yml"
    schedule.write_text("missed_run_grace_hours: 0\njobs:\n  finance:\n    cron: '0 3 1 1 *'\n"
                        "    notebook: notebooks/jobs/finance.ipynb\n")
    port = free_port()
    env = {**os.environ, "EURALIS_DATABASE_URL": sim_db_url, "EURALIS_METRICS_PORT": str(port),
           "EURALIS_REPORTS_DIR": str(tmp_path / "reports"), "EURALIS_BACKUP_DIR": str(tmp_path / "b")}
    proc = subprocess.Popen([sys.executable, "-m", "scheduler", "--schedule", str(schedule), "daemon"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=config.PROJECT_ROOT)
    try:
        limite, m = time.monotonic() + 60, None
        while m is None and time.monotonic() < limite:
            try:
                m = _scrape(port)
            except OSError:
                time.sleep(0.3)
        assert m is not None, "no metrics from the daemon"
        assert _value(m["euralis_database_up"], "euralis_database_up") == 1
        assert _value(m["euralis_backups"], "euralis_backups") == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        sortie, _ = proc.communicate(timeout=30)
    assert f"Prometheus metrics on http://127.0.0.1:{port}/metrics" in sortie
    assert "disks of data, reports and backups" in sortie and "raised an exception" not in sortie, sortie
    assert "daily alert digest e-mails" in sortie, sortie  # planned (cron at the schedule's alerts_digest_time)


def test_ops_page_shows_the_last_backup_and_its_verification(sim_db_url, tmp_path, monkeypatch):
    from tests.helpers.pages import page_text

    engine = db.get_engine(sim_db_url)
    dossier = tmp_path / "sauvegardes"
    [vide] = ops_page.sauvegardes(engine, dossier)[1:]
    assert "Aucune sauvegarde" in vide.value and "avertissement" in vide.value
    fait = backup.create_backup(sim_db_url, dossier)
    texte = page_text(ops_page.sauvegardes(engine, dossier))
    assert "Dernière sauvegarde" in texte and "non vérifiée" in texte and "euralis-message avertissement" in texte
    restore.verify(fait.path, sim_db_url)
    texte = page_text(ops_page.sauvegardes(engine, dossier))
    local = fait.created_at.astimezone(ZoneInfo("Europe/Paris"))
    assert f"Dernière sauvegarde : {local:%d/%m/%Y %H:%M} ({fait.path.name}" in texte
    assert "vérification : réussie le " in texte and "euralis-message info" in texte
    assert "job backup" not in texte  # made by hand: no run to name
    resultat = jobs.run_job("backup", engine, publier=True, dossier=str(dossier))
    texte = page_text(ops_page.sauvegardes(engine, dossier))
    assert f"job backup : run n° {resultat['run_id']} du " in texte
    monkeypatch.setenv("EURALIS_BACKUP_DIR", str(dossier))
    page = page_text(ops_page.build(Contexte(engine, None, lambda: None)))
    assert "<h3>Sauvegardes</h3>" in page and resultat["sauvegarde"] in page
