"""The scheduler for real: schedule validation, retries and failure alert, advisory locks between two
daemons, runs of a killed scheduler marked failed, missed-run policy, reports retention, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from euralis_lib import config, jobs
from euralis_lib.database import db
from euralis_lib.jobs import results, runs
from euralis_lib.jobs.schedule import DEFAULT_SCHEDULE, ScheduleError, load_schedule
from scheduler import __main__ as cli
from scheduler import daemon, runner

DATA = config.PROJECT_ROOT / "tests" / "data"


def _schedule(tmp_path: Path, jobs: str, **settings) -> Path:
    """Write a schedule file with the given jobs section (YAML text) and settings."""
    reglages = {"retries": 1, "retry_backoff_seconds": 0.05, "missed_run_grace_hours": 0,
                "reports_retention_days": 30, **settings}
    texte = "".join(f"{k}: {v}\n" for k, v in reglages.items()) + "jobs:\n" + jobs
    path = tmp_path / "schedule.yml"
    path.write_text(texte, encoding="utf-8")
    return path


def _env(url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "EURALIS_DATABASE_URL": url, "EURALIS_REPORTS_DIR": str(tmp_path / "reports"),
            "PYTHONPATH": str(config.PROJECT_ROOT)}


def _runs(engine, job: str) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM job_runs WHERE job = :j ORDER BY run_id"), {"j": job}).all()


def test_default_schedule_is_valid_and_follows_the_issue():
    schedule = load_schedule(DEFAULT_SCHEDULE)
    assert set(schedule.entries) == {"refresh_performances", "entrainement", "anomalies", "previsions", "clustering",
                                     "planning", "finance", "rapport_hebdo", "backup"}
    now = schedule.now().replace(year=2026, month=11, day=25, hour=0, minute=30, second=0, microsecond=0)
    assert schedule.entry("entrainement").next_fire(now).strftime("%H:%M") == "02:00"
    assert schedule.entry("refresh_performances").next_fire(now).strftime("%H:%M") == "01:00"
    fires = schedule.entry("anomalies").fires_between(now, now + timedelta(days=1))
    assert len(fires) == 4  # every 6 hours
    lundi = schedule.entry("rapport_hebdo").next_fire(now)  # 25/11/2026 is a Wednesday
    assert (lundi.strftime("%a %H:%M"), lundi.day) == ("Mon 06:00", 30)


@pytest.mark.parametrize(("jobs", "attendu"), [
    ("  x:\n    cron: '61 * * * *'\n    notebook: tests/data/lent.ipynb\n", "job 'x': invalid cron"),
    ("  x:\n    cron: '0 2 * * 1'\n    notebook: tests/data/lent.ipynb\n", "by name"),
    ("  x:\n    cron: '0 2 * *'\n    notebook: tests/data/lent.ipynb\n", "5 fields"),
    ("  x:\n    cron: '0 2 * * *'\n    notebook: notebooks/jobs/absent.ipynb\n", "job 'x': notebook"),
    ("  x:\n    cron: '0 2 * * *'\n    notebook: tests/data/lent.ipynb\n    parameters: {duree: 'deux'}\n",
     "job 'x': x: parameter 'duree' must be float"),
    ("  x:\n    cron: '0 2 * * *'\n    notebook: tests/data/lent.ipynb\n    parameters: {vitesse: 2}\n",
     "has no parameter 'vitesse'"),
    ("  x:\n    notebook: tests/data/lent.ipynb\n", "needs 'cron'"),
    ("  x:\n    cron: '0 2 * * *'\n", "is not a registered job"),
], ids=["cron-range", "numeric-weekday", "cron-fields", "unknown-notebook", "parameter-type", "unknown-parameter",
        "missing-cron", "unregistered-job-without-notebook"])
def test_bad_schedule_is_refused_at_start_up_naming_the_entry(tmp_path, jobs, attendu):
    path = _schedule(tmp_path, jobs)
    with pytest.raises(ScheduleError) as err:
        load_schedule(path)
    assert attendu in str(err.value) and str(path) in str(err.value)


def test_bad_schedule_makes_the_daemon_exit_with_a_clear_message(tmp_path, capsys):
    path = _schedule(tmp_path, "  x:\n    cron: '0 25 * * *'\n    notebook: tests/data/lent.ipynb\n")
    assert cli.main(["--schedule", str(path), "daemon"]) == 2
    erreur = capsys.readouterr().err
    assert "job 'x': invalid cron" in erreur and "Traceback" not in erreur


def test_failing_job_is_retried_then_failed_with_an_alert_and_earlier_results_intact(sim_db_url, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setenv("EURALIS_DATABASE_URL", sim_db_url)
    monkeypatch.setenv("EURALIS_REPORTS_DIR", str(tmp_path / "reports"))
    engine = db.get_engine(sim_db_url)
    avant = jobs.run_job("finance", engine)
    lignes_avant = results.finance(engine).data
    # The finance job's notebook replaced by one that fails: the job breaks after a good run.
    schedule = load_schedule(_schedule(tmp_path, "  finance:\n    cron: '0 3 * * *'\n"
                                       f"    notebook: {DATA / 'echec.ipynb'}\n    parameters: {{echec: true}}\n",
                                       retries=1))
    outcome = runner.run_entry(schedule, schedule.entry("finance"), engine)
    assert outcome.statut == "failed" and len(outcome.run_ids) == 2  # first attempt + one retry
    echecs = [r for r in _runs(engine, "finance") if r.run_id in outcome.run_ids]
    assert [r.statut for r in echecs] == ["failed", "failed"]
    assert all("panne simulée" in r.erreur and Path(r.rapport_path).exists() for r in echecs)
    with engine.connect() as conn:
        alerte = conn.execute(sa.text("SELECT * FROM alertes WHERE type = 'job_echec'")).one()
    assert alerte.severite == "critique" and alerte.run_id == outcome.run_ids[-1] and alerte.site_code is None
    assert "finance" in alerte.message and "2 tentative" in alerte.message
    apres = results.finance(engine)
    assert apres.run.run_id == avant["run_id"]  # readers still see the earlier successful run
    assert apres.data.equals(lignes_avant)


def test_two_schedulers_at_once_run_a_job_once(empty_db_url, tmp_path):
    path = _schedule(tmp_path, f"  lent:\n    cron: '*/10 * * * * *'\n    notebook: {DATA / 'lent.ipynb'}\n"
                               "    parameters: {duree: 2.0}\n")
    env = _env(empty_db_url, tmp_path)
    procs = [subprocess.Popen([sys.executable, "-m", "scheduler", "--schedule", str(path), "daemon"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    engine = db.get_engine(empty_db_url)
    try:
        limite = time.monotonic() + 60
        while time.monotonic() < limite:
            lignes = _runs(engine, "lent")
            if sum(r.statut == "skipped" for r in lignes) >= 1 and sum(r.statut == "success" for r in lignes) >= 1:
                break
            time.sleep(0.5)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        sorties = [p.communicate(timeout=60)[0] for p in procs]
    lignes = [r for r in _runs(engine, "lent") if r.statut != "running"]
    faits = sorted((r for r in lignes if r.statut == "success"), key=lambda r: r.debut)
    assert faits, sorties
    assert any(r.statut == "skipped" for r in lignes), sorties
    for a, b in zip(faits, faits[1:], strict=False):
        assert b.debut >= a.fin, "two runs of the same job overlapped"
    assert "skipped, already running" in "".join(sorties)


def test_a_killed_scheduler_leaves_a_run_marked_failed_at_next_start(empty_db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("EURALIS_REPORTS_DIR", str(tmp_path / "reports"))
    path = _schedule(tmp_path, f"  lent:\n    cron: '0 3 * * *'\n    notebook: {DATA / 'lent.ipynb'}\n"
                               "    parameters: {duree: 120.0}\n")
    proc = subprocess.Popen([sys.executable, "-m", "scheduler", "--schedule", str(path), "run", "lent"],
                            env=_env(empty_db_url, tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    engine = db.get_engine(empty_db_url)
    limite = time.monotonic() + 60
    while time.monotonic() < limite and not [r for r in _runs(engine, "lent") if r.statut == "running"]:
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)  # like a crash: scheduler and kernel gone at once
    proc.wait(timeout=30)
    (en_cours,) = [r for r in _runs(engine, "lent") if r.statut == "running"]
    schedule = load_schedule(path)
    daemon.startup(schedule, engine)
    apres = runs.get_run(engine, en_cours.run_id)
    assert apres.statut == "failed" and apres.fin is not None
    assert f"processus interrompu (pid {proc.pid}" in apres.erreur
    with runs.job_lock(engine, "lent"):
        pass  # PostgreSQL released the dead process's lock (JobBusyError otherwise)


def test_missed_run_policy_runs_once_within_the_grace_period(empty_db_url, tmp_path):
    engine = db.get_engine(empty_db_url)
    jobs = f"  lent:\n    cron: '0 * * * *'\n    notebook: {DATA / 'lent.ipynb'}\n"
    schedule = load_schedule(_schedule(tmp_path, jobs, missed_run_grace_hours=6))
    now = schedule.now()
    (manque,) = runner.missed_runs(schedule, engine, now)
    assert manque[0].name == "lent" and manque[1] == now.replace(minute=0, second=0, microsecond=0)
    runs.start_run(engine, "lent", {})  # a run since that fire time: nothing missed any more
    assert runner.missed_runs(schedule, engine, now) == []
    sans_grace = load_schedule(_schedule(tmp_path, jobs, missed_run_grace_hours=0))
    assert runner.missed_runs(sans_grace, db.get_engine(empty_db_url), now + timedelta(hours=2)) == []


def test_the_daemon_e_mails_the_alert_digests_every_day_at_the_configured_paris_time(tmp_path):
    jobs = f"  lent:\n    cron: '0 3 * * *'\n    notebook: {DATA / 'lent.ipynb'}\n"
    engine = db.get_engine("postgresql://personne@127.0.0.1:1/euralis")  # never connected: jobs are only planned
    now = load_schedule(DEFAULT_SCHEDULE).now().replace(year=2026, month=11, day=25, hour=0, minute=30)
    for reglages, attendu in (({}, "07:00"), ({"alerts_digest_time": '"06:45"'}, "06:45")):
        schedule = load_schedule(_schedule(tmp_path, jobs, **reglages))
        sched = daemon.build_scheduler(schedule, engine, threading.Event())
        (resume,) = [j for j in sched.get_jobs() if j.func is runner.send_alert_digests]
        assert resume.args == (engine,)
        prochains = [resume.trigger.get_next_fire_time(None, now + timedelta(days=d)) for d in (0, 1)]
        assert [p.strftime("%d %H:%M %Z") for p in prochains] == [f"25 {attendu} CET", f"26 {attendu} CET"]
    assert "alerts_digest_time: \"07:00\"" in DEFAULT_SCHEDULE.read_text()
    for faux in ("7:00", '"7h"', '"25:00"'):  # YAML reads an unquoted 7:00 as 420
        with pytest.raises(ScheduleError, match='alerts_digest_time must be a quoted time "HH:MM"'):
            load_schedule(_schedule(tmp_path, jobs, alerts_digest_time=faux))


def test_reports_retention_deletes_only_old_date_folders(tmp_path):
    for jour in ("2026-10-01", "2026-11-01", "2026-11-20"):
        (tmp_path / jour).mkdir()
        (tmp_path / jour / "finance-1.ipynb").write_text("{}")
    (tmp_path / "screenshots").mkdir()
    (tmp_path / "bench-2026-01-01.md").write_text("kept")
    supprimes = runner.purge_reports(30, today=date(2026, 11, 25), root=tmp_path)
    assert [p.name for p in supprimes] == ["2026-10-01"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-11-01", "2026-11-20", "bench-2026-01-01.md",
                                                          "screenshots"]


def test_list_and_crontab(shared_sim_url, monkeypatch, capsys):
    monkeypatch.setenv("EURALIS_DATABASE_URL", shared_sim_url)
    assert cli.main(["list"]) == 0
    sortie = capsys.readouterr().out
    assert all(job in sortie for job in load_schedule().entries) and "jamais lancé" in sortie
    assert cli.main(["crontab"]) == 0
    lignes = [ligne for ligne in capsys.readouterr().out.splitlines() if ligne and not ligne.startswith("#")]
    assert lignes[0] == "CRON_TZ=Europe/Paris"
    assert any(ligne.startswith("0 2 * * * ") and ligne.endswith("2>&1") and "run entrainement" in ligne
               for ligne in lignes)
    assert len(lignes) == 1 + len(load_schedule().entries) + 1  # time zone, jobs, retention


def test_refresh_performances_fills_the_view(sim_db_url):
    engine = db.get_engine(sim_db_url)
    resultat = jobs.run_job("refresh_performances", engine)
    with engine.connect() as conn:
        attendu = conn.execute(sa.text(
            "SELECT count(DISTINCT (l.site_code, date_trunc('month', a.date_abattage))) "
            "FROM abattages a JOIN lots_gavage l USING (lot_id)")).scalar()
    vue = results.performances(engine).data
    assert resultat["lignes"] == len(vue) == attendu > 20
    assert vue["production_foie_kg"].gt(0).all() and vue["itm_moyen"].between(9, 20).all()
