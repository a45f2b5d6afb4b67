"""The lot calculator (« Simulateur de lot », issue 24): its arithmetic, and :func:`predict_lot` on a simulated
database where the job entrainement ran for one site, read as a supervisor and as a gaveur (row-level security)."""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
import pytest
import sympy

from euralis_lib import jobs
from euralis_lib.database import db, queries
from euralis_lib.jobs import lot_calculator, results
from euralis_lib.models import lot_calculator as calc
from euralis_lib.models import regression
from euralis_lib.presentation import formatting
from tests.helpers.connexion import creer_utilisateur, engine_de
from tests.helpers.pages import page_text

PLAN = {"poids_entree_kg": 4.2, "duree_jours": 11, "jeune_h": 10.0}


@pytest.fixture(scope="module")
def trained(pg_cluster, sim_template):
    """A simulated database where entrainement ran on site LL only (a third of the training), and its URL."""
    name = pg_cluster.clone(sim_template)
    url = pg_cluster.url(name)
    jobs.run_job("entrainement", db.get_engine(url), publier=True, sites=["LL"], generations=5)
    yield url
    pg_cluster.drop(name)


def test_the_formula_evaluator_agrees_with_sympy_and_refuses_anything_else():
    texte = "poids_foie_moyen_g = -8.045*dose_totale_kg**2 + 170.4*dose_totale_kg - 1.932*ecart_courbe_g - 111.6"
    valeurs = {"dose_totale_kg": 8.7, "ecart_courbe_g": 14.0}
    attendu = float(sympy.sympify(texte.split("=")[1]).subs(valeurs))
    assert calc.evaluate(texte, valeurs) == pytest.approx(attendu)
    for piege in ("__import__('os').system('true')", "dose_totale_kg.real", "jeune_h + 1"):
        with pytest.raises(calc.CalculatorError):
            calc.evaluate(piege, valeurs)


def test_residual_bounds_take_the_conformal_ranks():
    residus = np.arange(1.0, 61.0)  # n = 60: ⌊61·0.1⌋ = 6th and ⌈61·0.9⌉ = 55th smallest
    assert regression.residual_bounds(residus) == (6.0, 55.0)
    assert all(math.isnan(b) for b in regression.residual_bounds(np.arange(5.0)))  # too few lots for the ranks


def test_a_dose_plan_follows_the_control_curve_or_the_total_or_the_days():
    courbe = pd.DataFrame({"nb_repas": [4] * 4, "repas": [1, 2, 3, 4], "dose_theorique_g": [200.0, 300, 400, 450]})
    temoin, plan = calc.dose_plan(courbe, 2)
    assert list(plan) == list(temoin) == [200.0, 300, 400, 450]
    _, plan = calc.dose_plan(courbe, 2, dose_totale_kg=2.7)
    assert plan.sum() == pytest.approx(2700) and plan[3] / plan[0] == pytest.approx(450 / 200)
    _, plan = calc.dose_plan(courbe, 2, doses_jour_g=[500, 900])
    assert list(plan) == [250, 250, 450, 450]
    with pytest.raises(calc.CalculatorError, match="3 doses par jour pour 2 jours"):
        calc.dose_plan(courbe, 2, doses_jour_g=[500, 900, 900])


def test_predict_lot_gives_each_figure_inside_its_interval_from_the_retained_formula(trained):
    engine = db.get_engine(trained)
    assert lot_calculator.choices(engine) == [("LL", "BARBARIE"), ("LL", "MULARD")]
    p = lot_calculator.predict_lot(engine, site="LL", souche="MULARD", **PLAN)
    formule = results.formules_retenues(engine).data.set_index(["site_code", "souche_code"]).loc[("LL", "MULARD")]
    assert p.formule == formule["formule"] and p.engine == formule["engine"] and "run n°" in p.source
    assert p.poids_foie_g.valeur == pytest.approx(calc.evaluate(p.formule, p.features))
    assert p.poids_foie_g.haut - p.poids_foie_g.valeur == pytest.approx(formule["residu_p90_g"])
    for figure in (p.poids_foie_g, p.itm, p.marge_par_canard_eur, *p.grades.values()):
        assert figure.bas <= figure.valeur <= figure.haut, p
    assert 450 < p.poids_foie_g.valeur < 800 and 10 < p.itm.valeur < 18
    assert sum(g.valeur for g in p.grades.values()) == pytest.approx(1.0)
    # The default plan is the control curve of past LL/MULARD lots of 22 meals: its total is theirs.
    courbe = queries.control_curve(engine, "LL", "MULARD")
    assert p.features["dose_totale_kg"] == pytest.approx(courbe.loc[courbe["nb_repas"] == 22,
                                                                    "dose_theorique_g"].sum() / 1000)
    # More fasting costs liver weight, as the formula says; a dearer duck lowers the margin by its price.
    plus_long = lot_calculator.predict_lot(engine, site="LL", souche="MULARD", **{**PLAN, "jeune_h": 14.0})
    assert plus_long.poids_foie_g.valeur < p.poids_foie_g.valeur
    assert plus_long.itm.valeur > p.itm.valeur


def test_a_gaveur_simulates_only_his_site_and_souches(trained):
    engine = db.get_engine(trained)
    gaveur_id, site, souche = db.read_df(engine, """
        SELECT l.gaveur_id, l.site_code, l.souche_code FROM lots_gavage l JOIN abattages USING (lot_id)
        WHERE l.site_code = 'LL' GROUP BY 1, 2, 3 ORDER BY count(*) DESC LIMIT 1""").iloc[0]
    creer_utilisateur(trained, "g-simul", "gaveur", gaveur_id=int(gaveur_id))
    sien = engine_de(trained, "g-simul")
    choix = lot_calculator.choices(sien)
    assert (site, souche) in choix and {s for s, _ in choix} == {"LL"}
    p = lot_calculator.predict_lot(sien, site=site, souche=souche, **PLAN)
    assert p.nb_lots_voisins <= len(queries.lot_grades(sien, site, souche)) < len(
        queries.lot_grades(engine, site, souche))  # his own lots only
    with pytest.raises(calc.CalculatorError, match="Aucune formule retenue lisible pour MT / MULARD"):
        lot_calculator.predict_lot(sien, site="MT", souche="MULARD", **PLAN)


def test_the_page_computes_on_click_and_says_in_french_what_it_cannot_read(trained):
    from euralis_lib.dashboards import simulateur
    from euralis_lib.dashboards.common import Contexte

    engine = db.get_engine(trained)
    enfants = simulateur.build(Contexte(engine, None, lambda: None))
    champs = {c.description: c for boite in enfants[1].children for c in boite.children}
    calculer, sortie = enfants[2], enfants[3]
    assert champs["Site"].options == ("LL",) and champs["Souche"].options == ("BARBARIE", "MULARD")
    assert champs["Souche"].value == "BARBARIE"  # a choice made when the page opens
    champs["Souche"].value = "MULARD"
    calculer.click()
    texte = page_text(list(sortie.children))
    attendu = lot_calculator.predict_lot(engine, site="LL", souche="MULARD", **PLAN)
    assert f"{formatting.nombre(attendu.poids_foie_g.valeur)} g" in texte and "intervalle à 80 %" in texte
    assert attendu.formule in html.unescape(texte) and f"moteur {attendu.engine}" in texte
    assert champs["Doses par jour (g)"].disabled and champs["Dose totale (kg/canard)"].disabled
    champs["Plan de doses"].value = "jours"
    assert not champs["Doses par jour (g)"].disabled
    champs["Doses par jour (g)"].value = "400; 500; beaucoup"
    calculer.click()
    assert "Doses par jour illisibles" in page_text(list(sortie.children))
    champs["Doses par jour (g)"].value = "400; 500"
    calculer.click()
    assert "2 doses par jour pour 11 jours de gavage" in html.unescape(page_text(list(sortie.children)))
