"""Rapports: the archived weekly PDF reports the user may read (row-level security on ``rapports``, sql/190),
each linked through the reports route, which serves the file only to those same users; and the user's own
subscription to receive them by e-mail (:mod:`euralis_lib.reporting.courriels`, sql/191)."""

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
from euralis_lib.reporting import archive, courriels

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


def subscription(ctx: Contexte) -> w.VBox:
    """The logged-in user's opt-in: his address and whether he receives the weekly reports he may read by e-mail."""
    actuel = courriels.abonnement(ctx.engine)
    recevoir = w.Checkbox(value=bool(actuel and actuel.hebdo), indent=False, layout=w.Layout(width="auto"),
                          description="Recevoir chaque lundi par courriel les rapports que je peux lire")
    adresse = w.Text(value=actuel.courriel if actuel else "", placeholder="nom@exemple.fr",
                     description="Adresse électronique", style={"description_width": "initial"},
                     layout=w.Layout(width="420px"))
    enregistrer = w.Button(description="Enregistrer", icon="envelope")
    etat = w.HTML()
    recevoir.add_class("euralis-abonnement-hebdo")
    adresse.add_class("euralis-abonnement-courriel")
    enregistrer.add_class("euralis-abonnement-enregistrer")
    etat.add_class("euralis-abonnement-etat")

    def _enregistrer(_bouton: w.Button) -> None:
        try:
            courriels.abonner(ctx.engine, adresse.value, recevoir.value)
        except Exception as exc:  # noqa: BLE001 — shown to the user in French
            etat.value = common.message_html(common.french_error(exc), "erreur")
            return
        texte = (f"Enregistré : les rapports vous seront envoyés à {adresse.value.strip()}." if recevoir.value
                 else "Enregistré : vous ne recevez pas les rapports par courriel.")
        etat.value = common.message_html(texte, "info")

    enregistrer.on_click(_enregistrer)
    return w.VBox([common.titre("Recevoir les rapports par courriel"), recevoir,
                   w.HBox([adresse, enregistrer]), etat])


def build(ctx: Contexte) -> list[w.Widget]:
    """The list of readable reports, which run archived the latest ones, and (with login) the user's
    subscription to receive them by e-mail."""
    lisibles = archive.lisibles(ctx.engine)
    dernier = results.rapports(ctx.engine)
    abonnement = [subscription(ctx)] if ctx.utilisateur is not None else []
    if lisibles.empty:
        return [common.message("Aucun rapport à lire : le job « rapport_hebdo » les produit chaque lundi matin "
                               "(un par site)."), *abonnement]
    texte = f"{len(lisibles)} rapport(s) ; derniers archivés par le {dernier.source()}."
    return [common.source(texte), w.HTML(reports_table(lisibles)), *abonnement]
