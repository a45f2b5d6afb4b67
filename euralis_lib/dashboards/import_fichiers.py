"""Import: the upload page for supervisors: choose a file, its kind, a site, simulate or import; French report.

It calls :func:`euralis_lib.imports.load.import_content`, the same function as the command line. The
history records the operating-system user running the dashboards server.
"""

from __future__ import annotations

import logging

import ipywidgets as w
from sqlalchemy.engine import Engine

from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte
from euralis_lib.database import queries
from euralis_lib.exceptions import EuralisError, ImportFileError
from euralis_lib.imports.formats import FORMATS, GENRES
from euralis_lib.imports.load import import_content
from euralis_lib.presentation.markup import element

log = logging.getLogger(__name__)
FILTERS = None


class ImportWidget(w.VBox):
    """File upload, kind, site, dry-run checkbox, « Importer » button and the report."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.fichier = w.FileUpload(accept=".csv,.txt,.xlsx", multiple=False, description="Fichier")
        self.genre = w.Dropdown(options=[(FORMATS[g].titre, g) for g in GENRES], value="lots", description="Type")
        sites = [(s, s) for s in queries.site_codes(engine)]
        self.site = w.Dropdown(options=[("(colonne site du fichier)", ""), *sites], value="", description="Site")
        self.simulation = w.Checkbox(value=True, description="Simulation (vérifier sans rien écrire)", indent=False)
        self.bouton = w.Button(description="Importer", icon="upload", button_style="primary")
        self.rapport = w.HTML()
        self.bouton.on_click(lambda _b: self.lancer())
        aide = w.HTML(element("div", "Ordre : gaveurs → lots → doses → abattages. Modèles de fichiers : ",
                              element("code", "python -m euralis_lib import template TYPE"), ".",
                              class_="euralis-source"))
        super().__init__([w.HBox([self.fichier, self.genre, self.site]), w.HBox([self.simulation, self.bouton]),
                          aide, self.rapport])

    def lancer(self) -> None:
        """Import the uploaded file and show the report (or a French error message)."""
        if not self.fichier.value:
            self.rapport.value = common.message_html("Choisissez d'abord un fichier.", "erreur")
            return
        envoi = self.fichier.value[0]
        self.rapport.value = common.message_html(f"Import de {envoi['name']} en cours…", "info")
        try:
            resultat = import_content(self.engine, self.genre.value, bytes(envoi["content"]), envoi["name"],
                                site=self.site.value or None, dry_run=self.simulation.value)
        except ImportFileError as exc:
            self.rapport.value = common.message_html(f"Fichier refusé, rien n'a été importé : {exc}", "erreur")
            return
        except Exception as exc:  # noqa: BLE001 — users get a French message, the log gets the traceback
            log.warning("import of %s failed: %s", envoi["name"], exc, exc_info=not isinstance(exc, EuralisError))
            self.rapport.value = common.message_html(common.french_error(exc), "erreur")
            return
        self.rapport.value = resultat.html()


def build(ctx: Contexte) -> list[w.Widget]:
    """The upload widget."""
    return [ImportWidget(ctx.engine)]
