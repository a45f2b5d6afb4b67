"""Every page at a desktop window (1,400 px) and a phone's (390 px): nothing wider than the window, every chart
as wide as its column, no chart title cut. A full-page screenshot of each under the test's temporary folder.

One server (the dashboards' fixtures, :mod:`tests.helpers.dashboard_server`), one logged-in Chromium context per
width, every page opened once in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from euralis_lib import jobs
from euralis_lib.dashboards import PAGES
from euralis_lib.dashboards.registry import PageSpec
from tests.helpers.connexion import se_connecter
from tests.helpers.dashboard_server import QUICK_JOBS, dash_admin, dash_database, dash_reports_dir, dash_server  # noqa: F401  (fixtures)
from tests.helpers.pages import CHART_PAGES, open_page, pools, screenshot_whole_page

pytestmark = pytest.mark.browser

# What the pages draw, made quickly: no weekly PDF reports (the slowest job; the reports page lists none), a
# short training.
JOBS = {**{job: QUICK_JOBS.get(job, {}) for job in jobs.JOBS if job != "rapport_hebdo"},
        "entrainement": {"generations": 5}}
# One preheated kernel per page: each is opened once per window.
POOLS = pools(**{p.slug: 1 for p in PAGES})

WINDOWS = {"bureau": (1400, 1000), "telephone": (390, 844)}
# A chart narrower than this share of its column does not follow the page's width.
MIN_SHARE = 0.9
# What the page shows, measured in the browser: the document's width against the window's, and for each chart
# drawn its width, its column's (the page content's) and each title line's box against its svg's.
MEASURE = """() => {
  const colonne = document.querySelector('.euralis-contenu');
  const style = colonne ? getComputedStyle(colonne) : null;
  const largeur = colonne ? colonne.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) : 0;
  const boite = e => { const b = e.getBoundingClientRect();
    return {gauche: b.left, droite: b.right, haut: b.top, bas: b.bottom}; };
  const graphes = [...document.querySelectorAll('.js-plotly-plot')].filter(g => g.offsetParent !== null).map(g => {
    const svg = g.querySelector('svg.main-svg');
    return {largeur: svg.getBoundingClientRect().width, colonne: largeur,
            titres: [...g.querySelectorAll('text.gtitle')].map(t => ({texte: t.textContent, boite: boite(t),
                                                                      svg: boite(t.closest('svg'))}))};
  });
  return {document: document.documentElement.scrollWidth, fenetre: window.innerWidth, graphes};
}"""


@pytest.fixture(scope="module", params=list(WINDOWS), ids=list(WINDOWS))
def window(request, browser, server, admin) -> Iterator[tuple[str, object]]:  # noqa: ANN001
    """A page of a logged-in Chromium context of one window size (named): every page of the module is opened in it."""
    largeur, hauteur = WINDOWS[request.param]
    contexte = browser.new_context(viewport={"width": largeur, "height": hauteur}, locale="fr-FR")
    page = contexte.new_page()
    se_connecter(page, server, *admin)
    yield request.param, page
    contexte.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    """Where the pages' screenshots go (one per page and window)."""
    return tmp_path_factory.mktemp("largeurs")


def _problems(mesure: dict) -> list[str]:
    """What does not fit in a measure of :data:`MEASURE`, in words; empty when everything fits."""
    problemes = []
    if mesure["document"] > mesure["fenetre"] + 1:
        problemes.append(f"the page is {mesure['document']} px wide in a {mesure['fenetre']} px window")
    for i, graphe in enumerate(mesure["graphes"]):
        if not MIN_SHARE * graphe["colonne"] <= graphe["largeur"] <= mesure["fenetre"]:
            problemes.append(f"chart {i} is {graphe['largeur']:.0f} px wide in a {graphe['colonne']:.0f} px column "
                             f"and a {mesure['fenetre']} px window")
        for titre in graphe["titres"]:
            b, s = titre["boite"], titre["svg"]
            if b["gauche"] < s["gauche"] - 1 or b["droite"] > s["droite"] + 1 or b["haut"] < s["haut"] - 1 \
                    or b["bas"] > s["bas"] + 1:
                problemes.append(f"chart {i}'s title « {titre['texte']} » is cut: its box {b} is not inside {s}")
    return problemes


@pytest.mark.parametrize("spec", PAGES, ids=[p.slug for p in PAGES])
def test_the_page_fits_the_window_and_its_charts_follow_its_width(spec: PageSpec, window, server,
                                                                 screenshots: Path) -> None:
    nom, page = window
    open_page(page, server, spec.slug)
    if spec.slug in CHART_PAGES:
        page.locator(".euralis-contenu svg.main-svg").first.wait_for(state="visible", timeout=60_000)
    page.wait_for_function("() => !document.querySelector('.euralis-differe')", timeout=60_000)
    # Charts are redrawn once their column's width is known: wait for a measure that fits, judge the last one.
    mesure = page.evaluate(MEASURE)
    for _ in range(20):
        if not _problems(mesure):
            break
        page.wait_for_timeout(250)
        mesure = page.evaluate(MEASURE)
    screenshot_whole_page(page, screenshots / f"{spec.slug}-{nom}.png")
    assert mesure["graphes"] or spec.slug not in CHART_PAGES, f"{spec.slug}: no chart drawn"
    problemes = _problems(mesure)
    assert not problemes, f"{spec.slug} in a {WINDOWS[nom][0]} px window: " + "; ".join(problemes)
