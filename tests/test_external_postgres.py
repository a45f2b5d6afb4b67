"""The external-PostgreSQL path for real: Debian's PostgreSQL 15 started here on TCP with scram-sha-256
password authentication, an application role with a password, then migrations, a simulation, job notebooks
(papermill), a dashboard page (Voilà + Chromium), backup/verify/restore, all through EURALIS_DATABASE_URL.

The password holds URL-special characters and must never appear in outputs, reports, logs or job_runs.
Fails (never skips) where Debian's postgresql-15 is not installed: ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest

from euralis_lib import config
from euralis_lib.auth.acces import WEB_ROLE
from euralis_lib.serving import serve
from euralis_lib.serving.browser import LOADED, free_port
from tests.helpers.connexion import creer_utilisateur, se_connecter
from tests.helpers.pages import PAGE_TIMEOUT_MS, pools

PG15 = Path("/usr/lib/postgresql/15/bin")
APP_ROLE, READER_ROLE, DATABASE = "euralis_app", "euralis_lecteur", "euralis"



@dataclass
class ExternalServer:
    """A throw-away PostgreSQL 15 cluster: TCP on 127.0.0.1 with scram passwords, admin over its own socket."""

    base: Path
    port: int
    passwords: dict[str, str]
    outputs: list[str] = field(default_factory=list)  # everything printed by commands, scanned for leaks

    def url(self, role: str = APP_ROLE, password: str | None = None, database: str = DATABASE) -> str:
        secret = quote(self.passwords[role] if password is None else password, safe="")
        return f"postgresql://{role}:{secret}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = psycopg2.connect(dbname="postgres", user="postgres", host=str(self.base / "sock"), port=self.port)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def cli(self, *args: str, url: str | None = None, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        """``python -m euralis_lib ARGS`` against this server; output kept for the leak scan."""
        done = subprocess.run([sys.executable, "-m", "euralis_lib", *args], capture_output=True, text=True,
                              timeout=1200, cwd=config.PROJECT_ROOT,
                              env={**os.environ, "EURALIS_DATABASE_URL": url or self.url(), **env})
        self.outputs += [done.stdout, done.stderr]
        if check:
            assert done.returncode == 0, f"{args}: {done.stderr[-3000:]}"
        return done

    def leaks(self, **texts: str) -> list[str]:
        """``where: excerpt`` for each text (by name) holding a password, raw or URL-encoded."""
        forms = {f for pw in self.passwords.values() for f in (pw, quote(pw, safe=""))}
        found = []
        for where, text in texts.items():
            for form in forms:
                at = text.find(form)
                if at >= 0:
                    found.append(f"{where}: …{text[max(0, at - 80):at + len(form) + 20]}…")
        return found


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def external_pg() -> Iterator[ExternalServer]:
    if not (PG15 / "initdb").exists():
        pytest.fail("Debian's postgresql-15 is not installed (apt-get install postgresql-15; .ci/run does it)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:  # util-linux, essential on Debian
        pytest.fail("running as root needs runuser to start PostgreSQL as the postgres user (package util-linux)")
    base = Path(tempfile.mkdtemp(prefix="eurx-", dir="/tmp"))
    base.chmod(0o755)
    (base / "sock").mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(base / "sock", "postgres", "postgres")
    data, port = base / "data", free_port()
    # Passwords with characters that must be URL-encoded, and a marker that is easy to search for.
    server = ExternalServer(base, port, {APP_ROLE: f"Pw:@/%{secrets.token_hex(6)}",
                                         READER_ROLE: f"Lect#?{secrets.token_hex(6)}",
                                         WEB_ROLE: f"Web%'@{secrets.token_hex(6)}"})
    subprocess.run(_as_postgres([str(PG15 / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
                                 "--auth-local=trust", "--auth-host=scram-sha-256"]), check=True, capture_output=True)
    (data / "pg_hba.conf").write_text("local all postgres trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{base / 'sock'}'\n"
                   "password_encryption = 'scram-sha-256'\nlog_connections = on\n")
    subprocess.run(_as_postgres([str(PG15 / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w",
                                 "start"]), check=True, capture_output=True)
    try:
        # The migrating role creates the workbench's roles and bypasses the row-level security it sets up.
        server.admin(f"CREATE ROLE {APP_ROLE} LOGIN CREATEDB CREATEROLE BYPASSRLS PASSWORD %s",
                     (server.passwords[APP_ROLE],))
        server.admin(f"CREATE ROLE {READER_ROLE} LOGIN PASSWORD %s", (server.passwords[READER_ROLE],))
        server.admin(f"CREATE DATABASE {DATABASE} OWNER {APP_ROLE}")
        yield server
    finally:
        subprocess.run(_as_postgres([str(PG15 / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_server_really_asks_for_a_password_over_tcp(external_pg):
    with pytest.raises(psycopg2.OperationalError, match="no password supplied|password authentication failed"):
        psycopg2.connect(host="127.0.0.1", port=external_pg.port, user=APP_ROLE, dbname=DATABASE)
    [(version,)] = external_pg.admin("SHOW server_version")
    assert version.startswith("15.")
    assert external_pg.leaks(url=f"x{external_pg.url()}x") != []  # the leak scan itself finds an encoded password


def test_wrong_password_is_one_line_naming_host_and_user(external_pg):
    mauvais = "Faux:@/" + secrets.token_hex(4)
    done = external_pg.cli("migrate", url=external_pg.url(password=mauvais), check=False)
    assert done.returncode == 2 and done.stdout == ""
    [ligne] = done.stderr.splitlines()
    assert f"127.0.0.1:{external_pg.port}" in ligne and APP_ROLE in ligne and "password authentication failed" in ligne
    assert mauvais not in done.stderr and quote(mauvais, safe="") not in done.stderr
    assert "Traceback" not in done.stderr


def test_migrations_simulation_jobs_and_a_dashboard_against_the_external_server(external_pg, tmp_path, browser):
    rapports = tmp_path / "reports"
    env = {"EURALIS_REPORTS_DIR": str(rapports)}
    assert "applied: 001_reference.sql" in external_pg.cli("migrate", **env).stdout
    assert "schema up to date" in external_pg.cli("migrate", **env).stdout
    external_pg.cli("simulate", "--years", "1", "--seed", "42", "--end", "2026-06-30", **env)
    statut = external_pg.cli("db", "status", **env).stdout
    assert f"127.0.0.1:{external_pg.port}/{DATABASE}: PostgreSQL 15." in statut
    jobs = ["refresh_performances", "clustering"]  # a view refresh and a model; test_pipeline runs every job
    external_pg.cli("pipeline", "--only", *jobs, **env)
    lignes = _rows_in(external_pg, external_pg.url(), "SELECT job, statut, t::text FROM job_runs t ORDER BY run_id")
    assert [(j, s) for j, s, _ in lignes] == [(j, "success") for j in jobs]
    executes = sorted(rapports.rglob("*.ipynb"))
    assert len(executes) == len(jobs) and len(sorted(rapports.rglob("*.html"))) == len(jobs)

    texte_page, log_voila = _dashboard_page(external_pg, tmp_path, browser)
    assert "Production Totale" in texte_page

    textes = {str(p): p.read_text(encoding="utf-8", errors="replace") for p in rapports.rglob("*") if p.is_file()}
    textes.update({f"output {i}": t for i, t in enumerate(external_pg.outputs)},
                  **{f"job_runs row {i}": t for i, (_, _, t) in enumerate(lignes)}, page=texte_page,
                  voila_log=log_voila, server_log=(external_pg.base / "server.log").read_text(errors="replace"))
    assert external_pg.leaks(**textes) == []


def _dashboard_page(server: ExternalServer, tmp_path: Path, browser) -> tuple[str, str]:  # noqa: ANN001
    """Open the Tableau de bord through Voilà on the external database; (page text, Voilà log)."""
    port, log = free_port(), tmp_path / "voila.log"
    mot_de_passe = creer_utilisateur(server.url(), "admin-test", "admin")
    # The kernels connect as euralis_web with its own password, set by the server at start.
    env = {**os.environ, "EURALIS_DATABASE_URL": server.url(), "EURALIS_WEB_PASSWORD": server.passwords[WEB_ROLE],
           "EURALIS_HOME": str(tmp_path / "home"), **pools(tableau_de_bord=1)}
    proc = serve.start(port, env=env, pool_size=0, log_path=log)
    try:
        serve.wait_ready(proc, port, timeout=120)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            se_connecter(page, port, "admin-test", mot_de_passe)
            page.goto(serve.url(port, page="tableau_de_bord"), wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_MS)
            page.wait_for_function(LOADED, timeout=PAGE_TIMEOUT_MS)
            assert page.locator(".euralis-message.erreur").count() == 0, page.inner_text("body")[:500]
            valeur = page.locator(".euralis-kpi", has_text="Production Totale").locator(".valeur").inner_text()
            assert re.search(r"\d", valeur), valeur
            page.wait_for_selector("svg.main-svg", state="visible", timeout=60_000)
            texte = page.inner_text("body") + page.content()
        finally:
            context.close()
    finally:
        serve.stop(proc)
    return texte, log.read_text(errors="replace")


def test_backup_verify_restore_on_the_external_server(external_pg, tmp_path):
    base = "euralis_sauvegarde"
    external_pg.admin(f"CREATE DATABASE {base} OWNER {APP_ROLE}")
    url = external_pg.url(database=base)
    external_pg.cli("simulate", "--years", "1", "--seed", "7", "--end", "2026-06-30", url=url)
    fait = external_pg.cli("backup", "--to", str(tmp_path), "--verify", url=url)
    assert "verified in" in fait.stdout
    from euralis_lib.database import backup

    [sauvegarde] = backup.list_backups(tmp_path)
    assert sauvegarde.manifest["server_version"].startswith("15.")
    assert sauvegarde.manifest["pg_dump"].startswith("15.") and str(PG15) in sauvegarde.manifest["pg_dump"]
    assert sauvegarde.manifest["database"] == f"{APP_ROLE}@127.0.0.1:{external_pg.port}/{base}"
    lots = _count(external_pg, url, "lots_gavage")
    _rows_in(external_pg, url, "DELETE FROM doses_gavage")

    # A role that may not create databases gets a clear refusal and nothing changes.
    lecteur = external_pg.url(READER_ROLE, database=base)
    refus = external_pg.cli("backup", "verify", str(sauvegarde.path), url=lecteur, check=False)
    assert refus.returncode == 2 and f"role {READER_ROLE} may not create databases" in refus.stderr

    fait = external_pg.cli("restore", str(sauvegarde.path), "--yes", url=url)
    assert _count(external_pg, url, "lots_gavage") == lots
    assert _count(external_pg, url, "doses_gavage") == sauvegarde.manifest["tables"]["doses_gavage"]["rows"] > 0
    ancien = re.search(r"kept as database (\S+);", fait.stdout).group(1)
    assert _count(external_pg, external_pg.url(database=ancien), "doses_gavage") == 0
    textes = {str(p): p.read_text(errors="replace") for p in tmp_path.rglob("*.json")}
    assert external_pg.leaks(**textes, **{f"output {i}": t for i, t in enumerate(external_pg.outputs)}) == []


def _rows_in(server: ExternalServer, url: str, sql: str) -> list[tuple]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    conn = psycopg2.connect(host="127.0.0.1", port=server.port, user=parsed.username, dbname=parsed.database,
                            password=parsed.password)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def _count(server: ExternalServer, url: str, table: str) -> int:
    return _rows_in(server, url, f"SELECT count(*) FROM {table}")[0][0]
