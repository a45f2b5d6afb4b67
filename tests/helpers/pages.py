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
