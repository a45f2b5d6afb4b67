"""Supervisor dashboards served by Voilà: the page registry, read by the navigation bar and the landing page.

A page is one :class:`PageSpec` line in :data:`PAGES`, a module ``euralis_lib/dashboards/<module>.py``
exposing ``build(ctx) -> list[widget]`` (and ``FILTRES``, its filter bar, or ``None``), and an app
notebook ``notebooks/apps/<slug>.ipynb`` whose code is ``ouvrir("<slug>")``. Every page is built by
the one :class:`euralis_lib.dashboards.common.Page` (navigation, filters, loading state, French
errors). This module imports nothing heavy: page modules load on first use.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from euralis_lib.auth import ROLES

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from euralis_lib.dashboards.common import Page


@dataclass(frozen=True)
class PageSpec:
    """One dashboard page: URL slug, title in the navigation bar, description on the landing page, the
    roles that may open it (with login; the database enforces the rows and writes either way) and ``pool``:
    preheated kernels kept ready for it (None: the server's ``--pool_size``), more for the pages opened first."""

    slug: str
    titre: str
    description: str
    module: str = ""
    roles: tuple[str, ...] = ROLES
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
             "et quarantaine.", module="import_fichiers", roles=("admin",)),
    PageSpec("alertes", "Alertes", "Centre d'alertes : filtrer, lire, acquitter ; fausses alertes par règle."),
    PageSpec("ops", "Ops", "Jobs planifiés, prochains runs, sauvegardes, durées et échecs.",
             roles=("admin", "superviseur")),
    PageSpec("administration", "Administration", "Utilisateurs, capacités d'abattage et prix (administrateurs).",
             roles=("admin",)),
)


def page_spec(slug: str) -> PageSpec:
    """The registered page ``slug`` (KeyError naming the known pages otherwise)."""
    for spec in PAGES:
        if spec.slug == slug:
            return spec
    raise KeyError(f"unknown page {slug!r}: known pages are {', '.join(p.slug for p in PAGES)}")


def ouvrir(slug: str, engine: Engine | None = None) -> Page | None:
    """Build and display page ``slug`` (the whole code of an app notebook); with login, as the user whose
    session's kernel token came with the request, or a French refusal (None) when the user may not open it."""
    from IPython.display import display
    from ipywidgets import VBox

    from euralis_lib.auth.page import acces_page
    from euralis_lib.dashboards.common import Page, message, nav_bar

    spec = page_spec(slug)
    if "VOILA_PREHEAT" in os.environ:  # served by Voilà: logging (tracebacks) to the server's log, not the page
        from euralis_lib.kernel_request import log_to_server

        log_to_server()
    # Heavy imports and first-figure costs first: a preheated kernel pays them before its request arrives.
    module = importlib.import_module(f"euralis_lib.dashboards.{spec.nom_module}")
    if engine is None and os.environ.get("VOILA_PREHEAT") == "True":
        from euralis_lib.dashboards.common import prechauffer

        prechauffer()
    acces = acces_page(spec.titre, spec.roles) if engine is None else None
    if acces is not None and acces.refus:
        refus = message(acces.refus, "erreur")
        display(VBox([nav_bar(slug, acces.utilisateur), refus]) if acces.utilisateur else refus)
        return None
    page = Page(spec, module.build, module.FILTRES, engine=engine or acces.engine,
                utilisateur=acces.utilisateur if acces else None)
    display(page.widget)
    if "VOILA_PREHEAT" in os.environ:  # served by Voilà (set for pooled and fresh kernels), not JupyterLab
        from IPython.display import HTML

        from euralis_lib.dashboards.common import instantane_html

        display(HTML(instantane_html(page.widget)), metadata={"euralis_instantane": True})
    return page
