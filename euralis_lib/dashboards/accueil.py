"""Accueil: the landing page linking every dashboard, with the state of each registered job."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as w
import pandas as pd

from euralis_lib import jobs
from euralis_lib.auth.acces import chemin_lisible
from euralis_lib.dashboards import PAGES, common
from euralis_lib.dashboards.common import Contexte
from euralis_lib.jobs import runs
from euralis_lib.presentation.markup import element, link

FILTERS = None


def cartes() -> w.HTML:
    """One card per page (title linking to it, description), from the page registry."""
    contenu = (element("div", link(f"{p.slug}.ipynb", element("b", p.titre)),
                       element("div", p.description, class_="label"), class_="euralis-kpi")
               for p in PAGES if p.slug != "accueil")
    return w.HTML(element("div", *contenu, style="display:flex; flex-wrap:wrap"))


def etat_jobs(ctx: Contexte) -> pd.DataFrame:
    """Per registered job: what it computes, the run pages show (published, :func:`runs.latest_run`) and that
    run's report — linked only when the database says the user may read it (``euralis_fichier_lisible``)."""
    lignes = []
    for job in jobs.JOBS.values():
        run = runs.latest_run(ctx.engine, job.name)
        rapport = Path(run.rapport_path).with_suffix(".html") if run and run.rapport_path else None
        lignes.append({"titre": job.titre, "description": job.description,
                       "dernier_succes": (run.fin or run.debut) if run else None,
                       "run_id": run.run_id if run else None,
                       "rapport_path": str(rapport) if rapport and chemin_lisible(ctx.engine, rapport) else None})
    return pd.DataFrame(lignes).astype({"run_id": "Int64"})


def build(ctx: Contexte) -> list[w.Widget]:
    """Page cards and the table of the jobs' last successful runs."""
    colonnes = {"titre": "Calcul", "description": "Ce qu'il fait", "dernier_succes": "Run publié (affiché)"}
    return [cartes(), common.titre("Derniers calculs"), common.table_html(etat_jobs(ctx), colonnes=colonnes)]
