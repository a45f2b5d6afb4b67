"""The kernel token: how a dashboard kernel proves to the database whose session it serves.

The Voilà server derives it from the session token of the cookie (:func:`deriver`: HMAC-SHA256 with
the session secret and a fixed label, so it is not the cookie and cannot be turned back into it); the
database keeps its sha256 in ``sessions_web.jeton_noyau`` (``sql/150_jeton_noyau.sql``). For every
request, the identity provider replaces any client-sent ``X-Euralis-Jeton`` header by the session's
token; Voilà passes that header to the preheated kernel (``http_header_envs``) after
``euralis_lib.auth.kernel_request.wait_for_request()``, as the environment variable ``HTTP_X_EURALIS_JETON``.
The kernel never needs the session secret: it asks the database who the token belongs to
(``euralis_moi()``), and the database checks it again on every query, so a forged, revoked or expired
token gives nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from euralis_lib.auth.acces import Utilisateur, engine_jeton, jeton_valide

ENTETE = "X-Euralis-Jeton"
VARIABLE = "HTTP_X_EURALIS_JETON"
_LIBELLE = b"euralis/jeton-noyau/v1"


def deriver(session: str, secret: bytes) -> str:
    """The kernel token (64 hex digits) of the session whose cookie token is ``session``."""
    return hmac.new(secret, session.encode() + b"\x00" + _LIBELLE, hashlib.sha256).hexdigest()


def utilisateur_du_jeton(engine: Engine, jeton: str | None) -> Utilisateur | None:
    """The user of an open session's kernel token, as the database says (``euralis_moi()``); None for a
    missing, malformed, forged, revoked or expired token. ``engine``: the ``euralis_web`` engine."""
    if not jeton_valide(jeton):
        return None
    vue = engine_jeton(engine, jeton, poolclass=NullPool)
    try:
        with vue.connect() as conn:
            ligne = conn.execute(sa.text("SELECT login, role FROM euralis_moi()")).first()
    finally:
        vue.dispose()
    return Utilisateur(ligne.login, ligne.role, jeton) if ligne else None


def utilisateur_du_noyau(engine: Engine) -> Utilisateur | None:
    """In a dashboard kernel: wait for the request (preheated kernels), then the user of its kernel token."""
    from euralis_lib.auth.kernel_request import wait_for_request

    wait_for_request()
    return utilisateur_du_jeton(engine, os.environ.get(VARIABLE))
