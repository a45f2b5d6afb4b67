"""Dashboard logic without a browser: page builders on a real database, French messages, capacity use.

The rendering itself is tested in headless Chromium (test_dashboards_browser.py); here the pieces
the pages are made of are checked against the data layer.
"""

from __future__ import annotations

import html
from datetime import date

import ipywidgets as w
import numpy as np
import pandas as pd
import pytest

from euralis_lib import jobs
from euralis_lib.dashboards import abattages, common, gaveurs, page_spec, previsions, qualite, tableau_de_bord
from euralis_lib.dashboards.common import Contexte, Filters
from euralis_lib.database import db, queries
from euralis_lib.jobs import results
from euralis_lib.presentation import formatting, plots
from tests.helpers.pages import page_text

PERIODE = Filters(date(2026, 4, 1), date(2026, 6, 30), ["LL", "LS", "MT"])


def _ctx(engine, filtres: Filters) -> Contexte:
    return Contexte(engine, filtres, lambda: None)


def test_kpi_totals_are_the_sum_of_the_per_site_kpis_with_the_previous_period(shared_sim_url):
    engine = db.get_engine(shared_sim_url)
    totaux = tableau_de_bord.kpi_totaux(engine, PERIODE)
    par_site = queries.dashboard_kpis(engine, PERIODE.sites, PERIODE.debut, PERIODE.fin)
    avant = queries.dashboard_kpis(engine, PERIODE.sites, date(2025, 12, 31), date(2026, 3, 31))
    assert totaux["production_totale_kg"][0] == pytest.approx(par_site["production_totale_kg"].sum())
    assert totaux["nb_lots_actifs"][1] == avant["nb_lots_actifs"].sum()
    assert totaux["production_totale_kg"][0] > 0
    one = tableau_de_bord.kpi_totaux(engine, Filters(PERIODE.debut, PERIODE.fin, ["LL"]))
    assert 0 < one["production_totale_kg"][0] < totaux["production_totale_kg"][0]


def test_previous_period_has_the_same_length():
    prec = Filters(date(2026, 3, 1), date(2026, 3, 31), ["LL"]).precedent()
    assert (prec.debut, prec.fin) == (date(2026, 1, 29), date(2026, 2, 28))


def test_trend_and_french_number_format():
    assert common.tendance(110, 100) == pytest.approx(10.0)
    assert common.tendance(5, 0) is None
    assert formatting.nombre(1234567.891, 1) == "1\u202f234\u202f567,9"
    carte = common.kpi_card("Alertes Critiques", 3, 6, hausse_favorable=False).value
    assert "▼ -50,0 %" in carte and "hausse" in carte  # fewer alerts is good news


def test_pages_without_job_results_say_which_job_to_run(shared_sim_url):
    engine = db.get_engine(shared_sim_url)
    assert "lancez le job prévisions" in page_text(previsions.build(_ctx(engine, PERIODE)))
    assert "lancez le job planning" in page_text(abattages.build(_ctx(engine, PERIODE)))
    assert "lancez le job anomalies" in page_text(qualite.build(_ctx(engine, PERIODE)))
    assert "lancez le job clustering" in page_text(gaveurs.build(_ctx(engine, PERIODE)))


def test_a_filter_selecting_nothing_gives_a_french_message(shared_sim_url):
    engine = db.get_engine(shared_sim_url)
    with pytest.raises(common.EmptySelectionError, match="Aucun site sélectionné"):
        tableau_de_bord.build(_ctx(engine, Filters(PERIODE.debut, PERIODE.fin, [])))
    with pytest.raises(common.EmptySelectionError, match="Aucun lot abattu"):
        qualite.build(_ctx(engine, Filters(date(2020, 1, 1), date(2020, 1, 31), ["LL"])))


def test_database_down_gives_the_french_message_not_a_traceback(tmp_path):
    engine = db.get_engine(f"postgresql+psycopg2://postgres@/absente?host={tmp_path}")
    page = common.Page(page_spec("tableau_de_bord"), tableau_de_bord.build, tableau_de_bord.FILTERS, engine=engine)
    texte = page_text(list(page.contenu.children))
    assert common.DB_DOWN in texte
    assert "Traceback" not in texte


def test_capacity_use_never_exceeds_the_slaughterhouse_capacity(sim_db_url):
    engine = db.get_engine(sim_db_url)
    jobs.run_job("planning", engine, publier=True, debut="2026-06-20", fin="2026-07-10")
    plan = results.planning(engine).data
    util = abattages.utilisation(plan, queries.sites(engine))
    assert not util.empty and util["utilisation_pct"].max() <= 100.0
    fig = plots.calendrier_capacite(util)
    cellules = (~np.isnan(np.asarray(fig.data[0].z, dtype=float))).sum()
    assert cellules == len(util)  # one cell per slaughterhouse and day, never a sum over days
    couts = abattages.couts(plan).set_index("Méthode")
    assert couts.loc["Algorithme hongrois", "Coût total (€)"] <= couts.loc["Glouton", "Coût total (€)"] + 1e-6


def test_finance_cards_show_the_trend_only_when_the_previous_period_is_covered(shared_sim_url):
    from euralis_lib.dashboards import finance

    engine = db.get_engine(shared_sim_url)
    texte = page_text(finance.build(_ctx(engine, PERIODE)))  # live computation: no finance run in this database
    par_mois = queries.finance_indicateurs(engine, PERIODE.sites, PERIODE.debut, PERIODE.fin)
    avant = queries.finance_indicateurs(engine, PERIODE.sites, date(2025, 12, 31), date(2026, 3, 31))
    attendu = common.tendance(par_mois["marge_eur"].sum(), avant["marge_eur"].sum())
    assert formatting.nombre(par_mois["marge_eur"].sum()) in texte
    assert f"{attendu:+.1f} % vs période précédente".replace(".", ",") in texte
    assert "Chiffre d'affaires (€)" in html.unescape(texte) and "revenu_eur" not in texte  # French column headers
    # a period whose previous period of the same length starts before the first slaughter: partial sum, no trend
    debut_donnees = queries.finance_indicateurs(engine, PERIODE.sites)["mois"].min()
    periode = Filters((debut_donnees + pd.DateOffset(months=6)).date(), PERIODE.fin, PERIODE.sites)
    prec = periode.precedent()
    assert not queries.finance_indicateurs(engine, PERIODE.sites, prec.debut, prec.fin).empty  # partly covered
    assert page_text(finance.build(_ctx(engine, periode))).count("période précédente : n/d") == 3


def test_previsions_page_shows_the_chosen_model_and_its_ratio_to_the_naive(sim_db_url):
    from euralis_lib.models.noms import PREVISION

    engine = db.get_engine(sim_db_url)
    run = jobs.run_job("previsions", engine, publier=True, nb_origines=2, horizons=[30, 90])
    texte = page_text(previsions.build(_ctx(engine, PERIODE)))
    assert "Modèle retenu" in texte and "Rapport au naïf" in texte
    choix = results.choix_previsions(engine, run["run_id"]).data
    for r in choix.itertuples():
        assert html.escape(PREVISION[r.modele]) in texte
        assert formatting.nombre(r.ratio_naif, 2) in texte and formatting.nombre(r.mape_naif, 2) in texte


def test_previsions_page_reads_the_year_it_draws_not_the_whole_history(shared_sim_url):
    """Issue 25: the page read every day since the first slaughter to draw its last year (10 years: 11,000 rows
    per view, growing with the years kept)."""
    engine = db.get_engine(shared_sim_url)
    toute = queries.production_journaliere(engine, ["LL", "MT"])
    debut = toute["date"].max() + pd.Timedelta(days=1)
    lue = previsions.history(engine, ["LL", "MT"], pd.DataFrame({"date_prevision": [debut.date()]}))
    assert toute["date"].min() < debut - pd.Timedelta(days=400), "the shared data set must span more than a year"
    assert lue["date"].min() == debut - pd.Timedelta(days=plots.FORECAST_HISTORY_DAYS + 7)
    fenetre = toute[toute["date"] >= lue["date"].min()].reset_index(drop=True)
    pd.testing.assert_frame_equal(lue, fenetre)  # the same rows as the whole history's last year, zeros included


def test_forecast_chart_draws_history_and_forecast_as_7_day_means_with_the_model_under_the_title():
    """Issue 23: the forecast was drawn day by day (0 then thousands of kg) beside a history drawn as 7-day
    means, and the model's name cut the title."""
    jours = pd.date_range("2026-01-01", periods=60, freq="D")
    production = np.where(jours.dayofweek == 2, 7000.0, 0.0)  # one slaughter day a week
    history = pd.DataFrame({"site_code": "LL", "date": jours, "production_kg": production})
    futurs = pd.date_range(jours[-1] + pd.Timedelta(days=1), periods=30, freq="D")
    yhat = np.where(futurs.dayofweek == 2, 7000.0, 0.0)
    previsions_df = pd.DataFrame({"site_code": "LL", "horizon_jours": 30, "date_prevision": futurs.date, "yhat": yhat,
                                  "yhat_lower": yhat * 0.8, "yhat_upper": yhat * 1.2, "modele": "cycles"})
    fig = plots.forecast(history, previsions_df, "LL", 30)
    historique, haut, bas, prevision = fig.data
    assert max(historique.y[7:]) == min(historique.y[7:]) == 1000.0  # 7000 kg a week is 1000 kg a day
    assert max(prevision.y) == min(prevision.y) == 1000.0  # the same aggregation, no daily spikes
    assert list(bas.y[7:]) == [800.0] * 23 and list(haut.y[7:]) == [1200.0] * 23
    assert fig.layout.title.text == "Prévision 30 jours — site LL" and "moyenne" in fig.layout.yaxis.title.text
    assert fig.layout.title.subtitle.text.startswith("Modèle : Cycles des gaveurs")


def test_every_page_snapshot_shows_its_figures_without_controls(shared_sim_url):
    """The snapshot Voilà sends with the page's first bytes (shown before the widgets connect) holds the
    page's navigation, filter values and content as HTML, and no control."""
    import importlib

    from euralis_lib.dashboards import PAGES

    engine = db.get_engine(shared_sim_url)
    for spec in PAGES:
        module = importlib.import_module(f"euralis_lib.dashboards.{spec.nom_module}")
        page = common.Page(spec, module.build, module.FILTERS, engine=engine)
        instantane = common.instantane_html(page.widget)
        assert instantane.count('class="euralis-nav"') == 1 and "<script>" in instantane, spec.slug
        assert "<button" not in instantane and "<input" not in instantane, spec.slug
        contenu = common.instantane(page.contenu)
        assert contenu and all(v.value in contenu for v in page.contenu.children if isinstance(v, w.HTML)), spec.slug
        if page.filtres is not None:
            f = page.filtres.valeurs()
            assert f"Période du {formatting.jour(f.debut)} au {formatting.jour(f.fin)}" in instantane, spec.slug
    tdb = common.Page(page_spec("tableau_de_bord"), tableau_de_bord.build, tableau_de_bord.FILTERS, engine=engine)
    cartes = tdb.contenu.children[0].children
    assert all(c.value in common.instantane(tdb.widget) for c in cartes) and len(cartes) == len(tableau_de_bord.KPIS)
    # The snapshot goes into the page's HTML as is (scripts in it run): data in it must stay escaped.
    piege = pd.DataFrame({"nom": ["<script>alert(1)</script>"], "nb_lots": [1]})
    boite = w.VBox([common.table_html(piege), common.message(piege["nom"][0])])
    assert "<script>alert" not in common.instantane(boite) and "&lt;script&gt;alert" in common.instantane(boite)
    tdb.chargement.layout.display = None  # shown while computing: the snapshot shows it too, hidden it does not
    assert "euralis-chargement" in common.instantane(tdb.widget)
    tdb.chargement.layout.display = "none"
    assert "euralis-chargement" not in common.instantane(tdb.widget)


def test_a_page_kernel_loads_no_model_library():
    """Every page's kernel (preheated or not) imports its page module: scikit-learn, sympy, Prophet,
    statsmodels or an IRI grammar compiled at import (rfc3987-syntax, pulled in by jsonschema ≥ 4.25 through
    nbformat) would add seconds to each kernel start on the server's cores. Checked in a fresh interpreter."""
    import subprocess
    import sys

    from euralis_lib.dashboards import PAGES

    lourds = ("sklearn", "sympy", "prophet", "statsmodels", "rfc3987_syntax")
    code = ("import importlib, sys, ipykernel.kernelapp\n"
            f"for nom in {[p.nom_module for p in PAGES]!r}: importlib.import_module('euralis_lib.dashboards.' + nom)\n"
            f"print([m for m in {lourds!r} if m in sys.modules])")
    sortie = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert sortie.strip() == "[]", f"a page kernel loads {sortie.strip()}"


OFFERTS = {"tableau_de_bord": ["aucune", "annee"], "sites": ["aucune", "annee", "site"],
           "gaveurs": ["aucune", "annee", "moyenne_site", "groupe"]}


def _page(engine, slug: str) -> common.Page:
    import importlib

    module = importlib.import_module(f"euralis_lib.dashboards.{slug}")
    return common.Page(page_spec(slug), module.build, module.FILTERS, engine=engine)


def _comparer(page: common.Page, mode: str) -> str:
    """Choose ``mode`` in the page's « Comparer » list (the page recomputes) and return what it shows, unescaped."""
    page.filtres.comparaison.mode.value = mode
    return html.unescape(page_text(list(page.contenu.children)))


def _kg_sql(engine, debut: date, fin: date, sites: list[str]) -> float:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return float(conn.execute(sa.text(
            "SELECT COALESCE(sum(a.poids_foie_total_kg), 0) FROM abattages a JOIN lots_gavage l USING (lot_id) "
            "WHERE l.site_code = ANY(:s) AND a.date_abattage BETWEEN :d AND :f"),
            {"s": sites, "d": debut, "f": fin}).scalar_one())


def test_each_page_offers_its_comparisons_and_shows_the_year_over_year(shared_sim_url):
    """Issue 23: one « Comparer » control in the filter bar of Tableau de bord, Sites and Gaveurs, with the modes
    that make sense there; « Même période il y a un an » shows both totals (364 days back) and the difference."""
    from datetime import timedelta

    from euralis_lib.dashboards import PAGES

    engine = db.get_engine(shared_sim_url)
    for spec in PAGES:
        module = __import__(f"euralis_lib.dashboards.{spec.nom_module}", fromlist=["FILTERS"])
        offerts = list(module.FILTERS.comparaisons if module.FILTERS else ())
        assert (["aucune", *offerts] if offerts else None) == OFFERTS.get(spec.slug), spec.slug
    for slug, modes in OFFERTS.items():
        page = _page(engine, slug)
        assert [v for _, v in page.filtres.comparaison.mode.options] == modes
        assert "Comparaison :" not in _comparer(page, "aucune")
        f = page.filtres.valeurs()
        texte = _comparer(page, "annee")
        assert "Comparaison : Même période il y a un an" in texte, slug
        assert "Comparer : Même période il y a un an" in common.instantane(page.widget), slug
        actuel = _kg_sql(engine, f.debut, f.fin, f.sites)
        recul = timedelta(days=364)
        avant = _kg_sql(engine, f.debut - recul, f.fin - recul, f.sites)
        assert actuel > 0 and avant > 0
        assert f"{formatting.nombre(actuel)} kg" in texte and f"{formatting.nombre(avant)} kg" in texte, slug
        ecart = actuel - avant
        assert f"{'+' if ecart > 0 else ''}{formatting.nombre(ecart)} kg" in texte, slug
        pct = formatting.nombre(100 * ecart / avant, 1)
        assert f"{'+' if ecart > 0 else ''}{pct} % vs il y a un an" in texte, slug
        assert f"du {formatting.jour(f.debut - recul)} au {formatting.jour(f.fin - recul)}" in texte, slug
        assert "Erreur" not in texte, slug
        # the first year of data: nothing a year earlier, a French message
        premiere = queries.data_period(engine)[0]
        page.filtres.debut.value, page.filtres.fin.value = premiere, premiere + timedelta(days=90)
        assert "Aucune production un an plus tôt" in _comparer(page, "annee"), slug


def test_site_against_site_shows_both_sites_and_their_means(shared_sim_url):
    engine = db.get_engine(shared_sim_url)
    page = _page(engine, "sites")
    controle = page.filtres.comparaison
    controle.site.value, controle.autre_site.value = "LL", "MT"
    texte = _comparer(page, "site")
    f = page.filtres.valeurs()
    assert (f.comparaison.site, f.comparaison.autre_site) == ("LL", "MT")
    ll, mt = (_kg_sql(engine, f.debut, f.fin, [s]) for s in ("LL", "MT"))
    assert "Production LL" in texte and "Production MT" in texte
    assert f"{formatting.nombre(ll)} kg" in texte and f"{formatting.nombre(mt)} kg" in texte
    assert "Écart LL − MT" in texte and f"{'+' if ll > mt else ''}{formatting.nombre(ll - mt)} kg" in texte
    moyennes = queries.moyennes_sites(engine, f.debut, f.fin)
    for site in ("LL", "MT"):
        assert formatting.nombre(moyennes.loc[site, "itm_moyen"], 2) in texte
    assert formatting.nombre(moyennes.loc["LL", "itm_moyen"] - moyennes.loc["MT", "itm_moyen"], 2) in texte
    controle.autre_site.value = "LL"
    assert "Choisissez deux sites différents" in _comparer(page, "site")


def test_gaveur_against_his_site_and_his_group(sim_db_url):
    """The page opens on the first gaveur of the list against his site's means; a gaveur's indicators next to
    his site's means; his group's once the clustering job has run (before: a French message naming the job)."""
    engine = db.get_engine(sim_db_url)
    page = _page(engine, "gaveurs")
    controle = page.filtres.comparaison
    assert controle.mode.value == "moyenne_site" and controle.gaveur.value == controle.gaveur.options[0][1]
    premier = controle.gaveur.options[0][0].split(" – ")[0]
    assert f"Gaveur {premier}" in html.unescape(page_text(list(page.contenu.children)))
    assert "choisissez-le dans « Comparer »" in _comparer(page, "aucune")
    f = page.filtres.valeurs()
    perf = queries.gaveur_performances(engine, None, f.debut, f.fin)
    gaveur = perf.sort_values("nb_lots").iloc[-1]
    page.filtres.comparaison.gaveur.value = int(gaveur["gaveur_id"])
    texte = _comparer(page, "moyenne_site")
    moyennes = queries.moyennes_sites(engine, f.debut, f.fin).loc[gaveur["site_code"]]
    assert f"Gaveur {gaveur['code']}" in texte and f"Moyenne du site {gaveur['site_code']}" in texte
    for colonne, colonne_ref in (("itm", "itm_moyen"), ("sigma_g", "sigma_moyen_g")):
        assert formatting.nombre(gaveur[colonne], 2) in texte and formatting.nombre(moyennes[colonne_ref], 2) in texte
        assert formatting.nombre(gaveur[colonne] - moyennes[colonne_ref], 2) in texte
    assert "le job clustering n'a encore jamais réussi" in _comparer(page, "groupe")
    jobs.run_job("clustering", engine)
    clusters = results.clusters(engine).data.set_index("gaveur_id")
    membres = clusters.index[clusters["cluster"] == clusters.loc[gaveur["gaveur_id"], "cluster"]].tolist()
    lots = queries.qualite_lots(engine, None, f.debut, f.fin)
    lots = lots[lots["gaveur_id"].isin(membres)]
    page.filtres.actualiser.click()
    texte = html.unescape(page_text(list(page.contenu.children)))
    assert f"Groupe « {clusters.loc[gaveur['gaveur_id'], 'nom_cluster']} »" in texte
    assert f"moyenne de {lots['gaveur_id'].nunique()} gaveurs et {len(lots)} lots du groupe" in texte
    assert formatting.nombre(round(lots["sigma_g"].mean(), 1), 2) in texte
