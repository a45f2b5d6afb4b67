"""The deployment files of deploy/ for real: Debian's nginx runs the rendered site (high ports, a self-signed
certificate made here with openssl) in front of two Voilà instances sharing one database, and Chromium opens
dashboards through HTTPS: widgets render only if the kernel websocket goes through the proxy to the instance
holding the page's kernel; when that instance dies, the user's next page load lands on the other one, still
logged in. systemd-analyze checks the rendered units.
Fails (never skips) where nginx, openssl or systemd-analyze is absent: ``.ci/run`` installs them (Debian packages
nginx, openssl, systemd)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from euralis_lib import config
from euralis_lib.exceptions import ServeError
from euralis_lib.operations import deploy, health
from euralis_lib.serving import serve
from euralis_lib.serving.browser import LOADED, free_port, kernel_ids
from tests.helpers.connexion import creer_utilisateur, se_connecter
from tests.helpers.pages import PAGE_TIMEOUT_MS

NGINX = deploy.nginx_binary()


@dataclass(frozen=True)
class Site:
    """The rendered site running: nginx's ports, its folder (logs, admin password), the Voilà servers by port."""

    https: int
    http: int
    base: Path
    voilas: dict[int, subprocess.Popen]
    settings: deploy.Settings


@pytest.fixture(scope="module")
def https_site(pg_cluster, sim_template) -> Iterator[Site]:
    """The rendered site's Voilà instances (two, the default) on a simulated database behind nginx. They share
    EURALIS_HOME, so one session secret, as servers sharing EURALIS_SESSION_SECRET; two preheated kernels each
    (Accueil, Tableau de bord) to keep the machine free."""
    if not os.access(NGINX, os.X_OK):
        pytest.fail("Debian's nginx is not installed (apt-get install nginx; .ci/run does it)")
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed: no self-signed certificate (apt-get install openssl; .ci/run does it)")
    base = Path(tempfile.mkdtemp(prefix="eurn-", dir="/tmp"))
    base.chmod(0o755)
    https, http, voila = free_port(), free_port(), free_port()
    while not _port_free(voila + 1):
        voila = free_port()
    settings = deploy.local_settings(base, https_port=https, http_port=http, voila_port=voila)
    main = deploy.write_local_site(settings, base)
    check = subprocess.run([NGINX, "-t", "-p", str(base), "-c", str(main)], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stderr
    name = pg_cluster.clone(sim_template)
    (base / "admin").write_text(creer_utilisateur(pg_cluster.url(name), "admin-test", "admin"))
    # As deploy/euralis.env.example: nginx trusted as the proxy, so the cookie is Secure from its
    # X-Forwarded-Proto alone (no EURALIS_SECURE_COOKIES).
    env = {**os.environ, "EURALIS_DATABASE_URL": pg_cluster.url(name), "EURALIS_TRUSTED_PROXIES": "127.0.0.1,::1",
           "EURALIS_HOME": str(base / "home"), "EURALIS_POOLS": "accueil=1,tableau_de_bord=1"}
    for name in ("EURALIS_SECURE_COOKIES", "EURALIS_SESSION_SECRET"):
        env.pop(name, None)
    voilas = {port: serve.start(port, env=env, pool_size=0, log_path=base / f"voila-{port}.log")
              for port in settings.voila_ports}
    procs = list(voilas.values())
    try:
        procs.append(deploy.start_local_nginx(settings, main))
        for port, proc in voilas.items():
            serve.wait_ready(proc, port, timeout=180)
        yield Site(https, http, base, voilas, settings)
    finally:
        for proc in procs:
            serve.stop(proc)
        pg_cluster.drop(name)
        shutil.rmtree(base, ignore_errors=True)


def _port_free(port: int) -> bool:
    try:
        serve.check_port_free("127.0.0.1", port)
    except ServeError:
        return False
    return True


def test_dashboard_page_through_nginx_https_with_websockets(https_site, browser):
    https, base = https_site.https, https_site.base
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
    https, http = https_site.https, https_site.http

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
    paths = deploy.write(deploy.local_settings(tmp_path), tmp_path)
    units = [str(p) for p in paths if p.suffix == ".service"]
    assert len(units) == 4
    done = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    groupe = (tmp_path / "euralis-dashboards.service").read_text()
    assert "Wants=euralis-voila@8866.service euralis-voila@8867.service\n" in groupe
    assert "ExecStart=/bin/true" in groupe and "User=" not in groupe
    instance = (tmp_path / "euralis-voila@.service").read_text()
    assert "serve --host 127.0.0.1 --port %i\n" in instance and "PartOf=euralis-dashboards.service" in instance
    courriels = (tmp_path / "euralis-courriels.service").read_text()
    assert f"ExecStart={config.PROJECT_ROOT}/.venv/bin/python -m euralis_lib.alerts.courriels\n" in courriels
    assert "Restart=on-failure\n" in courriels and f"EnvironmentFile={tmp_path / 'euralis.env'}\n" in courriels
    for unit in (u for u in units if not u.endswith("euralis-dashboards.service")):
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


def test_brotli_is_rendered_only_for_an_nginx_that_loads_it(tmp_path):
    avec, sans = (deploy.render_all(deploy.Settings(brotli=b))["euralis.conf"] for b in (True, False))
    assert "brotli on;" in avec and 'proxy_set_header Accept-Encoding "";' in avec
    assert not re.search(r"^\s*brotli", sans, re.MULTILINE) and "Accept-Encoding" not in sans
    assert "gzip on;" in avec and "gzip on;" in sans
    (tmp_path / "50-mod-http-brotli-filter.conf").write_text("load_module modules/ngx_http_brotli_filter_module.so;\n")
    (tmp_path / "50-mod-stream.conf").write_text("load_module /opt/nginx/ngx_stream_module.so;\n")
    assert deploy.brotli_enabled(tmp_path) and not deploy.brotli_enabled(tmp_path / "absent")
    assert deploy.enabled_modules(tmp_path) == [
        "load_module /usr/share/nginx/modules/ngx_http_brotli_filter_module.so;",
        "load_module /opt/nginx/ngx_stream_module.so;"]


def test_render_spreads_instances_over_ports_and_hosts_behind_a_session_hash():
    texte = deploy.render_all(deploy.Settings(voila_port=9000, instances=3, hosts=("10.0.0.5", "10.0.0.6")))
    site = texte["euralis.conf"]
    assert "hash $cookie_euralis_session consistent;" in site
    serveurs = re.findall(r"^    server (\S+) max_fails=1 fail_timeout=10s;$", site, re.M)
    assert serveurs == [f"10.0.0.{h}:{p}" for h in (5, 6) for p in (9000, 9001, 9002)]
    assert "--host 0.0.0.0 --port %i" in texte["euralis-voila@.service"]
    assert "Wants=euralis-voila@9000.service euralis-voila@9001.service euralis-voila@9002.service\n" in texte[
        "euralis-dashboards.service"]
    with pytest.raises(deploy.DeployError, match="at least 1"):
        deploy.render_all(deploy.Settings(instances=0))


def _instance_of(site: Site, kernel_id: str) -> int:
    """The port of the Voilà instance whose process tree runs the kernel (its connection file names it)."""
    ports = [port for port, proc in site.voilas.items() if proc.poll() is None and kernel_id in kernel_ids(proc.pid)]
    assert len(ports) == 1, (kernel_id, ports)
    return ports[0]


def _open_dashboard(page, site: Site, sockets: list[str]) -> tuple[str, int]:
    """Open Tableau de bord through nginx, wait for its KPIs (drawn by widgets over the kernel websocket);
    the page's kernel and the instance holding it."""
    avant = len(sockets)
    page.goto(f"https://127.0.0.1:{site.https}/voila/render/tableau_de_bord.ipynb", wait_until="domcontentloaded",
              timeout=PAGE_TIMEOUT_MS)
    assert "/login" not in page.url, page.url
    page.wait_for_function(LOADED, timeout=PAGE_TIMEOUT_MS)
    valeur = page.locator(".euralis-kpi", has_text="Production Totale").locator(".valeur").inner_text()
    assert re.search(r"\d", valeur), valeur
    # The last socket: the previous page may have tried to reconnect to its kernel while this one loaded.
    assert len(sockets) > avant, sockets
    kernel = re.search(r"/api/kernels/([0-9a-f-]+)/channels", sockets[-1]).group(1)
    return kernel, _instance_of(site, kernel)


def _access_log(site: Site) -> str:
    return (site.base / "logs" / "euralis-access.log").read_text()


def _upstreams(site: Site, pattern: str, since: int) -> list[str]:
    """The upstream ports nginx logged for requests matching ``pattern``, after the first ``since`` characters
    of its access log."""
    journal = _access_log(site)[since:]
    return [ligne.rsplit(":", 1)[-1] for ligne in journal.splitlines() if re.search(pattern, ligne)]


def test_a_session_sticks_to_one_instance_and_moves_still_logged_in_when_it_dies(https_site, browser):
    """Runs last in the module: it kills one instance. The page open on it says « Connexion perdue »."""
    site = https_site
    sockets: list[str] = []
    debut = len(_access_log(site))  # the other tests' sessions may be on either instance
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.on("websocket", lambda ws: sockets.append(ws.url))
        se_connecter(page, site.https, "admin-test", (site.base / "admin").read_text(), scheme="https")
        kernels = [_open_dashboard(page, site, sockets) for _ in range(2)]
        port = kernels[0][1]
        assert kernels[1][1] == port, kernels  # the same session, the same instance
        # nginx logs a websocket when it closes: the first page's closed when the second page opened.
        limite = time.monotonic() + 30
        socket_log = f"/api/kernels/{kernels[0][0]}/channels" + r'\S* HTTP/1.1" 101 '
        while not (premiers := _upstreams(site, socket_log, debut)):
            assert time.monotonic() < limite, "nginx logged no websocket for the first page"
            time.sleep(0.2)
        assert set(premiers) == {str(port)}
        assert set(_upstreams(site, r"GET /voila/render/tableau_de_bord\.ipynb ", debut)) == {str(port)}

        perdue = page.locator("#euralis-connexion-perdue")
        assert perdue.count() == 0  # no false alarm: pages were opened, one left for the other
        sondes = site.settings.dashboards_urls()  # health probes every instance deploy rendered
        assert {c.status for c in health.check_dashboards(health.dashboards_urls(sondes))} == {health.OK}
        # The instance dies (SIGKILL, its kernels with it, as systemd stops a crashed unit's cgroup).
        serveur = site.voilas[port]
        noyaux = psutil.Process(serveur.pid).children(recursive=True)
        tue_le = datetime.now(UTC).replace(microsecond=0)
        serveur.send_signal(signal.SIGKILL)
        serveur.wait(timeout=30)
        for noyau in noyaux:
            noyau.kill()
        # The open page says its connection is lost instead of freezing.
        perdue.wait_for(state="visible", timeout=30_000)
        assert perdue.inner_text().startswith("Connexion perdue, rechargez la page"), perdue.inner_text()
        etats = {c.name: c.status for c in health.check_dashboards(health.dashboards_urls(sondes))}
        assert etats == {f"dashboards 127.0.0.1:{p}": health.WARNING if p == port else health.OK
                         for p in site.voilas}, etats  # degraded, not down: the other instance serves

        kernel, autre = _open_dashboard(page, site, sockets)  # the next page load: no login form
        assert autre != port and kernel not in {k for k, _ in kernels}
        assert perdue.count() == 0
    finally:
        context.close()
    # No 5xx anywhere, but for a request the killed instance was answering when it died (nginx cannot replay
    # one already sent): ended at or after the kill, by that instance alone.
    erreurs = [ligne for ligne in _access_log(site).splitlines() if re.search(r'" 5\d\d ', ligne)
               and not (ligne.endswith(f"upstream=127.0.0.1:{port}") and _heure(ligne) >= tue_le)]
    assert not erreurs, "\n".join(erreurs)


def _heure(ligne: str) -> datetime:
    """When nginx logged an access-log line (``[07/Dec/2026:12:52:05 +0000]``)."""
    return datetime.strptime(re.search(r"\[([^]]+)\]", ligne).group(1), "%d/%b/%Y:%H:%M:%S %z")


def test_the_site_compresses_what_an_instance_sends_plain(tmp_path):
    """nginx compresses on its own: its upstream here is a plain file server that never compresses. Brotli for a
    browser that accepts it (Debian's libnginx-mod-http-brotli-filter, installed by .ci/run and found by
    ``deploy``), gzip for one that accepts only gzip, the file as it is otherwise; the instances are asked for
    plain responses, which nginx compresses."""
    import gzip
    import http.server
    import ssl
    import threading
    from functools import partial

    import brotli

    script = b"const plotly = {};\n" + b"".join(b"function f%d(x) { return x * %d; }\n" % (i, i) for i in range(5000))
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "bundle.js").write_bytes(script)
    demandes: list[str | None] = []

    class Amont(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            demandes.append(self.headers.get("Accept-Encoding"))
            super().do_GET()

    amont = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Amont, directory=str(tmp_path / "www")))
    threading.Thread(target=amont.serve_forever, daemon=True).start()
    assert deploy.brotli_enabled(), f"nginx does not load {deploy.BROTLI_MODULE}: apt-get install " \
                                    "libnginx-mod-http-brotli-filter (.ci/run does)"
    settings = deploy.local_settings(tmp_path, https_port=free_port(), http_port=free_port(),
                                     voila_port=amont.server_address[1], instances=1)
    assert settings.brotli
    nginx = deploy.start_local_nginx(settings, deploy.write_local_site(settings, tmp_path))
    contexte = ssl.create_default_context(cafile=str(settings.cert))
    try:
        def get(encodings: str | None) -> tuple[dict[str, str], bytes]:
            demande = urllib.request.Request(f"https://127.0.0.1:{settings.https_port}/bundle.js",
                                             headers={"Accept-Encoding": encodings} if encodings else {})
            with urllib.request.urlopen(demande, timeout=30, context=contexte) as reponse:
                return {k.lower(): v for k, v in reponse.headers.items()}, reponse.read()

        entetes, corps = get("gzip, deflate, br, zstd")  # what Chromium sends over HTTPS
        assert entetes.get("content-encoding") == "br", entetes
        assert brotli.decompress(corps) == script and len(corps) < len(script) / 4
        assert "accept-encoding" in entetes.get("vary", "").lower(), entetes
        taille_br = len(corps)
        entetes, corps = get("gzip, deflate")
        assert entetes.get("content-encoding") == "gzip", entetes
        assert gzip.decompress(corps) == script and taille_br < len(corps) < len(script) / 4
        assert "accept-encoding" in entetes.get("vary", "").lower(), entetes
        assert not any(demandes), demandes  # the upstream was asked for the file plain every time
        entetes, corps = get(None)  # control: a client that does not ask gets the file as it is
        assert "content-encoding" not in entetes and corps == script
    finally:
        serve.stop(nginx)
        amont.shutdown()
    assert " 200 " in (tmp_path / "logs" / "euralis-access.log").read_text()
