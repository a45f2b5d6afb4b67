"""Accueil: the landing page linking every dashboard, with the state of the job runs."""

from __future__ import annotations

import html

import ipywidgets as w
from IPython.display import display

from euralis_lib import db, pipeline, runs
from euralis_lib.dashboards import common

DESCRIPTIONS = {
    "tableau_de_bord": "Production, lots et gaveurs actifs, alertes critiques, tendances.",
    "sites": "Comparaison des sites, exploration site → gaveurs → lots.",
    "gaveurs": "Performances, groupes de gaveurs, comparaison à la moyenne du site.",
    "previsions": "Prévisions de production à 7, 30 et 90 jours.",
    "qualite": "ITM et sigma par site et souche, lots anormaux.",
    "abattages": "Plan d'abattage, capacité utilisée, hongrois contre glouton.",
    "finance": "Chiffre d'affaires, coûts et marges par site et par mois.",
    "import": "Importer des fichiers des sites (gaveurs, lots, doses, abattages), avec rapport et quarantaine.",
    "ops": "Jobs planifiés, prochains runs, durées et échecs.",
}


def etat_jobs() -> w.Widget:
    """Latest successful run of each job (or the French database message)."""
    try:
        engine = db.get_engine()
        lignes = []
        for job in pipeline.JOBS:
            run = runs.latest_run(engine, job)
            quand = f"run n° {run.run_id} du {(run.fin or run.debut):%d/%m/%Y %H:%M}" if run else "jamais lancé"
            lignes.append(f"<tr><td>{html.escape(job)}</td><td>{html.escape(quand)}</td></tr>")
        return w.HTML("<h3>Derniers calculs</h3><table class='euralis'><tr><th>Job</th><th>Dernier run réussi</th>"
                      f"</tr>{''.join(lignes)}</table>")
    except Exception as exc:  # noqa: BLE001
        return common.message(common.french_error(exc), "erreur")


def page() -> w.VBox:
    """Build and display the landing page."""
    cartes = "".join(
        f'<div class="euralis-kpi"><a href="{slug}.ipynb"><b>{html.escape(titre)}</b></a>'
        f'<div class="label">{html.escape(DESCRIPTIONS[slug])}</div></div>'
        for slug, titre in common.PAGES if slug != "accueil")
    widget = w.VBox([common.nav_bar("accueil"),
                     w.HTML(f'<div style="display:flex; flex-wrap:wrap">{cartes}</div>'), etat_jobs()])
    display(widget)
    return widget
