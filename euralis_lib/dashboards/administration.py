"""Administration (admins only): users, slaughter capacities and prices.

The changes go through :mod:`euralis_lib.auth.administration` on the page's engine, so PostgreSQL
refuses them to anyone but an admin.
"""

from __future__ import annotations

import ipywidgets as w

from euralis_lib.auth import ROLES, administration
from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte

FILTERS = None


def section_utilisateurs(ctx: Contexte) -> list[w.Widget]:
    """Users table, enable/disable and role change."""
    df = administration.utilisateurs(ctx.engine)
    login = w.Dropdown(options=list(df["login"]), description="Utilisateur")
    role = w.Dropdown(options=list(ROLES), description="Rôle")
    gaveur = w.IntText(description="N° gaveur")
    sites = w.Text(description="Sites", placeholder="LL,MT (vide = tous)")
    etat = w.HTML()
    activer = w.Button(description="Activer")
    desactiver = w.Button(description="Désactiver", button_style="warning")
    changer = w.Button(description="Changer le rôle")
    activer.on_click(lambda _b: common.run_action(
        etat, ctx, lambda: administration.activer(ctx.engine, login.value, True), f"{login.value} activé."))
    desactiver.on_click(lambda _b: common.run_action(
        etat, ctx, lambda: administration.activer(ctx.engine, login.value, False), f"{login.value} désactivé."))
    changer.on_click(lambda _b: common.run_action(etat, ctx, lambda: administration.changer_role(
        ctx.engine, login.value, role.value, gaveur.value if role.value == "gaveur" else None,
        [s.strip().upper() for s in sites.value.split(",") if s.strip()]), f"Rôle de {login.value} changé."))
    return [common.titre("Utilisateurs"), common.table_html(df),
            common.message("Nouveaux utilisateurs et mots de passe : « python -m euralis_lib users add|passwd ».",
                           "info"),
            w.HBox([login, activer, desactiver]), w.HBox([role, gaveur, sites, changer]), etat]


def section_capacites(ctx: Contexte) -> list[w.Widget]:
    """Daily slaughter capacity per site."""
    df = administration.capacites(ctx.engine)
    site = w.Dropdown(options=list(df["code"]), description="Site")
    capacite = w.IntText(description="Canards/jour")
    etat = w.HTML()
    bouton = w.Button(description="Enregistrer la capacité")
    bouton.on_click(lambda _b: common.run_action(etat, ctx, lambda: administration.changer_capacite(
        ctx.engine, site.value, capacite.value), f"Capacité de {site.value} enregistrée."))
    return [common.titre("Capacités d'abattage"), common.table_html(df), w.HBox([site, capacite, bouton]), etat]


def section_prix(ctx: Contexte) -> list[w.Widget]:
    """Price rows and a new price from a date on."""
    df = administration.prix(ctx.engine)
    parametre = w.Dropdown(options=sorted(df["parametre"].unique()), description="Paramètre")
    codes = administration.capacites(ctx.engine)["code"]
    site = w.Dropdown(options=[("tous les sites", None)] + [(s, s) for s in codes], description="Site")
    valide_du = w.DatePicker(description="À partir du")
    valeur = w.FloatText(description="Valeur")
    etat = w.HTML()
    bouton = w.Button(description="Enregistrer le prix")

    def enregistrer() -> None:
        if valide_du.value is None:
            raise ValueError("choisissez la date à partir de laquelle le prix s'applique")
        administration.fixer_prix(ctx.engine, parametre.value, site.value, valide_du.value, valeur.value)

    bouton.on_click(lambda _b: common.run_action(etat, ctx, enregistrer, f"Prix {parametre.value} enregistré."))
    return [common.titre("Prix"), common.table_html(df, max_lignes=60),
            w.HBox([parametre, site]), w.HBox([valide_du, valeur, bouton]), etat]


def build(ctx: Contexte) -> list[w.Widget]:
    """The three sections."""
    return [*section_utilisateurs(ctx), *section_capacites(ctx), *section_prix(ctx)]
