"""« Rapport PDF de cette page » (issue 23): real pages built on a real database as a real user, printed by
Debian's Chromium; the PDF read back holds the page's title, filters, KPI values and drawn charts, only the rows
the user's engine read, and hostile names as text."""

from __future__ import annotations

import html
import importlib
import io
import re
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import ipywidgets as w
import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from euralis_lib import jobs
from euralis_lib.dashboards import common, page_report, page_spec
from euralis_lib.database import db
from euralis_lib.presentation import formatting
from tests.helpers.connexion import engine_de, ouvrir_session, utilisateurs_de_test
from tests.helpers.pdf import texte_pdf

QUAND = datetime(2026, 7, 2, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
PLAN = (date(2026, 6, 15), date(2026, 6, 28))
LOT_PIEGE = "LOT<script>alert(1)</script>"
NOM_PIEGE = "Durand <script>alert(2)</script>"


@pytest.fixture(scope="module")
def base(pg_cluster, sim_template) -> Iterator[dict]:
    """Simulated data with a slaughter plan (job planning) and users adm, sup, g1 and g2, two LL gaveurs who have
    lots in the plan; one of g1's planned lots and g1's name carry a script. ``lots``: the planned lot codes of g1
    and of every other gaveur."""
    name = pg_cluster.clone(sim_template)
    url = pg_cluster.url(name)
    owner = db.get_engine(url)
    jobs.run_job("planning", owner, publier=True, debut=PLAN[0].isoformat(), fin=PLAN[1].isoformat())
    with owner.begin() as conn:
        g1, g2 = conn.execute(sa.text(
            "SELECT l.gaveur_id FROM planning_abattages p JOIN lots_gavage l USING (lot_id) WHERE l.site_code = 'LL' "
            "GROUP BY 1 ORDER BY count(DISTINCT l.lot_id) DESC, 1 LIMIT 2")).scalars()
        lot = conn.execute(sa.text(
            "SELECT min(lot_id) FROM planning_abattages JOIN lots_gavage USING (lot_id) WHERE gaveur_id = :g"),
            {"g": g1}).scalar_one()
        conn.execute(sa.text("UPDATE lots_gavage SET code_lot = :c WHERE lot_id = :l"), {"c": LOT_PIEGE, "l": lot})
        conn.execute(sa.text("UPDATE gaveurs SET nom = :n WHERE gaveur_id = :g"), {"n": NOM_PIEGE, "g": g1})
        lots = {g: set(conn.execute(sa.text(
            "SELECT DISTINCT code_lot FROM planning_abattages JOIN lots_gavage USING (lot_id) "
            "WHERE (gaveur_id = :g) = :lui"), {"g": g1, "lui": lui}).scalars())
            for g, lui in ((g1, True), ("autres", False))}
    utilisateurs_de_test(url, g1, g2)
    yield {"url": url, "owner": owner, "g1": g1, "g2": g2, "lots": lots}
    owner.dispose()
    pg_cluster.drop(name)


def _page(base: dict, slug: str, login: str) -> common.Page:
    """Page ``slug`` as ``login`` opens it on the server: his engine (row-level security), his user."""
    spec = page_spec(slug)
    module = importlib.import_module(f"euralis_lib.dashboards.{spec.nom_module}")
    return common.Page(spec, module.build, module.FILTERS, engine=engine_de(base["url"], login),
                       utilisateur=ouvrir_session(base["url"], login)[1])


def _kpis(page: common.Page) -> dict[str, str]:
    """The KPI cards' values as the page shows them (label → value), read from its widgets."""
    cartes = {}
    ligne = next(c for c in page.contenu.children if isinstance(c, w.HBox))
    for carte in ligne.children:
        libelle = re.search(r'class="label">([^<]*)<', carte.value).group(1)
        cartes[html.unescape(libelle)] = html.unescape(re.search(r'class="valeur"[^>]*>([^<]*)<', carte.value).group(1))
    return cartes


def _sans_milliers(texte: str) -> str:
    return re.sub(r"(?<=\d)[\u202f\xa0 ](?=\d{3}(?!\d))", "", texte)


def _periode(page: common.Page) -> str:
    f = page.filtres.valeurs()
    return f"Période du {formatting.jour(f.debut)} au {formatting.jour(f.fin)}"


@pytest.mark.parametrize(("slug", "graphique"), [("tableau_de_bord", "Production de foie par site (kg par semaine)"),
                                                 ("finance", "Marge mensuelle par site")])
def test_the_page_pdf_holds_its_title_filters_user_kpis_and_drawn_charts(base, slug, graphique):
    page = _page(base, slug, "sup")
    kpis = _kpis(page)
    assert kpis and all(kpis.values())
    contenu = page.rapport_pdf(QUAND)
    assert contenu.startswith(b"%PDF-")
    texte = texte_pdf(contenu)
    assert texte.startswith(f"{page.spec.titre} ")
    assert f"Page {page.spec.titre}" in texte and "Sites LL, LS, MT" in texte and _periode(page) in texte
    assert "Utilisateur sup (superviseur)" in texte and "Généré le 02/07/2026 09:30" in texte
    for libelle, valeur in kpis.items():
        assert f"{libelle} {_sans_milliers(valeur)}" in texte, (libelle, valeur, texte[:800])
    # The chart's title exists only in the SVG plotly draws: it is in the PDF only if the chart was drawn.
    assert graphique in texte
    lecteur = PdfReader(io.BytesIO(contenu))
    assert len(lecteur.pages) >= 1 and "page 1 / " in lecteur.pages[0].extract_text()


def test_the_page_pdf_follows_the_filters_the_user_chose(base):
    """« What the user sees now »: after choosing LL only, the PDF says LL and shows the page's new KPI values."""
    page = _page(base, "tableau_de_bord", "sup")
    avant = _kpis(page)
    page.filtres.sites.value = ["LL"]  # observed: the page recomputes, as a click in the list does
    apres = _kpis(page)
    assert apres["Production Totale"] != avant["Production Totale"]
    texte = texte_pdf(page.rapport_pdf(QUAND))
    assert "Sites LL Période" in texte and f"Production Totale {_sans_milliers(apres['Production Totale'])}" in texte
    assert f"Production Totale {_sans_milliers(avant['Production Totale'])}" not in texte


def test_the_page_pdf_prints_the_tables_and_the_chosen_gaveurs_by_name(base):
    page = _page(base, "gaveurs", "sup")
    page.filtres.gaveurs.value = [base["g2"]]
    nom = page.filtres.noms_gaveurs()[0]
    assert nom.endswith("(LL)")
    texte = texte_pdf(page.rapport_pdf(QUAND))
    assert f"Gaveurs {nom}" in texte
    assert "Rang ITM (site)" in texte  # the performance table's header
    assert "Gaveur " in texte  # the page's own choice (the gaveur compared), printed with its value


def _lots_dans(texte: str, codes: set[str]) -> set[str]:
    """The lot codes of ``codes`` printed in ``texte`` (a long code may be wrapped in its cell)."""
    serre = re.sub(r"\s", "", texte)
    return {c for c in codes if re.sub(r"\s", "", c) in serre}


def test_a_gaveurs_page_pdf_holds_only_his_lots(base):
    """The report is built from what the page read with the gaveur's engine: his planned lots, no other gaveur's
    (control: the same page of a superviseur lists others)."""
    g1_lots, autres = base["lots"][base["g1"]], base["lots"]["autres"]
    assert g1_lots and autres and not g1_lots & autres
    assert _lots_dans(texte_pdf(_page(base, "abattages", "sup").rapport_pdf(QUAND)), autres)
    texte = texte_pdf(_page(base, "abattages", "g1").rapport_pdf(QUAND))
    assert "Utilisateur g1 (gaveur)" in texte and _lots_dans(texte, g1_lots) == g1_lots
    assert _lots_dans(texte, autres) == set()


def test_hostile_names_print_as_text_never_as_markup(base):
    """A lot code and a gaveur's name holding a script: escaped in the page's HTML, printed as those characters
    (had the script been markup, Chromium would have run it and printed nothing of it)."""
    page = _page(base, "abattages", "g1")
    document = page_report.html(page.spec.titre, page.contexte(), page.contenu, QUAND)
    assert "<script>" not in document and html.escape(LOT_PIEGE, quote=False) in document
    assert _lots_dans(texte_pdf(page.rapport_pdf(QUAND)), {LOT_PIEGE})
    gaveurs = _page(base, "gaveurs", "sup")
    gaveurs.filtres.gaveurs.value = [base["g1"]]
    document = page_report.html(gaveurs.spec.titre, gaveurs.contexte(), gaveurs.contenu, QUAND)
    assert "<script>" not in document and "&lt;script&gt;alert(2)" in document
    assert re.sub(r"\s", "", NOM_PIEGE) in re.sub(r"\s", "", texte_pdf(gaveurs.rapport_pdf(QUAND)))


def test_only_what_is_shown_goes_in_the_report():
    """Hidden widgets, buttons and unmarked HTML are left out; a page's own choice is printed with its value."""
    visible = common.message("Visible")
    cache = common.message("Caché")
    cache.layout.display = "none"
    choix = w.Dropdown(options=[("90 jours", 90), ("7 jours", 7)], value=7, description="Horizon")
    boite = w.VBox([visible, cache, w.Button(description="Bouton"), w.HTML("<b>brut</b>"), choix])
    texte = "".join(page_report.sections(boite))
    assert "Visible" in texte and "Horizon : 7 jours" in texte
    assert "Caché" not in texte and "Bouton" not in texte and "brut" not in texte


def test_the_button_is_on_every_data_page_next_to_actualiser(base):
    nom = page_report.nom_fichier("tableau_de_bord", QUAND)
    assert nom == "tableau_de_bord-2026-07-02-0930.pdf"
    for slug in ("tableau_de_bord", "ops", "accueil"):
        page = _page(base, slug, "adm")
        libelles = [b.description for b in _boutons(page.widget)]
        assert ("Rapport PDF de cette page" in libelles) == page.spec.rapport, slug
        if page.spec.rapport:
            assert libelles.index("Rapport PDF de cette page") == libelles.index("Actualiser") + 1, slug


def _boutons(widget: w.Widget) -> list[w.Button]:
    if isinstance(widget, w.Button):
        return [widget]
    if isinstance(widget, w.Box):
        return [b for c in widget.children for b in _boutons(c)]
    return []
