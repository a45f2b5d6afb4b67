"""What the Administration page changes: users (enable, disable, role), slaughter capacities, prices.

Every function runs on the page's engine, i.e. as the logged-in user: PostgreSQL refuses these writes
to anyone but an admin with an admin's kernel token (``sql/110``–``112``, ``150``–``151``), whatever the
page shows. Each change writes an ``admin`` row to ``audit_acces``, credited by the database to the
token's user (a page does not say who acts). New users and passwords go through ``python -m euralis_lib users``
(a password never travels through a widget).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib.auth import ROLES
from euralis_lib.auth.utilisateurs import audit
from euralis_lib.database import db
from euralis_lib.exceptions import AuthError


def utilisateurs(engine: Engine) -> pd.DataFrame:
    """The users as an admin sees them (no password hash)."""
    return db.read_df(engine, "SELECT login, nom, role, gaveur_id, sites, actif FROM utilisateurs ORDER BY login")


def activer(engine: Engine, login: str, actif: bool) -> None:
    """Enable or disable ``login`` (a disabled user's sessions stop at the next request)."""
    with db.connect(engine, transaction=True) as conn:
        if conn.execute(sa.text("UPDATE utilisateurs SET actif = :a, modifie_le = now() WHERE login = :l"),
                        {"a": actif, "l": login}).rowcount != 1:
            raise AuthError(f"Utilisateur inconnu : {login!r}.")
        audit(conn, "admin", None, action="activer" if actif else "desactiver", cible=login)


def changer_role(engine: Engine, login: str, role: str, gaveur_id: int | None = None,
                 sites: Sequence[str] | None = None) -> None:
    """Change ``login``'s role (a gaveur is linked to his gaveur; a supervisor may be limited to sites)."""
    if role not in ROLES:
        raise AuthError(f"Rôle inconnu {role!r}.")
    if (role == "gaveur") != (gaveur_id is not None):
        raise AuthError("Un utilisateur « gaveur » est lié à un gaveur, et seulement lui.")
    with db.connect(engine, transaction=True) as conn:
        conn.execute(sa.text("UPDATE utilisateurs SET role = :r, gaveur_id = :g, sites = :s, modifie_le = now() "
                             "WHERE login = :l"),
                     {"r": role, "g": gaveur_id, "s": list(sites) if sites and role == "superviseur" else None,
                      "l": login})
        audit(conn, "admin", None, action="role", cible=login, role=role)


def capacites(engine: Engine) -> pd.DataFrame:
    """Slaughterhouse capacity (ducks per day) of each site."""
    return db.read_df(engine, "SELECT code, nom, capacite_abattage_jour FROM sites ORDER BY code")


def changer_capacite(engine: Engine, site: str, capacite: int) -> None:
    """Set a site's daily slaughter capacity (ducks, > 0)."""
    if capacite <= 0:
        raise AuthError("La capacité d'abattage est un nombre de canards par jour, supérieur à 0.")
    with db.connect(engine, transaction=True) as conn:
        if conn.execute(sa.text("UPDATE sites SET capacite_abattage_jour = :c WHERE code = :s"),
                        {"c": int(capacite), "s": site}).rowcount != 1:
            raise AuthError(f"Site inconnu : {site!r}.")
        audit(conn, "admin", None, action="capacite", cible=site, valeur=int(capacite))


def prix(engine: Engine) -> pd.DataFrame:
    """Every price row, latest first."""
    return db.read_df(engine, "SELECT parametre, site_code, valide_du, valeur, unite FROM prix_parametres "
                              "ORDER BY parametre, valide_du DESC, site_code NULLS FIRST")


def fixer_prix(engine: Engine, parametre: str, site: str | None, valide_du: date, valeur: float) -> None:
    """A price of an existing parameter from ``valide_du`` on (one site, or all sites when ``site`` is None)."""
    if valeur < 0:
        raise AuthError("Un prix est positif ou nul.")
    with db.connect(engine, transaction=True) as conn:
        unite = conn.execute(sa.text("SELECT unite FROM prix_parametres WHERE parametre = :p LIMIT 1"),
                             {"p": parametre}).scalar()
        if unite is None:
            raise AuthError(f"Paramètre de prix inconnu : {parametre!r}.")
        conn.execute(sa.text(
            "INSERT INTO prix_parametres (parametre, site_code, valide_du, valeur, unite) VALUES (:p, :s, :d, :v, :u) "
            "ON CONFLICT (parametre, COALESCE(site_code, ''), valide_du) DO UPDATE SET valeur = EXCLUDED.valeur"),
            {"p": parametre, "s": site, "d": valide_du, "v": valeur, "u": unite})
        audit(conn, "admin", None, action="prix", cible=parametre, site=site, valide_du=valide_du, valeur=valeur)
