"""Who opens a dashboard page, inside its kernel, and the database engine the page then uses.

On a server with login (``EURALIS_CONNEXION=1``, set by :func:`euralis_lib.serving.serve.login_environment`),
the page waits for its request (preheated kernels), reads the kernel token the server put in the
``X-Euralis-Jeton`` header, asks the database whose session it is (:mod:`~euralis_lib.auth.jeton`),
refuses a role the page is not for, and queries as that user with that token
(:func:`~euralis_lib.auth.acces.engine_utilisateur`). Without login (one person on the loopback
interface), pages behave as before: no user, the configured database URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from euralis_lib.auth import jeton
from euralis_lib.auth.acces import Utilisateur, engine_utilisateur
from euralis_lib.database import db

CONNEXION = "EURALIS_CONNEXION"
SESSION_INVALIDE = "Session invalide ou expirée : reconnectez-vous."


def connexion_requise() -> bool:
    """True in a kernel of a server with login."""
    return os.environ.get(CONNEXION) == "1"


@dataclass(frozen=True)
class Acces:
    """The outcome for a page: its engine and user, or the French reason it is refused."""

    engine: Engine | None
    utilisateur: Utilisateur | None
    refus: str | None = None


def acces_page(titre: str, roles: tuple[str, ...]) -> Acces:
    """The engine and user for a page open to ``roles`` (waits for the request on a preheated kernel)."""
    if not connexion_requise():
        return Acces(None, None)
    utilisateur = jeton.utilisateur_du_noyau(db.get_engine())
    if utilisateur is None:
        return Acces(None, None, SESSION_INVALIDE)
    if utilisateur.role not in roles:
        return Acces(None, utilisateur, f"La page « {titre} » est réservée au rôle "
                                        f"{' ou '.join(roles)} : votre rôle est {utilisateur.role}.")
    return Acces(engine_utilisateur(db.get_engine(), utilisateur), utilisateur)


def lien_deconnexion() -> str:
    """The logout URL of the server (Voilà's base URL, in the kernel's environment)."""
    return os.environ.get("VOILA_BASE_URL", "/").rstrip("/") + "/logout"
