"""Kernel lifecycle on a real Voilà server driven by a real Chromium: leaving a page frees its kernel,
only the browser that got a kernel may shut it down, orphaned kernels are culled but the pool is not.

Kernels are counted as processes under the server (``ipykernel``), not through Voilà's own book-keeping.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from traitlets.config import Config

from euralis_lib import config
from euralis_lib.dashboards import PAGES, page_spec
from euralis_lib.serving import kernels, serve
from euralis_lib.serving.browser import LOADED, free_port, kernel_ids, kernel_pids
from tests.helpers.connexion import creer_utilisateur, se_connecter

pytestmark = pytest.mark.browser

TIMEOUT_MS = 180_000
KERNEL_ID = "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    limite = time.monotonic() + timeout
    while time.monotonic() < limite:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Server:
    """A Voilà server (python -m euralis_lib.serving.voila_app) on a copy of some app notebooks."""

    def __init__(self, folder: Path, database_url: str, pages: tuple[str, ...], extra: tuple[str, ...] = ()):
        folder.mkdir(parents=True, exist_ok=True)
        for slug in pages:
            shutil.copy(config.NOTEBOOKS_DIR / "apps" / f"{slug}.ipynb", folder / f"{slug}.ipynb")
        self.pool = sum(page_spec(slug).pool or 1 for slug in pages)
        self.log = folder / "voila.log"
        self.port = free_port()
        env = {**os.environ, "EURALIS_DATABASE_URL": database_url}
        self.proc = serve.start(self.port, env=env, log_path=self.log, apps_dir=folder, extra=extra)

    def kernels(self) -> int:
        return len(kernel_pids(self.proc.pid))

    def kernel_ids(self) -> set[str]:
        return kernel_ids(self.proc.pid)

    def url(self, slug: str) -> str:
        return serve.url(self.port, page=slug)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        serve.stop(self.proc)


@pytest.fixture(scope="module")
def server(shared_sim_url, tmp_path_factory) -> Iterator[Server]:
    """Tableau de bord (pool from the page registry) and Sites (the default pool of 1); no culling."""
    srv = Server(tmp_path_factory.mktemp("apps"), shared_sim_url, ("tableau_de_bord", "sites"),
                 extra=("--MappingKernelManager.cull_idle_timeout=0",))
    try:
        serve.wait_ready(srv.proc, srv.port, timeout=120)
        _wait_for(lambda: srv.kernels() == srv.pool, 180, f"the preheated pool of {srv.pool} kernels")
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def identifiants(shared_sim_url) -> tuple[str, str]:
    """A superviseur of the shared database (the servers have login)."""
    login = f"noyaux-{uuid.uuid4().hex[:8]}"
    return login, creer_utilisateur(shared_sim_url, login, "superviseur")


def _contexte(browser, port: int, identifiants: tuple[str, str]):
    """A new browser context (one user) logged in on the server at ``port``."""
    context = browser.new_context(locale="fr-FR")
    se_connecter(context.new_page(), port, *identifiants, timeout_ms=TIMEOUT_MS)
    return context


def _open(page, url: str) -> str:
    """Open a page, wait until its content is computed, return its kernel id."""
    page.goto(url, wait_until="domcontentloaded", timeout=TIMEOUT_MS)
    page.wait_for_function(LOADED, timeout=TIMEOUT_MS)
    return page.evaluate(KERNEL_ID)


def test_pool_sizes_and_culling_come_from_the_page_registry_unless_given():
    conf = Config()
    kernels.configure(conf, 1)
    pools = conf.VoilaKernelManager.kernel_pools_config
    assert pools["default"] == {"pool_size": 1}
    assert pools["tableau_de_bord.ipynb"] == {"pool_size": page_spec("tableau_de_bord").pool}
    assert page_spec("tableau_de_bord").pool > 1 and "sites.ipynb" not in pools
    assert conf.MappingKernelManager.cull_idle_timeout == kernels.CULL_ORPHAN
    donne = Config({"MappingKernelManager": {"cull_idle_timeout": 0},
                    "VoilaKernelManager": {"kernel_pools_config": {"default": {"pool_size": 4}}}})
    kernels.configure(donne, 1)
    assert donne.MappingKernelManager.cull_idle_timeout == 0
    assert donne.VoilaKernelManager.kernel_pools_config == {"default": {"pool_size": 4}}
    assert conf.VoilaKernelManager.fill_delay == kernels.REFILL_DELAY


def test_pool_sizes_from_the_environment_override_the_registry(monkeypatch):
    monkeypatch.setenv(kernels.POOLS_ENV, "tableau_de_bord=10, sites=2")
    conf = Config()
    kernels.configure(conf, 1)
    pools = conf.VoilaKernelManager.kernel_pools_config
    assert pools["tableau_de_bord.ipynb"] == {"pool_size": 10} and pools["sites.ipynb"] == {"pool_size": 2}
    assert pools["accueil.ipynb"] == {"pool_size": page_spec("accueil").pool}
    with pytest.raises(ValueError, match="page=number"):
        kernels.pools_from_env("tableau_de_bord:10")
    slugs = [p.slug for p in PAGES]
    with pytest.raises(KeyError, match="known pages"):
        kernels.pools_from_env("tableau=10", pages=slugs)
    # The team server's pools in the deployment example are valid and larger than the defaults.
    exemple = (config.PROJECT_ROOT / "deploy" / "euralis.env.example").read_text(encoding="utf-8")
    valeur = next(ligne.split("=", 1)[1] for ligne in exemple.splitlines() if ligne.startswith(kernels.POOLS_ENV))
    equipe = kernels.pools_from_env(valeur, pages=slugs)
    assert equipe["tableau_de_bord"] > page_spec("tableau_de_bord").pool


def test_leaving_pages_frees_their_kernels(server, browser, identifiants):
    """Visits with navigation and tab closes: the kernel count goes back to the pool size."""
    assert server.kernels() == server.pool  # 3 for Tableau de bord (registry) + 1 for Sites
    vus, contextes = set(), []
    for _ in range(2):
        context = _contexte(browser, server.port, identifiants)  # one user each; the browser keeps running
        contextes.append(context)
        page = context.new_page()
        vus.add(_open(page, server.url("tableau_de_bord")))
        page.wait_for_selector("svg.main-svg", state="visible", timeout=TIMEOUT_MS)  # plotly loaded its bundle
        page.locator(".euralis-nav a", has_text="Sites de Production").click()  # navigation: beforeunload
        page.wait_for_url("**/sites.ipynb", timeout=TIMEOUT_MS)
        page.wait_for_function(LOADED, timeout=TIMEOUT_MS)
        vus.add(page.evaluate(KERNEL_ID))
        page.close(run_before_unload=True)  # the user closes the tab
    assert len(vus) == 4
    # Settled when the four kernels the pages got are shut down, their processes gone, and the pools full again:
    # the count alone can equal the pool size earlier (a page's kernel logged as shut down but its process still
    # exiting while a pool waits for its refill).
    _wait_for(lambda: sum(f"Kernel shutdown: {k}" in server.log_text() for k in vus) == 4
              and not server.kernel_ids() & vus and server.kernels() == server.pool, 180,
              f"the 4 page kernels shut down and the count back to the pool size {server.pool} "
              f"(now {server.kernels()})")
    time.sleep(3)  # nothing else is freed or started once settled
    assert server.kernels() == server.pool
    log = server.log_text()
    assert "403 POST /voila/api/shutdown" not in log
    assert sum(f"Kernel shutdown: {k}" in log for k in vus) == 4  # each by its page, none culled
    for context in contextes:
        context.close()


def test_only_the_browser_that_got_a_kernel_may_shut_it_down(server, browser, identifiants):
    proprietaire = _contexte(browser, server.port, identifiants)
    page = proprietaire.new_page()
    kernel = _open(page, server.url("tableau_de_bord"))
    intrus = _contexte(browser, server.port, identifiants)  # even the same user in another browser
    autre = intrus.new_page()
    _open(autre, server.url("sites"))  # the intruder has his own valid _xsrf cookie
    reponses = autre.evaluate("""async (k) => {
        const xsrf = document.cookie.match('\\\\b_xsrf=([^;]*)\\\\b')[1];
        const form = new FormData(); form.append('_xsrf', xsrf);
        const beacon = await fetch(`/voila/api/shutdown/${k}`, {method: 'POST', body: form});
        const del = await fetch(`/api/kernels/${k}`, {method: 'DELETE', headers: {'X-XSRFToken': xsrf}});
        return [beacon.status, del.status];
    }""", kernel)
    assert reponses == [403, 403]
    etat = page.evaluate("async (k) => (await fetch(`/api/kernels/${k}`)).status", kernel)
    assert etat == 200  # still alive for its owner
    assert page.locator(".euralis-kpi").first.is_visible()
    page.close(run_before_unload=True)
    autre.close(run_before_unload=True)
    # (Taking kernels from the pool starts none until the refill delay: the count alone proves nothing here.)
    _wait_for(lambda: f"Kernel shutdown: {kernel}" in server.log_text(), 180, "the owner's kernel shut down")
    _wait_for(lambda: server.kernels() == server.pool, 180, "kernel count back to the pool size")
    intrus.close()
    proprietaire.close()


def test_orphaned_kernels_are_culled_but_never_the_pool(shared_sim_url, tmp_path, browser, identifiants):
    """A browser that vanishes without the beacon (context closed, no beforeunload): its kernel is culled
    after the idle timeout; the preheated kernels, idle by definition, stay."""
    srv = Server(tmp_path / "apps", shared_sim_url, ("accueil",),
                 extra=("--MappingKernelManager.cull_idle_timeout=6", "--MappingKernelManager.cull_interval=2"))
    try:
        serve.wait_ready(srv.proc, srv.port, timeout=120)
        _wait_for(lambda: srv.kernels() == srv.pool, 180, f"the preheated pool of {srv.pool} kernels")
        pool_pids = set(kernel_pids(srv.proc.pid))
        context = _contexte(browser, srv.port, identifiants)
        page = context.new_page()
        _open(page, srv.url("accueil"))
        context.close()  # no beforeunload: the kernel is orphaned
        _wait_for(lambda: "Culling 'idle' kernel" in srv.log_text(), 120, "the culler to free the orphaned kernel")
        _wait_for(lambda: srv.kernels() == srv.pool, 120, "kernel count back to the pool size")
        time.sleep(10)  # pool kernels idle for longer than the timeout are still there
        restants = set(kernel_pids(srv.proc.pid))
        assert len(restants) == srv.pool
        assert len(pool_pids & restants) == srv.pool - 1  # the pool kept its own; one was handed out and culled
        assert srv.log_text().count("Culling 'idle' kernel") == 1, srv.log_text()[-2000:]
    finally:
        srv.stop()


def test_plotly_widget_code_is_served_once_as_a_cached_file(server, browser, identifiants):
    """Figures no longer carry plotly's 5 MB bundle: the page imports it from the server, cacheable."""
    context = _contexte(browser, server.port, identifiants)
    page = context.new_page()
    bundles = []
    page.on("response", lambda r: bundles.append(r) if "plotly/widgetbundle.js" in r.url else None)
    kernel = _open(page, server.url("tableau_de_bord"))
    page.wait_for_selector("svg.main-svg", state="visible", timeout=TIMEOUT_MS)
    assert bundles and bundles[0].status == 200
    assert "max-age" in bundles[0].headers.get("cache-control", "")
    assert len(bundles[0].body()) > 1_000_000
    page.close(run_before_unload=True)
    # Its own kernel freed (the other tests' pages may still hold theirs: no global count here).
    _wait_for(lambda: f"Kernel shutdown: {kernel}" in server.log_text() and kernel not in server.kernel_ids(), 180,
              f"the page's kernel {kernel} shut down")
    context.close()
