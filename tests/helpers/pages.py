"""Page helpers: what a supervisor reads in a widget tree, how long a browser test waits for a page."""

from __future__ import annotations

import time
from pathlib import Path

import ipywidgets as w

from euralis_lib.dashboards import PAGES, common
from euralis_lib.serving import serve
from euralis_lib.serving.browser import LOADED
from euralis_lib.serving.kernels import POOLS_ENV

PAGE_TIMEOUT_MS = 180_000
# The pages that draw charts on the dashboards' test database (tests.helpers.dashboard_server).
CHART_PAGES = ("tableau_de_bord", "sites", "gaveurs", "previsions", "qualite", "abattages", "finance", "ops")


def page_text(widgets: list[w.Widget]) -> str:
    """All HTML a supervisor reads in a widget tree: the page snapshot's walk (:func:`common.instantane`)."""
    return common.instantane(w.VBox(list(widgets)))


def pools(**sizes: int) -> dict[str, str]:
    """Server environment preheating ``sizes[slug]`` kernels for the pages named and none for the others (start
    the server with ``pool_size=0``): a test that does not judge the pools spares the 2 cores their start-up."""
    return {POOLS_ENV: ",".join(f"{p.slug}={sizes.get(p.slug, 0)}" for p in PAGES)}


def click_first_bar(page, title: str) -> None:  # noqa: ANN001
    """Click (with the mouse, like a user) the first bar of the plotly chart titled ``title``."""
    chart = page.locator(".js-plotly-plot", has=page.locator("text.gtitle", has_text=title))
    bar = chart.locator("g.point path").first
    bar.wait_for(state="visible", timeout=60_000)
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def open_page(page, port: int, name: str) -> float:  # noqa: ANN001
    """Open the dashboard page ``name`` of the server on ``port`` and wait until its content is computed (the live
    widgets drawn); seconds from the request."""
    debut = time.monotonic()
    page.goto(serve.url(port, page=name), wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function(LOADED, timeout=PAGE_TIMEOUT_MS)
    return time.monotonic() - debut


def screenshot_whole_page(page, path: Path) -> None:  # noqa: ANN001
    """Save a screenshot of the whole page to ``path``: Voilà's page scrolls inside an element, where a full-page
    screenshot stops at the window's height, so the window grows to the content's height for the screenshot."""
    taille = page.viewport_size
    hauteur = page.evaluate("() => { const p = document.querySelector('.euralis-page');"
                            " return p ? Math.ceil(p.getBoundingClientRect().bottom) + 24 : 0; }")
    page.set_viewport_size({"width": taille["width"], "height": max(taille["height"], hauteur)})
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(taille)


# The windows every page is judged in: a supervisor's desktop and a phone.
WINDOWS = {"bureau": (1400, 1000), "telephone": (390, 844)}
# A chart narrower than this share of its column does not follow the page's width.
MIN_CHART_SHARE = 0.9
# What the page shows, measured in the browser: the document's width against the window's, and for each chart
# drawn its width, its column's (the page content's) and each title line's box against its svg's.
WIDTHS_MEASURE = """() => {
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


def width_problems(mesure: dict) -> list[str]:
    """What does not fit in a measure of :data:`WIDTHS_MEASURE`, in words; empty when everything fits."""
    problemes = []
    if mesure["document"] > mesure["fenetre"] + 1:
        problemes.append(f"the page is {mesure['document']} px wide in a {mesure['fenetre']} px window")
    for i, graphe in enumerate(mesure["graphes"]):
        if not MIN_CHART_SHARE * graphe["colonne"] <= graphe["largeur"] <= mesure["fenetre"]:
            problemes.append(f"chart {i} is {graphe['largeur']:.0f} px wide in a {graphe['colonne']:.0f} px column "
                             f"and a {mesure['fenetre']} px window")
        for titre in graphe["titres"]:
            b, s = titre["boite"], titre["svg"]
            if b["gauche"] < s["gauche"] - 1 or b["droite"] > s["droite"] + 1 or b["haut"] < s["haut"] - 1 \
                    or b["bas"] > s["bas"] + 1:
                problemes.append(f"chart {i}'s title « {titre['texte']} » is cut: its box {b} is not inside {s}")
    return problemes


def settled_width_problems(page) -> tuple[int, list[str]]:  # noqa: ANN001
    """The charts drawn and :func:`width_problems` of the page once its charts had time to follow a new width (up
    to 5 s: they are redrawn when their column's width changes), from the last measure."""
    mesure = page.evaluate(WIDTHS_MEASURE)
    for _ in range(20):
        if not width_problems(mesure):
            break
        page.wait_for_timeout(250)
        mesure = page.evaluate(WIDTHS_MEASURE)
    return len(mesure["graphes"]), width_problems(mesure)
