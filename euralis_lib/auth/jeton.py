"""The identity the Voilà server hands to a kernel: a short-lived token signed with the session secret.

The identity provider writes it into the ``X-Euralis-Utilisateur`` request header (replacing any copy
the browser sent); Voilà passes that header to the preheated kernel (``http_header_envs``) after
``euralis_lib.kernel_request.wait_for_request()``, as the environment variable ``HTTP_X_EURALIS_UTILISATEUR``. The
page reads the user only from there and checks the signature, so nothing the browser sends can
choose who the user is.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time

from euralis_lib.auth.acces import Utilisateur

ENTETE = "X-Euralis-Utilisateur"
VARIABLE = "HTTP_X_EURALIS_UTILISATEUR"
DUREE_S = 120


def _signature(corps: str, secret: bytes) -> str:
    return hmac.new(secret, corps.encode(), hashlib.sha256).hexdigest()


def signer(utilisateur: Utilisateur, secret: bytes, duree_s: int = DUREE_S) -> str:
    """``login:role:expiry:signature`` for ``utilisateur``, valid ``duree_s`` seconds."""
    corps = f"{utilisateur.login}:{utilisateur.role}:{int(time.time()) + duree_s}"
    return f"{corps}:{_signature(corps, secret)}"


def lire(valeur: str | None, secret: bytes) -> Utilisateur | None:
    """The user of a valid, unexpired token; None for anything else (absent, forged, expired)."""
    if not valeur:
        return None
    parties = valeur.strip().split(":")
    if len(parties) != 4:
        return None
    login, role, expire, signature = parties
    corps = f"{login}:{role}:{expire}"
    if not hmac.compare_digest(signature, _signature(corps, secret)):
        return None
    if not expire.isdigit() or int(expire) < time.time():
        return None
    try:
        return Utilisateur(login, role)
    except ValueError:
        return None


def utilisateur_du_noyau(secret: bytes) -> Utilisateur | None:
    """In a dashboard kernel: wait for the request (preheated kernels) and return its signed user."""
    from euralis_lib.kernel_request import wait_for_request

    wait_for_request()
    return lire(os.environ.get(VARIABLE), secret)
