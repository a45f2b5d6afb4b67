"""Supervisor dashboards served by Voilà: the page registry, read by the navigation bar and the landing page.

A page is one :class:`PageSpec` line in :data:`PAGES`, a module ``euralis_lib/dashboards/<module>.py``
exposing ``build(ctx) -> list[widget]`` (and ``FILTRES``, its filter bar, or ``None``), and an app
notebook ``notebooks/apps/<slug>.ipynb`` whose code is ``ouvrir("<slug>")``. Every page is built by
the one :class:`euralis_lib.dashboards.common.Page` (navigation, filters, loading state, French
errors). This module imports nothing heavy: page modules load on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from euralis_lib.dashboards.common import Page


@dataclass(frozen=True)
class PageSpec:
    """One dashboard page: URL slug, title in the navigation bar, description on the landing page; ``pool``:
    preheated kernels kept ready for it (None: the server's ``--pool_size``), more for the pages opened first."""

    slug: str
    titre: str
    description: str
    module: str = ""
    pool: int | None = None

    @property
    def nom_module(self) -> str:
        """The page module under ``euralis_lib.dashboards`` (the slug unless it is a Python keyword)."""
        return self.module or self.slug


PAGES: tuple[PageSpec, ...] = (
    PageSpec("accueil", "Accueil", "Toutes les pages et l'état des calculs.", pool=2),
    PageSpec("tableau_de_bord", "Tableau de bord", "Production, lots et gaveurs actifs, alertes critiques, tendances.",
             pool=3),
    PageSpec("sites", "Sites de Production", "Comparaison des sites, exploration site → gaveurs → lots."),
    PageSpec("gaveurs", "Gaveurs", "Performances, groupes de gaveurs, comparaison à la moyenne du site."),
    PageSpec("previsions", "Prévisions", "Prévisions de production à 7, 30 et 90 jours."),
    PageSpec("qualite", "Qualité", "ITM et sigma par site et souche, formules de poids de foie, lots anormaux."),
    PageSpec("abattages", "Abattages", "Plan d'abattage, capacité utilisée, hongrois contre glouton."),
    PageSpec("finance", "Finance", "Chiffre d'affaires, coûts et marges par site et par mois."),
    PageSpec("import", "Import", "Importer des fichiers des sites (gaveurs, lots, doses, abattages), avec rapport "
             "et quarantaine.", module="import_fichiers"),
    PageSpec("ops", "Ops", "Jobs planifiés, prochains runs, sauvegardes, durées et échecs."),
)


def page_spec(slug: str) -> PageSpec:
    """The registered page ``slug`` (KeyError naming the known pages otherwise)."""
    for spec in PAGES:
        if spec.slug == slug:
            return spec
    raise KeyError(f"unknown page {slug!r}: known pages are {', '.join(p.slug for p in PAGES)}")


def ouvrir(slug: str, engine: Engine | None = None) -> Page:
    """Build and display page ``slug`` (the whole code of an app notebook)."""
    from IPython.display import display

    from euralis_lib.dashboards.common import Page

    spec = page_spec(slug)
    module = importlib.import_module(f"euralis_lib.dashboards.{spec.nom_module}")
    page = Page(spec, module.build, module.FILTRES, engine=engine)
    display(page.widget)
    return page
