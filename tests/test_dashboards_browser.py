"""The dashboards in a real headless Chromium against a Voilà server started here on a test database.

One Voilà server (preheated kernels) and one browser per test module. Screenshots of every page go
to ``reports/screenshots/``; the time from request to KPIs visible (and the floor: an empty notebook
on the same server) goes to ``reports/screenshots/timings.json`` — measured, never asserted.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest

from euralis_lib import config
from euralis_lib.dashboards import PAGES, tableau_de_bord
from euralis_lib.serving import serve
from euralis_lib.serving.browser import KPIS_PAINTED, LOADED
from tests.helpers.connexion import creer_utilisateur, se_connecter
from tests.helpers.dashboard_server import dash_admin, dash_database, dash_reports_dir, dash_server  # noqa: F401  (fixtures)
from tests.helpers.pages import (
    CHART_PAGES,
    PAGE_TIMEOUT_MS,
    WINDOWS,
    click_first_bar,
    open_page,
    screenshot_whole_page,
    settled_width_problems,
)
from tests.helpers.pdf import texte_pdf

pytestmark = pytest.mark.browser



# Pages whose figures come from a job run: they must name the run (« source : … run n° N du … »).
JOB_PAGES = ("sites", "gaveurs", "previsions", "qualite", "abattages", "finance")
# What a supervisor must never read in a table cell: raw Python values, ISO dates, paths on the server.
ANGLAIS = re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b")  # plotly's default month names
BRUT = re.compile(r"^(True|False|None|nan|NaN|NaT|<NA>)$|\d{4}-\d{2}-\d{2}|(^|\s)/(tmp|work|root|home|srv|var)/")
# A page whose deferred part fails after its request, like a chart whose query breaks (test notebook only).
_DIFFERE_EN_ERREUR = """from IPython.display import display
from euralis_lib.dashboards.common import differe, message
from euralis_lib.auth.kernel_request import wait_for_request

wait_for_request()


def graphique():
    raise RuntimeError("the chart's query was interrupted")


display(message("Cartes affichées"), differe(graphique))
"""
# The server's test notebooks (tests.helpers.dashboard_server): an empty one (the floor) and the failing one.
NOTEBOOKS = {"vide": None, "differe_en_erreur": _DIFFERE_EN_ERREUR}


@pytest.fixture
def page(browser, server, admin):
    """A browser page logged in as the module's admin."""
    pg = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="fr-FR")  # the supervisors' browsers
    se_connecter(pg, server, *admin)
    yield pg
    pg.close()


def _screenshots() -> Path:
    path = config.reports_dir() / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _kpi_value(page, label: str) -> str:
    carte = page.locator(".euralis-kpi", has_text=label)
    return carte.locator(".valeur").inner_text()


def test_every_page_renders_without_error_or_traceback(server, page):
    """Every page at a desktop window: no error, French values, its run named. Then at a desktop and a phone window
    (:data:`tests.helpers.pages.WINDOWS`): nothing wider than the window, every chart as wide as its column (redrawn
    when the window narrows), no chart title cut; a screenshot of the whole page at each."""
    for spec in PAGES:
        name, titre = spec.slug, spec.titre
        open_page(page, server, name)
        if name in CHART_PAGES:  # plotly draws after the content is computed: seconds on two busy cores
            page.locator(".euralis-contenu svg.main-svg").first.wait_for(state="visible", timeout=60_000)
        page.wait_for_function("() => !document.querySelector('.euralis-differe')", timeout=60_000)
        texte = page.inner_text("body")
        assert "Traceback" not in texte and "Error" not in texte, f"{name}: {texte[:500]}"
        assert page.locator(".jp-OutputArea-output[data-mime-type*='stderr']").count() == 0, name
        assert page.locator(".euralis-message.erreur").count() == 0, f"{name}: {texte[:500]}"
        assert page.locator(".euralis-nav a.actif", has_text=titre).count() == 1, name
        if name in JOB_PAGES:
            assert page.get_by_text("run n°").first.is_visible(), f"{name}: no run named: {texte[:500]}"
        cellules = page.locator("table.euralis td").all_inner_texts()
        bruts = [c for c in cellules if BRUT.search(c.strip())]
        assert not bruts, f"{name}: raw values in tables: {bruts[:10]}"
        graduations = page.eval_on_selector_all(".xtick text, .ytick text", "els => els.map(e => e.textContent)")
        assert not [g for g in graduations if ANGLAIS.search(g)], f"{name}: English dates on an axis: {graduations}"
        for fenetre, (largeur, hauteur) in WINDOWS.items():
            page.set_viewport_size({"width": largeur, "height": hauteur})
            graphes, problemes = settled_width_problems(page)
            screenshot_whole_page(page, _screenshots() / f"{name}-{fenetre}.png")
            assert graphes or name not in CHART_PAGES, f"{name}: no chart drawn"
            assert not problemes, f"{name} in a {largeur} px window: " + "; ".join(problemes)
        largeur, hauteur = WINDOWS["bureau"]
        page.set_viewport_size({"width": largeur, "height": hauteur})


def test_a_job_report_opens_from_the_landing_page(server, page):
    open_page(page, server, "accueil")
    lien = page.locator("table.euralis a", has_text="rapport").first
    assert lien.get_attribute("href").startswith("../rapports/")  # a link, never a path on the server
    with page.context.expect_page() as nouvelle:
        lien.click()
    rapport = nouvelle.value
    rapport.wait_for_load_state()
    assert "Production mensuelle par site" in rapport.inner_text("body")
    rapport.close()
    base = f"http://127.0.0.1:{server}/voila/rapports/"
    for interdit in ("..%2F..%2Fetc%2Fpasswd", "2026-01-01/absent.html", "2026-01-01/../../voila.log"):
        reponse = page.request.get(base + interdit)
        assert reponse.status in (403, 404) and "root:" not in reponse.text(), interdit


def test_dashboard_shows_the_four_kpis_and_a_plotly_chart(server, page):
    demandes: list[str] = []
    page.on("request", lambda r: demandes.append(r.url))
    # Records the snapshot the page shows before its widgets are live: KPIs, and whether it is visible.
    page.add_init_script("""window.__instantane = [];
    new MutationObserver(() => {
        const s = document.querySelector('.euralis-instantane');
        if (s) window.__instantane.push({kpis: s.querySelectorAll('.euralis-kpi .valeur').length,
            navs: document.querySelectorAll('.euralis-nav').length, visible: s.offsetParent !== null,
            app: !!document.querySelector('.jp-OutputArea'), t: Math.round(performance.now())});
    }).observe(document, {childList: true, subtree: true});""")
    seconds = {"tableau_de_bord": open_page(page, server, "tableau_de_bord")}
    vus = page.evaluate("window.__instantane")
    assert any(v["kpis"] == len(tableau_de_bord.KPIS) and v["navs"] == 1 and v["visible"] for v in vus), vus
    assert page.locator(".euralis-instantane").count() == 0 and page.locator(".euralis-nav").count() == 1
    # make bench-serve times the KPIs by the browser's paint record of their values (Element Timing).
    assert page.evaluate(KPIS_PAINTED, len(tableau_de_bord.KPIS)) is not None
    for label, *_ in tableau_de_bord.KPIS:
        assert page.locator(".euralis-kpi .label", has_text=label).is_visible()
        assert page.locator(".euralis-kpi", has_text=label).locator(".valeur").inner_text().strip()
    # The chart comes right after the KPIs, in place of its loading message.
    page.wait_for_selector(".euralis-contenu svg.main-svg", state="visible", timeout=60_000)
    assert page.locator(".euralis-differe").count() == 0
    assert page.locator('a[download="production_journaliere.csv"]').count() == 1
    # The chart needs anywidget and the widget manager only, not the lab extensions Voilà is told to skip
    # (jupyterlab-plotly alone was 4.8 MB of the page's 10 MB).
    extensions = {u.split("/labextensions/")[1].split("/static/")[0] for u in demandes if "/labextensions/" in u}
    assert "anywidget" in extensions and not extensions & set(serve.UNUSED_LAB_EXTENSIONS), extensions
    ailleurs = {u for u in demandes if not u.startswith((f"http://127.0.0.1:{server}/", "data:", "blob:"))}
    assert not ailleurs, f"a page view contacts other hosts: {ailleurs}"
    debut = time.monotonic()
    page.goto(serve.url(server, page="vide"), wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_MS)
    page.get_by_text("Page vide").wait_for(timeout=PAGE_TIMEOUT_MS)
    seconds["vide (plancher)"] = time.monotonic() - debut
    (_screenshots() / "timings.json").write_text(json.dumps(
        {k: round(v, 2) for k, v in seconds.items()}, indent=2), encoding="utf-8")
    print(f"time to visible: {seconds}")


def test_navigation_bar_leads_to_sites_de_production(server, page):
    open_page(page, server, "tableau_de_bord")
    page.locator(".euralis-nav a", has_text="Sites de Production").click()
    page.wait_for_url("**/sites.ipynb", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function(LOADED, timeout=PAGE_TIMEOUT_MS)
    assert page.locator(".euralis-nav a.actif", has_text="Sites de Production").count() == 1
    assert page.locator("table.euralis").first.is_visible()
    page.wait_for_selector("svg.main-svg", state="visible", timeout=60_000)
    # Drill-down: a click on a site's bar shows its gaveurs, a click on a gaveur's bar his lots.
    click_first_bar(page, "Production par site")
    page.get_by_text("Gaveurs du site").wait_for(timeout=60_000)
    click_first_bar(page, "Gaveurs du site")
    page.get_by_text("Lots du gaveur").wait_for(timeout=60_000)




def test_site_filter_changes_a_kpi_value(server, page):
    open_page(page, server, "tableau_de_bord")
    avant = _kpi_value(page, "Production Totale")
    page.select_option(".euralis-filtre-sites select", ["LL"])
    page.wait_for_function(
        "v => { const c = [...document.querySelectorAll('.euralis-kpi')].find(e => e.innerText.includes("
        "'Production Totale')); return c && c.querySelector('.valeur').innerText !== v; }",
        arg=avant, timeout=60_000)
    assert _kpi_value(page, "Production Totale") != avant
    page.select_option(".euralis-filtre-sites select", [])
    page.get_by_text("Aucun site sélectionné").wait_for(timeout=60_000)


def test_abattages_computes_a_plan_for_the_chosen_period(server, page):
    open_page(page, server, "abattages")
    source = page.locator(".euralis-source", has_text="source : run n°")
    avant = source.first.inner_text()
    page.locator(".euralis-calcul-plan").click()
    page.wait_for_function(
        "v => [...document.querySelectorAll('.euralis-source')].some(e => e.innerText.startsWith('source : run n°')"
        " && e.innerText !== v)", arg=avant, timeout=120_000)
    assert source.first.inner_text() != avant, "the page still shows the previous plan"
    assert page.get_by_text("Hongrois contre glouton").is_visible()


def test_finance_table_exports_excel_and_pdf_on_demand(server, page):
    open_page(page, server, "finance")
    assert page.locator('a[download="finance.csv"]').count() == 1
    assert page.locator('a[download="finance.xlsx"]').count() == 0  # built only when asked for
    for bouton, fichier, mime, debut in (("Excel", "finance.xlsx", _XLSX, b"PK"),
                                         ("PDF", "finance.pdf", "application/pdf", b"%PDF")):
        # the table's buttons come last (« Rapport PDF de cette page », at the top, also holds « PDF »)
        page.get_by_role("button", name=bouton).last.click()
        lien = page.locator(f'a[download="{fichier}"]')
        lien.wait_for(timeout=60_000)
        entete, contenu = lien.get_attribute("href").split(",", 1)
        assert entete == f"data:{mime};base64"
        assert base64.b64decode(contenu).startswith(debut)


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_the_page_pdf_button_downloads_what_the_page_shows(server, page):
    """« Rapport PDF de cette page », next to « Actualiser »: a click gives a download link whose file is the
    page's PDF (title, filters, its chart drawn), named by the page's slug and the date."""
    open_page(page, server, "tableau_de_bord")
    page.get_by_role("button", name="Rapport PDF de cette page").click()
    lien = page.locator('a[download^="tableau_de_bord-"]')
    lien.wait_for(timeout=120_000)
    assert re.fullmatch(r"tableau_de_bord-\d{4}-\d\d-\d\d-\d{4}\.pdf", lien.get_attribute("download"))
    entete, contenu = lien.get_attribute("href").split(",", 1)
    assert entete == "data:application/pdf;base64"
    fichier = base64.b64decode(contenu)
    texte = texte_pdf(fichier)
    assert fichier.startswith(b"%PDF") and texte.startswith("Tableau de bord ") and "Sites LL, LS, MT" in texte
    assert "Production de foie par site (kg par semaine)" in texte and "Utilisateur admin-test (admin)" in texte


def test_an_error_in_a_deferred_chart_becomes_a_french_message(server, page):
    page.goto(serve.url(server, page="differe_en_erreur"), wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_MS)
    page.get_by_text("Cartes affichées").wait_for(timeout=PAGE_TIMEOUT_MS)
    page.get_by_text("Erreur inattendue (RuntimeError)").wait_for(timeout=60_000)
    assert page.locator(".euralis-differe").count() == 0
    assert "Traceback" not in page.inner_text("body")


def test_import_page_uploads_a_file_through_the_same_import(server, page, dash_db, tmp_path):
    from euralis_lib.database import db
    from euralis_lib.imports.formats import modele_csv

    cluster, name = dash_db
    fichier = tmp_path / "gaveurs_navigateur.csv"
    fichier.write_text(modele_csv("gaveurs") + "LL-G999;Test Navigateur;LL;10,5;oui\n", encoding="utf-8")
    engine = db.get_engine(cluster.url(name))

    def present() -> bool:
        return db.read_df(engine, "SELECT 1 FROM gaveurs WHERE code = 'LL-G999'").shape[0] == 1

    open_page(page, server, "import")
    with page.expect_file_chooser() as choix:  # the widget's <input type=file> is never in the DOM
        page.locator(".widget-upload").click()
    choix.value.set_files(str(fichier))
    page.locator(".widget-upload", has_text="(1)").wait_for()
    page.locator(".widget-dropdown", has_text="Type").locator("select").select_option(label="Gaveurs")
    page.get_by_role("button", name="Importer").click()  # « Simulation » is ticked by default
    page.get_by_text("SIMULATION (--dry-run) : rien n'a été écrit").wait_for(timeout=60_000)
    assert not present()
    page.get_by_label("Simulation (vérifier sans rien écrire)").uncheck()
    page.get_by_role("button", name="Importer").click()
    page.get_by_text("Import « gaveurs » de gaveurs_navigateur.csv (import n°").wait_for(timeout=60_000)
    page.screenshot(path=str(_screenshots() / "import_rapport.png"), full_page=True)
    assert present()


def test_a_gaveur_simulates_a_lot_of_his_own_site_and_reads_the_formula(server, browser, dash_db):
    """Issue 24: a gaveur opens « Simulateur de lot », is offered only his site (and souches of his lots), computes
    and reads the predicted liver weight with its 80 % interval and the retained formula with its engine."""
    from euralis_lib.database import db

    cluster, name = dash_db
    engine = db.get_engine(cluster.url(name))
    lots = db.read_df(engine, """
        SELECT l.gaveur_id, l.site_code, l.souche_code FROM lots_gavage l JOIN abattages USING (lot_id)
        WHERE l.gaveur_id = (SELECT gaveur_id FROM lots_gavage GROUP BY gaveur_id ORDER BY count(*) DESC LIMIT 1)
        GROUP BY 1, 2, 3""")
    gaveur_id, site = int(lots["gaveur_id"][0]), str(lots["site_code"][0])
    mot_de_passe = creer_utilisateur(cluster.url(name), "gaveur-simulateur", "gaveur", gaveur_id=gaveur_id)
    pg = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    try:
        se_connecter(pg, server, "gaveur-simulateur", mot_de_passe)
        debut = time.monotonic()
        open_page(pg, server, "simulateur")
        assert pg.locator(".widget-dropdown", has_text="Site").locator("option").all_inner_texts() == [site]
        souches = pg.locator(".widget-dropdown", has_text="Souche").locator("option").all_inner_texts()
        assert souches and set(souches) <= set(lots["souche_code"]), souches
        pg.get_by_role("button", name="Calculer").click()
        carte = pg.locator(".euralis-kpi", has_text="Poids de foie moyen")
        carte.or_(pg.locator(".euralis-message.erreur")).first.wait_for(timeout=60_000)
        assert pg.locator(".euralis-message.erreur").count() == 0, pg.locator(".euralis-contenu").inner_text()
        assert re.fullmatch(r"\d+ g", carte.locator(".valeur").inner_text()), carte.inner_text()
        assert re.search(r"intervalle à 80 % : \d+ – \d+ g", carte.inner_text()), carte.inner_text()
        formule = pg.locator(".euralis-formule").inner_text()
        assert f"{site} / {souches[0]}" in formule and "moteur" in formule and "poids_foie_moyen_g =" in formule
        assert "Traceback" not in pg.inner_text("body") and pg.locator(".euralis-message.erreur").count() == 0
        pg.screenshot(path=str(_screenshots() / "simulateur_gaveur.png"), full_page=True)
        print(f"simulateur: a gaveur's page and computation in {time.monotonic() - debut:.1f} s")
    finally:
        pg.close()


def test_database_down_shows_the_french_message(server, page, dash_db):
    """Runs last in the module: drops the module's database under the open page."""
    open_page(page, server, "tableau_de_bord")
    cluster, name = dash_db
    cluster.drop(name)
    page.locator(".euralis-actualiser").click()
    page.get_by_text("Base de données injoignable").wait_for(timeout=60_000)
    page.screenshot(path=str(_screenshots() / "base_injoignable.png"), full_page=True)
    assert "Traceback" not in page.inner_text("body")
