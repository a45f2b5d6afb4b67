"""Login in Voilà: a jupyter_server identity provider and authorizer backed by the users table.

Every request is authenticated from a signed session cookie whose token must match an open session
in ``sessions_web`` (so logout, expiry and disabling a user end it). Requests without a valid
session are redirected to a French login page (pages) or refused (APIs, kernel websockets): they
never start or reach a kernel. For every request, the provider replaces any client-sent
``X-Euralis-Utilisateur`` header by a token signed for the authenticated user (:mod:`.jeton`); Voilà
hands that header to the kernel (``http_header_envs``), where the page reads who the user is.

The server process reads the users and sessions with the owner's URL, taken from
``EURALIS_AUTH_DATABASE_URL`` and removed from the environment so the kernels never see it.
"""

from __future__ import annotations

import asyncio
import html
import os
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.base.handlers import JupyterHandler
from sqlalchemy.engine import Engine
from tornado import web
from traitlets import Unicode

from euralis_lib import db
from euralis_lib.auth import jeton, utilisateurs
from euralis_lib.auth.acces import WEB_ROLE, Utilisateur, web_url
from euralis_lib.auth.page import CONNEXION
from euralis_lib.exceptions import AuthError, ServeError

COOKIE = "euralis_session"
# Seconds a checked session is trusted without asking the database again (logout clears it at once).
CACHE_S = 5.0

_PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Connexion — Euralis</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;background:#f2f4f7;display:flex;justify-content:center;padding-top:10vh}}
form{{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:24px 28px;width:320px}}
h1{{font-size:20px;color:#1f4e79}} label{{display:block;margin-top:12px;font-size:14px}}
input[type=text],input[type=password]{{width:100%;padding:6px;box-sizing:border-box;font-size:15px}}
button{{margin-top:18px;padding:8px 16px;font-size:15px;background:#1f4e79;color:#fff;border:0;border-radius:5px}}
.erreur{{background:#fdecea;color:#8a1c1c;border:1px solid #f5c2c0;padding:8px;border-radius:5px;font-size:14px}}
.info{{color:#555;font-size:13px}}</style></head><body>
<form method="post" action="{action}" class="euralis-connexion">{xsrf}
<h1>Euralis — tableaux de bord</h1>{message}
<label for="login">Identifiant</label><input type="text" id="login" name="login" autocomplete="username"
 value="{login}" autofocus required>
<label for="mot_de_passe">Mot de passe</label><input type="password" id="mot_de_passe" name="mot_de_passe"
 autocomplete="current-password" required>
<input type="hidden" name="next" value="{suivant}"><button type="submit">Se connecter</button>
</form></body></html>"""


def _adresse(handler: web.RequestHandler) -> str:
    """The client's address; behind the local reverse proxy (deploy/nginx), the one it reports in X-Real-IP."""
    direct = handler.request.remote_ip or ""
    if direct in {"127.0.0.1", "::1"}:
        return handler.request.headers.get("X-Real-IP", direct).strip() or direct
    return direct


def _suivant(valeur: str | None, defaut: str) -> str:
    """Where to go after login: a local path only (no open redirect)."""
    if valeur and valeur.startswith("/") and not valeur.startswith("//") and "\\" not in valeur:
        return valeur
    return defaut


class LoginHandler(JupyterHandler):
    """GET: the French login form; POST: check the password, open a session, set the cookie."""

    def _page(self, message: str = "", login: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(_PAGE.format(
            action=html.escape(self.request.path), xsrf=self.xsrf_form_html(), login=html.escape(login),
            suivant=html.escape(_suivant(self.get_argument("next", None), self.base_url)),
            message=f'<p class="erreur">{html.escape(message)}</p>' if message else
            '<p class="info">Connectez-vous pour voir les tableaux de bord.</p>'))

    @allow_unauthenticated
    def get(self) -> None:
        """The login form."""
        self._page()

    @allow_unauthenticated
    async def post(self) -> None:
        """Check login and password (argon2, throttled) off the event loop; open a session."""
        fournisseur: EuralisIdentityProvider = self.identity_provider  # type: ignore[assignment]
        login = self.get_body_argument("login", "")
        mot_de_passe = self.get_body_argument("mot_de_passe", "")
        boucle = asyncio.get_running_loop()
        try:
            utilisateur = await boucle.run_in_executor(
                None, utilisateurs.verifier, fournisseur.engine, login, mot_de_passe, _adresse(self))
        except AuthError as exc:
            self._page(str(exc), login=login, status=401)
            return
        session = await boucle.run_in_executor(
            None, utilisateurs.ouvrir_session, fournisseur.engine, utilisateur, _adresse(self))
        fournisseur.poser_cookie(self, session)
        self.redirect(_suivant(self.get_body_argument("next", None), self.base_url))


class LogoutHandler(JupyterHandler):
    """End the session (database row revoked, cookie cleared) and go back to the login page."""

    @allow_unauthenticated
    def get(self) -> None:
        """Logout (harmless without a session). A link from another site (``Sec-Fetch-Site: cross-site``,
        sent by every current browser) does not log the user out: it goes to the landing page."""
        if self.request.headers.get("Sec-Fetch-Site") == "cross-site":
            self.redirect(self.base_url)
            return
        fournisseur: EuralisIdentityProvider = self.identity_provider  # type: ignore[assignment]
        session = self.get_secure_cookie(COOKIE)
        if session:
            fournisseur.oublier(session.decode())
            utilisateurs.fermer_session(fournisseur.engine, session.decode(), _adresse(self))
        self.clear_cookie(COOKIE, path=self.base_url)
        self.redirect(self.settings.get("login_url", "/login"))


class EuralisIdentityProvider(IdentityProvider):
    """Users from PostgreSQL; sets the signed identity header every kernel reads."""

    cookie_name = Unicode(COOKIE)
    login_handler_class = LoginHandler  # type: ignore[assignment]
    logout_handler_class = LogoutHandler  # type: ignore[assignment]
    token = Unicode("")  # type: ignore[assignment]
    need_token = False  # type: ignore[assignment]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("login_handler_class", None)  # Voilà passes its own; ours shows the French form
        super().__init__(**kwargs)
        self._engine: Engine | None = None
        self._cache: dict[str, tuple[float, Utilisateur | None]] = {}
        self.secret = utilisateurs.secret_session()
        self.secure = os.environ.get("EURALIS_SECURE_COOKIES", "").strip().lower() in {"1", "true", "yes", "oui"}
        self.duree = utilisateurs.SESSION_DUREE

    @property
    def engine(self) -> Engine:
        """The owner's engine for users and sessions (``EURALIS_AUTH_DATABASE_URL``, else the default URL)."""
        if self._engine is None:
            garder_url_proprietaire()
            self._engine = db.get_engine(_URL_PROPRIETAIRE)
        return self._engine

    @property
    def auth_enabled(self) -> bool:
        """Always: there is no anonymous access."""
        return True

    @property
    def login_available(self) -> bool:
        """The login page is served."""
        return True

    @property
    def logout_available(self) -> bool:
        """The logout route is served."""
        return True

    def validate_security(self, app: Any, ssl_options: dict | None = None) -> None:
        """Nothing to warn about: every request needs a session."""

    def poser_cookie(self, handler: web.RequestHandler, session: str) -> None:
        """The signed, HttpOnly session cookie (Secure when ``EURALIS_SECURE_COOKIES`` is on)."""
        handler.set_signed_cookie(COOKIE, session, expires_days=self.duree / timedelta(days=1),
                                  path=handler.base_url, httponly=True, samesite="Lax", secure=self.secure)

    def oublier(self, session: str) -> None:
        """Drop a session from the short cache (logout)."""
        self._cache.pop(session, None)

    def _utilisateur(self, session: str) -> Utilisateur | None:
        maintenant = time.monotonic()
        memo = self._cache.get(session)
        if memo and maintenant - memo[0] < CACHE_S:
            return memo[1]
        utilisateur = utilisateurs.session(self.engine, session)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[session] = (maintenant, utilisateur)
        return utilisateur

    def get_user(self, handler: web.RequestHandler) -> User | None:
        """The session's user, or None; always overwrites the identity header of the request."""
        valeur = handler.get_signed_cookie(COOKIE, max_age_days=self.duree / timedelta(days=1))
        utilisateur = self._utilisateur(valeur.decode()) if valeur else None
        entetes = handler.request.headers
        if jeton.ENTETE in entetes:
            del entetes[jeton.ENTETE]
        if utilisateur is None:
            return None
        entetes[jeton.ENTETE] = utilisateur.jeton
        return User(username=utilisateur.login, name=utilisateur.login,
                    display_name=f"{utilisateur.login} ({utilisateur.role})")

    def get_handlers(self) -> list[tuple[str, object]]:
        """Login and logout routes."""
        return [(r"/login", self.login_handler_class), (r"/logout", self.logout_handler_class)]


class EuralisAuthorizer(Authorizer):
    """Only users authenticated by :class:`EuralisIdentityProvider`; nobody writes files through the server."""

    def is_authorized(self, handler: JupyterHandler, user: User, action: str, resource: str) -> bool:
        """Allowed: any read, and kernel actions, for an authenticated user."""
        if user is None or not user.username:
            return False
        return action == "read" or resource == "kernels"


# Voilà options of a server with login (added by euralis_lib.serve).
OPTIONS = [f"--Voila.identity_provider_class={EuralisIdentityProvider.__module__}.EuralisIdentityProvider",
           f"--Voila.authorizer_class={EuralisAuthorizer.__module__}.EuralisAuthorizer",
           f"--VoilaConfiguration.http_header_envs=['{jeton.ENTETE}']"]
BOUCLE_LOCALE = {"127.0.0.1", "localhost", "::1"}


def verifier_ecoute(host: str, login: bool) -> None:
    """Refuse to serve on a network interface without login."""
    if not login and host not in BOUCLE_LOCALE:
        raise ServeError(f"Refus de servir sur {host} sans connexion : sans --sans-connexion, les tableaux de "
                         "bord demandent un identifiant (créez les utilisateurs avec « python -m euralis_lib "
                         "users add »). Sans connexion, seul 127.0.0.1 est permis.")


def environnement(url: str, env: Mapping[str, str]) -> dict[str, str]:
    """Environment of a server with login: the owner's URL for the server process only
    (``EURALIS_AUTH_DATABASE_URL``), the ``euralis_web`` URL for the kernels, login on for the pages.

    With ``EURALIS_WEB_PASSWORD`` set in ``env``, ``euralis_web``'s password is set to it first
    (external PostgreSQL with password authentication)."""
    mot_de_passe = env.get("EURALIS_WEB_PASSWORD") or ""
    if mot_de_passe:
        definir_mot_de_passe_web(db.get_engine(url), mot_de_passe)
    return {"EURALIS_AUTH_DATABASE_URL": db.normalize_url(url), "EURALIS_DATABASE_URL": web_url(url, mot_de_passe),
            CONNEXION: "1"}


def definir_mot_de_passe_web(engine: Engine, mot_de_passe: str) -> None:
    """``ALTER ROLE euralis_web PASSWORD …`` (needs CREATEROLE), the password quoted by libpq."""
    from psycopg2 import sql as psql

    with db.connect(engine, transaction=True) as conn:
        brute = conn.connection.driver_connection
        requete = psql.SQL("ALTER ROLE {} PASSWORD {}").format(psql.Identifier(WEB_ROLE), psql.Literal(mot_de_passe))
        conn.exec_driver_sql(requete.as_string(brute).replace("%", "%%"))


def garder_url_proprietaire() -> None:
    """In the Voilà server, before any kernel starts: move the owner's URL out of the environment
    the kernels inherit (the identity provider keeps it)."""
    global _URL_PROPRIETAIRE
    _URL_PROPRIETAIRE = os.environ.pop("EURALIS_AUTH_DATABASE_URL", None) or _URL_PROPRIETAIRE


_URL_PROPRIETAIRE: str | None = None
