"""Supervisor dashboards served by Voilà: :func:`ouvrir`, the whole code of an app notebook.

A page is one :class:`PageSpec` line in :data:`~euralis_lib.dashboards.registry.PAGES`, a module
``euralis_lib/dashboards/<module>.py`` exposing ``build(ctx) -> list[widget]`` (and ``FILTERS``, its filter
bar, or ``None``), and an app notebook ``notebooks/apps/<slug>.ipynb`` whose code is ``ouvrir("<slug>")``.
Every page is built by the one :class:`euralis_lib.dashboards.common.Page` (navigation, filters, loading
state, French errors). This module imports nothing heavy: page modules load on first use.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

from euralis_lib.dashboards.registry import PAGES, PageSpec, page_spec

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from euralis_lib.dashboards.common import Page

__all__ = ["PAGES", "PageSpec", "ouvrir", "page_spec"]


def ouvrir(slug: str, engine: Engine | None = None) -> Page | None:
    """Build and display page ``slug`` (the whole code of an app notebook); with login, as the user whose
    session's kernel token came with the request, or a French refusal (None) when the user may not open it."""
    from IPython.display import display
    from ipywidgets import VBox

    from euralis_lib.auth.page import acces_page
    from euralis_lib.dashboards.common import Page, message, nav_bar

    spec = page_spec(slug)
    if "VOILA_PREHEAT" in os.environ:  # served by Voilà: logging (tracebacks) to the server's log, not the page
        from euralis_lib.auth.kernel_request import log_to_server

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
    page = Page(spec, module.build, module.FILTERS, engine=engine or acces.engine,
                utilisateur=acces.utilisateur if acces else None)
    display(page.widget)
    if "VOILA_PREHEAT" in os.environ:  # served by Voilà (set for pooled and fresh kernels), not JupyterLab
        from IPython.display import HTML

        from euralis_lib.dashboards.common import instantane_html

        display(HTML(instantane_html(page.widget)), metadata={"euralis_instantane": True})
    return page
