"""The deployment files of deploy/ for real: Debian's nginx runs the rendered site (high ports, a self-signed
certificate made here with openssl) in front of Voilà, and Chromium opens a dashboard through HTTPS: widgets
render only if the kernel websocket goes through the proxy. systemd-analyze checks the rendered units.
Fails (never skips) where nginx, openssl or systemd-analyze is absent: ``.ci/run`` installs them (Debian packages
nginx, openssl, systemd)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from euralis_lib import config
from euralis_lib.operations import deploy
from euralis_lib.serving import serve
from euralis_lib.serving.browser import LOADED, free_port
from tests.helpers.connexion import creer_utilisateur, se_connecter
from tests.helpers.pages import PAGE_TIMEOUT_MS

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _settings(base: Path, **ports: int) -> deploy.Settings:
    return deploy.Settings(install_dir=config.PROJECT_ROOT, user="euralis", env_file=base / "euralis.env",
                           server_name="127.0.0.1 localhost", listen_address="127.0.0.1", cert=base / "cert.pem",
                           key=base / "key.pem", log_dir=base / "logs", **ports)


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    import socket

    limite = time.monotonic() + timeout
    while time.monotonic() < limite:
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited with code {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} after {timeout} s")


@pytest.fixture(scope="module")
def https_site(pg_cluster, sim_template) -> Iterator[tuple[int, int, Path]]:
    """Voilà on a simulated database behind nginx with the rendered site; (https port, http port, base folder)."""
    if not os.access(NGINX, os.X_OK):
        pytest.fail("Debian's nginx is not installed (apt-get install nginx; .ci/run does it)")
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed: no self-signed certificate (apt-get install openssl; .ci/run does it)")
    base = Path(tempfile.mkdtemp(prefix="eurn-", dir="/tmp"))
    base.chmod(0o755)
    (base / "logs").mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(base / "key.pem"),
                    "-out", str(base / "cert.pem")], check=True, capture_output=True)
    https, http, voila = free_port(), free_port(), free_port()
    deploy.write(_settings(base, https_port=https, http_port=http, voila_port=voila), base)
    # The main configuration a Debian server has in /etc/nginx/nginx.conf, reduced to a private prefix.
    (base / "nginx.conf").write_text(
        f"worker_processes 1;\npid {base}/nginx.pid;\nerror_log {base}/logs/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n  client_body_temp_path {base}/body;\n  proxy_temp_path {base}/proxy;\n"
        f"  fastcgi_temp_path {base}/fastcgi;\n  uwsgi_temp_path {base}/uwsgi;\n  scgi_temp_path {base}/scgi;\n"
        f"  access_log {base}/logs/access.log;\n  include {base}/euralis.conf;\n}}\n")
    check = subprocess.run([NGINX, "-t", "-p", str(base), "-c", str(base / "nginx.conf")], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stderr
    name = pg_cluster.clone(sim_template)
    (base / "admin").write_text(creer_utilisateur(pg_cluster.url(name), "admin-test", "admin"))
    # As deploy/euralis.env.example: nginx trusted as the proxy, so the cookie is Secure from its
    # X-Forwarded-Proto alone (no EURALIS_SECURE_COOKIES).
    env = {**os.environ, "EURALIS_DATABASE_URL": pg_cluster.url(name), "EURALIS_TRUSTED_PROXIES": "127.0.0.1,::1",
           "EURALIS_HOME": str(base / "home")}
    env.pop("EURALIS_SECURE_COOKIES", None)
    voila_proc = serve.start(voila, env=env, log_path=base / "voila.log")
    nginx = subprocess.Popen([NGINX, "-p", str(base), "-c", str(base / "nginx.conf"), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        serve.wait_ready(voila_proc, voila, timeout=120)
        _wait_port(https, nginx)
        yield https, http, base
    finally:
        for proc in (nginx, voila_proc):
            serve.stop(proc)
        pg_cluster.drop(name)
        shutil.rmtree(base, ignore_errors=True)


def test_dashboard_page_through_nginx_https_with_websockets(https_site, browser):
    https, _http, base = https_site
    sockets: list[str] = []
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.on("websocket", lambda ws: sockets.append(ws.url))
        se_connecter(page, https, "admin-test", (base / "admin").read_text(), scheme="https")
        [cookie] = [c for c in context.cookies() if c["name"] == "euralis_session"]
        assert cookie["secure"] and cookie["httpOnly"], cookie
        page.goto(f"https://127.0.0.1:{https}/voila/render/tableau_de_bord.ipynb", wait_until="domcontentloaded",
                  timeout=PAGE_TIMEOUT_MS)
        page.wait_for_function(LOADED, timeout=PAGE_TIMEOUT_MS)
        assert page.locator(".euralis-message.erreur").count() == 0, page.inner_text("body")[:500]
        valeur = page.locator(".euralis-kpi", has_text="Production Totale").locator(".valeur").inner_text()
        assert re.search(r"\d", valeur), valeur
        page.wait_for_selector("svg.main-svg", state="visible", timeout=60_000)
        assert page.url.startswith(f"https://127.0.0.1:{https}/")
    finally:
        context.close()
    assert any(url.startswith(f"wss://127.0.0.1:{https}/api/kernels/") for url in sockets), sockets
    # nginx logs an upgraded connection when it ends, which follows the context's closing by a moment.
    upgrade = re.compile(r'"GET /api/kernels/\S+/channels\S* HTTP/1.1" 101 ')
    limite = time.monotonic() + 30
    while not upgrade.search(access := (base / "logs" / "euralis-access.log").read_text()):
        assert time.monotonic() < limite, access[-2000:]
        time.sleep(0.2)


def test_plain_http_redirects_to_https(https_site):
    https, http, _base = https_site

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(f"http://127.0.0.1:{http}/voila/render/accueil.ipynb", timeout=10)
    assert err.value.code == 301
    assert err.value.headers["Location"] == f"https://127.0.0.1:{https}/voila/render/accueil.ipynb"
    assert err.value.headers["Server"] == "nginx"  # server_tokens off: no version


def test_rendered_systemd_units_pass_systemd_analyze(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is not installed (apt-get install systemd; .ci/run does it)")
    (tmp_path / "euralis.env").write_text("EURALIS_DATABASE_URL=postgresql://u:p@127.0.0.1/euralis\n")
    paths = deploy.write(_settings(tmp_path), tmp_path)
    units = [str(p) for p in paths if p.suffix == ".service"]
    assert len(units) == 2
    done = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    for unit in units:
        texte = Path(unit).read_text()
        assert "User=euralis" in texte and "CapabilityBoundingSet=\n" in texte and "UMask=0077" in texte
        assert all(f"{option}=yes" in texte for option in ("NoNewPrivileges", "ProtectHome", "PrivateDevices",
                                                            "RestrictSUIDSGID"))
    broken = tmp_path / "euralis-scheduler.service"
    broken.write_text(broken.read_text().replace("ExecStart=/", "ExecStart="))
    refused = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True, text=True)
    assert refused.returncode != 0 and "Neither a valid executable name nor an absolute path" in refused.stderr


def test_render_refuses_a_placeholder_without_value():
    with pytest.raises(deploy.DeployError, match="no value for CERT, VOILA_PORT"):
        deploy.render("server 127.0.0.1:@VOILA_PORT@; ssl_certificate @CERT@;", {})
    texte = deploy.render_all(deploy.Settings())["euralis.conf"]
    assert not re.search(r"@[A-Z_]+@", texte)
    assert "proxy_set_header Upgrade $http_upgrade;" in texte and "return 301 https://$host$request_uri;" in texte
    assert texte.count("server_tokens off;") == 2
    with pytest.raises(deploy.DeployError, match="must not run as root"):
        deploy.render_all(deploy.Settings(user="root"))
