"""Rapports: the archived weekly PDF reports the user may read (row-level security on ``rapports``, sql/190),
each linked through the reports route, which serves the file only to those same users."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as w
import pandas as pd

from euralis_lib import config
from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte
from euralis_lib.jobs import results
from euralis_lib.presentation import formatting
from euralis_lib.presentation.markup import Markup, element, escape, join, link
from euralis_lib.reporting import archive

FILTERS = None
ENTETES = ("Semaine", "Site", "Gaveur", "Pages", "Taille", "Archivé le", "Fichier")


def lien(fichier: str) -> Markup:
    """Link to an archived report through the reports route (relative to the pages); « — » outside the folder."""
    try:
        relatif = Path(fichier).resolve().relative_to(config.reports_dir())
    except ValueError:
        return escape(formatting.VIDE)
    return link(f"../rapports/{relatif.as_posix()}", "PDF", target="_blank", class_="euralis-rapport")


def reports_table(df: pd.DataFrame) -> Markup:
    """The reports as an HTML table, newest week first, one link per file."""
    lignes = (element("tr", element("td", f"{formatting.jour(r.debut)} – {formatting.jour(r.fin)}"),
                      element("td", r.site_code), element("td", formatting.valeur(r.gaveur)),
                      element("td", formatting.valeur(r.pages), class_="nombre"),
                      element("td", f"{formatting.nombre(r.taille_octets / 1024, 0)} Ko", class_="nombre"),
                      element("td", formatting.horodatage(r.cree_le)), element("td", lien(r.fichier)))
              for r in df.itertuples())
    tete = element("tr", join(element("th", t) for t in ENTETES))
    return element("table", element("thead", tete), element("tbody", join(lignes)), class_="euralis")


def build(ctx: Contexte) -> list[w.Widget]:
    """The list of readable reports, and which run archived the latest ones."""
    lisibles = archive.lisibles(ctx.engine)
    dernier = results.rapports(ctx.engine)
    if lisibles.empty:
        return [common.message("Aucun rapport à lire : le job « rapport_hebdo » les produit chaque lundi matin "
                               "(un par site).")]
    texte = f"{len(lisibles)} rapport(s) ; derniers archivés par le {dernier.source()}."
    return [common.source(texte), w.HTML(reports_table(lisibles))]
