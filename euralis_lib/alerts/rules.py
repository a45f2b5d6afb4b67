"""The alert rules (``regles_alertes``, ``sql/180``): read by every user, changed by admins only.

PostgreSQL refuses a change to anyone but an admin with an admin's kernel token, and audits every change
made from the dashboards (trigger ``regles_alertes_audit``), in the change's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib.alerts import SEVERITES, AlertError
from euralis_lib.database import db


def regles(engine: Engine) -> pd.DataFrame:
    """Every rule: code, label, severity, recipients, sites (None: all), switch, thresholds, evaluated or not."""
    return db.read_df(engine, "SELECT code, libelle, type_alerte, severite, destinataires, sites, actif, parametres, "
                              "evaluee, evaluation, modifie_le FROM regles_alertes ORDER BY code")


def modifier(engine: Engine, code: str, *, actif: bool | None = None, severite: str | None = None,
             sites: Sequence[str] | None = None, tous_sites: bool = False,
             parametres: Mapping[str, float | int | bool] | None = None) -> None:
    """Change rule ``code``: switch, severity, sites (``tous_sites`` for every site), thresholds (merged into
    the existing ones; a new key is refused)."""
    if severite is not None and severite not in SEVERITES:
        raise AlertError(f"Sévérité inconnue {severite!r} : {', '.join(SEVERITES)}.")
    with db.connect(engine, transaction=True) as conn:
        actuels = conn.execute(sa.text("SELECT parametres FROM regles_alertes WHERE code = :c FOR UPDATE"),
                               {"c": code}).scalar()
        if actuels is None:
            raise AlertError(f"Règle inconnue : {code!r}.")
        inconnus = set(parametres or {}) - set(actuels)
        if inconnus:
            raise AlertError(f"Paramètre(s) inconnu(s) pour la règle {code} : {', '.join(sorted(inconnus))}.")
        conn.execute(sa.text(
            "UPDATE regles_alertes SET actif = COALESCE(:a, actif), severite = COALESCE(:s, severite), "
            "sites = CASE WHEN :tous THEN NULL ELSE COALESCE(CAST(:sites AS text[]), sites) END, "
            "parametres = parametres || CAST(:p AS jsonb), modifie_le = now() WHERE code = :c"),
            {"a": actif, "s": severite, "tous": tous_sites, "sites": list(sites) if sites else None,
             "p": json.dumps(dict(parametres or {})), "c": code})
