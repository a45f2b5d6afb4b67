"""Finding 3 of issue 21 in a real Chromium: the Sites drill-down of the poisoned gaveur, opened by an admin
on a Voilà server with login, runs no script of the payload and shows it as text.

Any JavaScript dialog (``alert``) the page opens is recorded and fails the test. The control injects the
same payload unescaped into the page: the recorder catches it, so the check can fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from euralis_lib.presentation.markup import safe_filename
from euralis_lib.serving import serve
from euralis_lib.serving.browser import LOADED
from tests.helpers import poison
from tests.helpers.connexion import creer_utilisateur, se_connecter
from tests.helpers.pages import click_first_bar, pools
from tests.helpers.servers import copy_apps, voila_server

pytestmark = pytest.mark.browser
PAGE_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def base(pg_cluster, sim_template) -> Iterator[str]:
    """The simulated data poisoned through the real import (tests/helpers/poison.py); its URL."""
    name = pg_cluster.clone(sim_template)
    url = pg_cluster.url(name)
    poison.empoisonner(url)
    yield url
    pg_cluster.drop(name)


@pytest.fixture(scope="module")
def admin(base) -> tuple[str, str]:
    return "admin-xss", creer_utilisateur(base, "admin-xss", "admin")


@pytest.fixture(scope="module")
def server(base, admin, tmp_path_factory) -> Iterator[int]:
    """Voilà with login on a free port, serving the app notebooks on the poisoned database."""
    env = {**os.environ, "EURALIS_DATABASE_URL": base, "EURALIS_REPORTS_DIR": str(tmp_path_factory.mktemp("r")),
           **pools()}  # escaping is judged, not the pools: each page starts its kernel on demand
    with voila_server(copy_apps(tmp_path_factory.mktemp("apps")), env, pool_size=0) as port:
        yield port




def test_sites_drill_down_of_the_poisoned_gaveur_runs_no_script(browser, server, admin):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    dialogues: list[str] = []

    def noter(dialogue) -> None:  # noqa: ANN001
        dialogues.append(dialogue.message)
        dialogue.dismiss()

    page.on("dialog", noter)
    try:
        se_connecter(page, server, *admin)
        page.goto(serve.url(server, page="sites"), wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_function(LOADED, timeout=PAGE_TIMEOUT_MS)
        # Only the poisoned gaveur in the drill-down: chosen in the filter by his label, payload and all.
        libelle = f"{poison.CODE} – {poison.NOM} ({poison.SITE})"
        avant = page.locator(".js-plotly-plot").first.element_handle(timeout=60_000)
        page.locator(".widget-select-multiple", has_text="Gaveurs").locator("select").select_option(label=libelle)
        page.wait_for_function("el => !el.isConnected", arg=avant, timeout=PAGE_TIMEOUT_MS)  # page recomputed
        click_first_bar(page, "Production par site")  # LL, the first site
        page.get_by_text(f"Gaveurs du site {poison.SITE}").wait_for(timeout=60_000)
        click_first_bar(page, "Gaveurs du site")
        titre = page.get_by_text(f"Lots du gaveur {poison.CODE}", exact=True)
        titre.wait_for(timeout=60_000)
        assert titre.is_visible()  # the payload shown as text
        assert page.locator("td", has_text=poison.LOT).first.is_visible()
        page.wait_for_timeout(1500)  # an <img src=x> fails to load at once; give any handler time to run
        assert dialogues == [], f"a script of the payload ran: {dialogues}"
        nom = safe_filename(f"lots_{poison.CODE}")
        assert page.locator(f'a[download="{nom}.csv"]').count() == 1
        page.get_by_role("button", name="Excel").last.click()
        page.locator(f'a[download="{nom}.xlsx"]').wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        assert page.locator("img[src='x'], svg[onload], [onerror]").count() == 0
        assert dialogues == [], f"a script of the payload ran: {dialogues}"
        # Control: the same payload, unescaped, does run here and the recorder sees it.
        page.evaluate("html => document.body.insertAdjacentHTML('beforeend', html)", poison.CODE)
        page.wait_for_function("() => document.querySelector('img[src=\"x\"]') !== null", timeout=10_000)
        page.wait_for_timeout(1500)
        assert dialogues == ["1"]
    finally:
        page.close()
