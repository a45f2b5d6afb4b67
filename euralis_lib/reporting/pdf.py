"""Print a report page to PDF with Debian's Chromium driven by Playwright (never a downloaded browser, no network).

The page is loaded from memory, plotly's JavaScript is added from the installed package (the bundle the
dashboards serve, :func:`euralis_lib.presentation.plotly_bundle.bundle_dir`), every ``div.figure`` is drawn as a static
SVG chart from its ``data-figure`` JSON, then Chromium prints A4 with page numbers. Playwright's sync API
refuses to run inside an asyncio loop (a Jupyter kernel has one), so the browser runs in its own thread.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from euralis_lib.exceptions import EuralisError
from euralis_lib.presentation import plotly_bundle
from euralis_lib.presentation.markup import Markup, element, join

# Draws every chart; resolves when plotly has finished them all (fixed code, no data in it).
_DESSINER = """async () => {
  const divs = Array.from(document.querySelectorAll('div.figure'));
  await Promise.all(divs.map(d => {
    const f = JSON.parse(d.dataset.figure);
    const layout = Object.assign({}, f.layout, {width: d.clientWidth, height: d.clientHeight});
    return Plotly.newPlot(d, f.data, layout, {staticPlot: true, displayModeBar: false});
  }));
  return divs.length;
}"""


class RenduError(EuralisError):
    """The report could not be printed (no browser, a chart that did not draw, a timeout)."""


def _pied() -> str:
    """Footer of every page: « page n / N » (Chromium fills the spans)."""
    style = "font-size:7pt;color:#777;width:100%;text-align:center;"
    return str(element("div", join(["page ", element("span", class_="pageNumber"), " / ",
                                    element("span", class_="totalPages")]), style=style))


def _imprimer(pages: list[Markup], executable: str | None, timeout_s: float) -> list[bytes]:
    from playwright.sync_api import Error, sync_playwright

    from euralis_lib.config import CHROMIUM_ARGS, chromium

    documents = []
    try:
        with sync_playwright() as p:
            navigateur = p.chromium.launch(executable_path=executable or chromium(), args=CHROMIUM_ARGS,
                                           timeout=timeout_s * 1000)
            try:
                for page_html in pages:  # one browser for the run, a fresh tab per report
                    onglet = navigateur.new_page(viewport={"width": 800, "height": 1100})
                    onglet.set_default_timeout(timeout_s * 1000)
                    onglet.route("**/*", lambda route: route.abort())  # nothing leaves the machine
                    onglet.set_content(str(page_html), wait_until="load")
                    nb_figures = onglet.locator("div.figure").count()
                    if nb_figures:
                        onglet.add_script_tag(path=str(plotly_bundle.bundle_dir() / "plotly.min.js"))
                        dessinees = onglet.evaluate(_DESSINER)
                        if dessinees != nb_figures or onglet.locator("div.figure svg.main-svg").count() < nb_figures:
                            raise RenduError(f"{nb_figures - int(dessinees or 0)} chart(s) were not drawn.")
                    documents.append(onglet.pdf(format="A4", print_background=True, prefer_css_page_size=True,
                                                display_header_footer=True, header_template="<span></span>",
                                                footer_template=_pied()))
                    onglet.close()
            finally:
                navigateur.close()
    except (Error, FileNotFoundError) as exc:
        raise RenduError(f"PDF rendering failed: {exc}") from exc
    return documents


def imprimer(pages: list[Markup], executable: str | None = None, timeout_s: float = 60) -> list[bytes]:
    """The PDF of each page of ``pages`` (charts drawn), printed by one Chromium; :class:`RenduError` when Chromium
    is missing or fails on any of them (then no PDF is returned)."""
    if not pages:
        return []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rapport-pdf") as pool:
        return pool.submit(_imprimer, pages, executable, timeout_s).result()
