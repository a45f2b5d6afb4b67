"""Runs whose process is gone (issue 25): a real pipeline or scheduler process killed with SIGKILL while
its run is ``running``, on a real database; the run is marked failed by whoever looks first (the next
run of the job, health, the Ops page), earlier results stay, and a run whose process is alive is left
alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import sqlalchemy as sa

from euralis_lib import config, jobs
from euralis_lib.dashboards import ops as ops_page
from euralis_lib.dashboards.common import Contexte
from euralis_lib.database import db
from euralis_lib.jobs import finance, parameters, results, runs
from euralis_lib.operations import health
from scheduler import runner
from tests.helpers.pages import page_text

DATA = config.PROJECT_ROOT / "tests" / "data"


def _env(url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "EURALIS_DATABASE_URL": url, "EURALIS_REPORTS_DIR": str(tmp_path / "reports"),
            "PYTHONPATH": str(config.PROJECT_ROOT)}


def _running(engine, job: str) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT run_id FROM job_runs WHERE job = :j AND statut = 'running'"),
                                 {"j": job}).scalars())


def _start_until_running(cmd: list[str], env: dict[str, str], engine, job: str) -> tuple[subprocess.Popen, int]:
    """Start ``cmd`` and return it once its run of ``job`` is ``running``."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=config.PROJECT_ROOT)
    limite = time.monotonic() + 60
    while time.monotonic() < limite and proc.poll() is None:
        if en_cours := _running(engine, job):
            return proc, en_cours[0]
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no running run of {job}: {proc.communicate()[0]}")


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the process and the kernel it launched, like a crash (frozen first, so it forks no more)."""
    os.kill(proc.pid, signal.SIGSTOP)
    enfants = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    for enfant in enfants:
        enfant.kill()
    proc.communicate(timeout=30)
    psutil.wait_procs(enfants, timeout=30)


def _killed_finance_run(url: str, tmp_path: Path) -> tuple[int, int]:
    """``make pipeline`` for the finance job, killed while its run is ``running``: (its pid, the run id)."""
    engine = db.get_engine(url)
    proc, run_id = _start_until_running([sys.executable, "-m", "euralis_lib", "pipeline", "--only", "finance"],
                                        _env(url, tmp_path), engine, "finance")
    _kill(proc)
    assert runs.get_run(engine, run_id).statut == "running"  # nobody has looked yet
    return proc.pid, run_id


def _rows(engine, run_id: int) -> pd.DataFrame:
    return db.read_df(engine, "SELECT * FROM finance_indicateurs WHERE run_id = :r "
                              "ORDER BY niveau, site_code, gaveur_id, mois", {"r": run_id})


def _assert_marked(engine, run_id: int, pid: int) -> None:
    run = runs.get_run(engine, run_id)
    assert run.statut == "failed" and run.fin is not None, run
    assert f"processus interrompu (pid {pid} sur " in run.erreur and "relancez le job" in run.erreur
    assert _rows(engine, run_id).empty  # nothing of the killed run became visible


def test_the_next_run_of_the_job_marks_a_killed_pipeline_run_failed(sim_db_url, tmp_path):
    engine = db.get_engine(sim_db_url)
    avant = jobs.run_job("finance", engine)["run_id"]
    lignes = _rows(engine, avant)
    pid, tue = _killed_finance_run(sim_db_url, tmp_path)
    apres = jobs.run_job("finance", engine)["run_id"]  # not skipped: the dead process's lock was released
    _assert_marked(engine, tue, pid)
    assert runs.get_run(engine, apres).statut == "success"
    pd.testing.assert_frame_equal(_rows(engine, avant), lignes)


def test_health_marks_a_killed_pipeline_run_failed_and_is_not_ok(sim_db_url, tmp_path, monkeypatch):
    engine = db.get_engine(sim_db_url)
    avant = jobs.run_job("finance", engine)["run_id"]
    lues = results.finance(engine)
    pid, tue = _killed_finance_run(sim_db_url, tmp_path)
    monkeypatch.setenv("EURALIS_BACKUP_DIR", str(tmp_path / "sauvegardes"))

    def verdicts(url: str) -> dict[str, health.Check]:
        monkeypatch.setenv("EURALIS_DATABASE_URL", url)
        return {c.name: c for c in health.run_checks("http://127.0.0.1:9/", now=None)}

    # A database user that may not mark it: the orphan makes health critical, and stays running.
    sans_droit = verdicts(db.url_en_role(sim_db_url, "euralis_web"))["orphans"]
    assert sans_droit.status == health.CRITICAL and "permission denied" in sans_droit.detail
    assert runs.get_run(engine, tue).statut == "running"
    checks = verdicts(sim_db_url)
    assert checks["orphans"].status == health.OK and f"finance (run {tue}, pid {pid} on " in checks["orphans"].detail
    _assert_marked(engine, tue, pid)
    assert checks["failures"].status == health.WARNING and f"finance (1, last run {tue})" in checks["failures"].detail
    relu = results.finance(engine)  # the dashboards still read the earlier run, unchanged
    assert relu.run.run_id == avant
    pd.testing.assert_frame_equal(relu.data, lues.data)
    encore = verdicts(sim_db_url)  # once marked, it is a failure like any other
    assert encore["orphans"].status == health.OK and "no run left" in encore["orphans"].detail
    assert encore["failures"].status == health.WARNING


def test_a_run_whose_process_is_alive_is_left_alone_until_killed(empty_db_url, tmp_path, monkeypatch):
    engine = db.get_engine(empty_db_url)
    fichier = tmp_path / "schedule.yml"
    fichier.write_text(f"retries: 0\nmissed_run_grace_hours: 0\njobs:\n  lent:\n    cron: '0 3 * * *'\n"
                       f"    notebook: {DATA / 'lent.ipynb'}\n    parameters: {{duree: 120.0}}\n", encoding="utf-8")
    proc, run_id = _start_until_running([sys.executable, "-m", "scheduler", "--schedule", str(fichier), "run", "lent"],
                                        _env(empty_db_url, tmp_path), engine, "lent")
    try:
        with engine.connect() as conn:  # the run names the live session holding its job's lock
            assert conn.execute(sa.text(
                "SELECT r.verrou_pid = l.pid FROM job_runs r JOIN pg_locks l ON l.pid = r.verrou_pid "
                "AND l.locktype = 'advisory' AND l.granted WHERE r.run_id = :r"), {"r": run_id}).scalar() is True
        assert runner.mark_orphans(engine) == []  # the scheduler's tick
        assert health.check_orphans(engine).status == health.OK
        with pytest.raises(runs.JobBusyError):  # another start of the job neither runs nor marks it
            with runs.job_lock(engine, "lent"):
                pass
        assert runs.get_run(engine, run_id).statut == "running"
    finally:
        _kill(proc)
    monkeypatch.setenv("EURALIS_SCHEDULE", str(fichier))
    monkeypatch.setenv("EURALIS_BACKUP_DIR", str(tmp_path / "sauvegardes"))
    page = page_text(ops_page.build(Contexte(engine, None, lambda: None)))  # the Ops page looks first
    run = runs.get_run(engine, run_id)
    assert run.statut == "failed" and f"processus interrompu (pid {proc.pid} sur " in run.erreur
    assert "processus interrompu" in page


def test_a_job_finishing_after_its_run_was_marked_publishes_nothing(sim_db_url):
    engine = db.get_engine(sim_db_url)
    run_id = runs.start_run(engine, "finance")  # no session holds the finance lock: nobody owns this run
    (orphelin,) = runs.mark_orphans(engine)
    assert orphelin.run_id == run_id and orphelin.pid == os.getpid()
    valeurs = parameters.with_defaults("finance", jobs.get("finance").notebook, {})
    with pytest.raises(runs.RunNotRunningError):  # e.g. a kernel that outlived its runner
        finance.run(engine, run_id=run_id, **valeurs)
    assert _rows(engine, run_id).empty
    run = runs.get_run(engine, run_id)
    assert run.statut == "failed" and "processus interrompu" in run.erreur  # the verdict is not rewritten
    assert runs.mark_orphans(engine) == []  # marked once
