"""The command line as users run it: clear messages, exit codes, no traceback walls."""

import os
import subprocess
import sys

from euralis_lib import cli


def _run(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "euralis_lib", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_kpis_printed_per_site(shared_sim_url):
    out = _run("kpis", env_extra={"EURALIS_DATABASE_URL": shared_sim_url})
    assert out.returncode == 0, out.stderr
    for label in ("Production Totale", "Lots Actifs", "Gaveurs Actifs", "Alertes Critiques"):
        assert label in out.stdout
    assert [line.split()[0] for line in out.stdout.splitlines()[2:]] == ["LL", "LS", "MT"]


def test_unreachable_database_names_the_host_never_the_password():
    out = _run("kpis", env_extra={"EURALIS_DATABASE_URL": "postgresql://bob:s3cr3t@127.0.0.1:9/prod"})
    assert out.returncode == 2
    assert "127.0.0.1:9/prod" in out.stderr and "embedded PostgreSQL" in out.stderr
    assert "s3cr3t" not in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


def test_unknown_site_is_a_clear_error(shared_sim_url):
    out = _run("kpis", "--site", "XX", env_extra={"EURALIS_DATABASE_URL": shared_sim_url})
    assert out.returncode == 2
    assert "valid choices are LL, LS, MT" in out.stderr and "Traceback" not in out.stderr


def test_embedded_commands_refuse_when_an_external_database_is_configured(capsys, monkeypatch):
    monkeypatch.setenv("EURALIS_DATABASE_URL", "postgresql://u:pw@db.example:5432/x")
    assert cli.main(["db", "stop"]) == 2
    err = capsys.readouterr().err
    assert "db.example:5432/x" in err and "pw" not in err.replace("pgserver", "")


def test_reset_needs_confirmation(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("EURALIS_DATABASE_URL", raising=False)
    monkeypatch.setenv("EURALIS_HOME", str(tmp_path))
    assert cli.main(["db", "reset"]) == 2
    assert "--yes" in capsys.readouterr().err


def test_simulate_then_kpis_on_an_empty_database(empty_db_url):
    env = {"EURALIS_DATABASE_URL": empty_db_url}
    out = _run("simulate", "--years", "1", "--seed", "5", "--end", "2025-12-31", env_extra=env)
    assert out.returncode == 0, out.stderr
    assert "loaded with COPY" in out.stdout and "lots_gavage" in out.stdout
    again = _run("simulate", "--years", "1", "--if-empty", env_extra=env)
    assert again.returncode == 0 and "skipped" in again.stdout
    refused = _run("simulate", "--years", "1", env_extra=env)
    assert refused.returncode == 2 and "already holds lots" in refused.stderr
