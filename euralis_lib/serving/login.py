"""Login in Voilà: a jupyter_server identity provider and authorizer backed by the users table.

Every request is authenticated from a signed session cookie whose token must match an open session
in ``sessions_web`` (so logout, expiry and disabling a user end it). Requests without a valid
session are redirected to a French login page (pages) or refused (APIs, kernel websockets): they
never start or reach a kernel. For every request, the provider replaces any client-sent
``X-Euralis-Jeton`` header by the session's kernel token (:mod:`.jeton`); Voilà hands that header to
the kernel (``http_header_envs``), which asks the database who the token belongs to.

The server process reads the users and sessions with the owner's URL, taken from
``EURALIS_AUTH_DATABASE_URL`` and removed from the environment so the kernels never see it.

After login the browser goes to ``next`` only when it is a local path under the server's base URL
(:func:`suivant`). Logout is a POST with the XSRF token (``GET /logout`` shows a confirmation form) and
shuts the session's kernels down. The client's address and HTTPS come from ``X-Real-IP`` /
``X-Forwarded-For`` / ``X-Forwarded-Proto`` only when the direct peer is a configured proxy
(``EURALIS_TRUSTED_PROXIES``, none by default); the session cookie is ``Secure`` on HTTPS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import time
import unicodedata
import urllib.parse
from datetime import timedelta
from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.base.handlers import JupyterHandler
from sqlalchemy.engine import Engine
from tornado import web
from traitlets import Unicode

from euralis_lib.auth import SESSION_COOKIE, jeton, utilisateurs
from euralis_lib.auth.acces import Utilisateur
from euralis_lib.database import db
from euralis_lib.exceptions import AuthError, DatabaseUnavailableError
from euralis_lib.presentation import markup
from euralis_lib.serving import kernels

PROXIES_ENV = "EURALIS_TRUSTED_PROXIES"
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
_DECONNEXION = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Déconnexion — Euralis</title>
<style>body{{font-family:sans-serif;background:#f2f4f7;display:flex;justify-content:center;padding-top:10vh}}
form{{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:24px 28px;width:320px}}
h1{{font-size:20px;color:#1f4e79}}
button{{margin-top:12px;padding:8px 16px;font-size:15px;background:#1f4e79;color:#fff;border:0;border-radius:5px}}
a{{margin-left:12px;font-size:14px}}</style></head><body>
<form method="post" action="{action}" class="euralis-deconnexion">{xsrf}<h1>Se déconnecter ?</h1>
<p>Les pages des tableaux de bord ouvertes dans ce navigateur seront fermées.</p>
<button type="submit">Se déconnecter</button><a href="{retour}">Annuler</a></form></body></html>"""


def proxies_de_confiance(valeur: str | None = None) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The reverse proxies whose ``X-Real-IP``/``X-Forwarded-*`` headers are believed: ``EURALIS_TRUSTED_PROXIES``
    (addresses or networks, comma separated; none by default). ValueError naming the variable when malformed."""
    valeur = os.environ.get(PROXIES_ENV, "") if valeur is None else valeur
    try:
        return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in valeur.replace(" ", ",").split(",")
                     if p.strip())
    except ValueError as exc:
        raise ValueError(f"{PROXIES_ENV}: {exc} (addresses or networks, e.g. 127.0.0.1,::1)") from None


def _dans(adresse: str, reseaux: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(adresse)
    except ValueError:
        return False
    return any(ip in reseau for reseau in reseaux)


def _via_proxy(handler: web.RequestHandler) -> bool:
    """Whether the direct peer is a configured proxy (:func:`proxies_de_confiance`)."""
    return _dans(handler.request.remote_ip or "", getattr(handler.identity_provider, "proxies", ()))


def adresse_client(handler: web.RequestHandler) -> str:
    """The client's address: the direct peer, or behind a configured proxy the address it reports
    (``X-Real-IP``, else the last address of ``X-Forwarded-For`` that is not a proxy's)."""
    direct = handler.request.remote_ip or ""
    if not _via_proxy(handler):
        return direct
    proxies = handler.identity_provider.proxies
    candidats = [handler.request.headers.get("X-Real-IP", "")]
    candidats += reversed(handler.request.headers.get("X-Forwarded-For", "").split(","))
    for candidat in (c.strip() for c in candidats):
        if candidat and not _dans(candidat, proxies):
            try:
                return str(ipaddress.ip_address(candidat))
            except ValueError:
                continue
    return direct


def en_https(handler: web.RequestHandler) -> bool:
    """Whether the browser talks HTTPS: directly, or to a configured proxy saying so (``X-Forwarded-Proto``)."""
    if handler.request.protocol == "https":
        return True
    return _via_proxy(handler) and handler.request.headers.get("X-Forwarded-Proto", "").strip().lower() == "https"


def _sans_piege(texte: str) -> bool:
    """No control, format or space character, no backslash (browsers strip or reinterpret them in URLs)."""
    return not any(c == "\\" or c.isspace() or unicodedata.category(c) in {"Cc", "Cf", "Zs", "Zl", "Zp"}
                   for c in texte)


def suivant(valeur: str | None, base: str) -> str:
    """Where to go after login: ``valeur`` when it is a local path under ``base`` (the server's base URL),
    else ``base``. Refused: a scheme or host, ``//``, backslashes, control or space characters, and the same
    hidden behind percent-encoding (decoded until stable), dot segments leaving ``base``."""
    if not valeur or not _sans_piege(valeur):
        return base
    decode, precedent = valeur, None
    while decode != precedent:
        precedent, decode = decode, urllib.parse.unquote(decode)
        if not _sans_piege(decode):
            return base
    for forme in (valeur, decode):
        morceaux = urllib.parse.urlsplit(forme)
        if morceaux.scheme or morceaux.netloc or not forme.startswith("/") or forme.startswith("//"):
            return base
    chemin = urllib.parse.urlsplit(valeur).path
    segments = urllib.parse.unquote(chemin).split("/")
    if ".." in segments or "." in segments or not (chemin + "/").startswith(base.rstrip("/") + "/"):
        return base
    return valeur


def xsrf_champ(handler: web.RequestHandler) -> markup.Markup:
    """The form's hidden ``_xsrf`` field, built like every other piece of HTML."""
    return markup.element("input", type="hidden", name="_xsrf", value=handler.xsrf_token.decode())


class LoginHandler(JupyterHandler):
    """GET: the French login form; POST: check the password, open a session, set the cookie."""

    def _page(self, message: str = "", login: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(markup.html(
            _PAGE, action=self.request.path, xsrf=xsrf_champ(self), login=login,
            suivant=suivant(self.get_argument("next", None), self.base_url),
            message=markup.element("p", message, class_="erreur") if message else
            markup.element("p", "Connectez-vous pour voir les tableaux de bord.", class_="info")))

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
                None, utilisateurs.verifier, fournisseur.engine, login, mot_de_passe, adresse_client(self))
        except AuthError as exc:
            self._page(str(exc), login=login, status=401)
            return
        session = await boucle.run_in_executor(
            None, utilisateurs.ouvrir_session, fournisseur.engine, utilisateur, adresse_client(self))
        fournisseur.poser_cookie(self, session)
        self.redirect(suivant(self.get_body_argument("next", None), self.base_url))


class LogoutHandler(JupyterHandler):
    """GET: a French confirmation form; POST (XSRF checked): end the session (database row revoked, cookie
    cleared, the session's kernels shut down) and go back to the login page."""

    @allow_unauthenticated
    def get(self) -> None:
        """The confirmation form: a link (or a page of another site) never logs out by itself."""
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(markup.html(_DECONNEXION, action=self.request.path, xsrf=xsrf_champ(self),
                                retour=self.base_url))

    @allow_unauthenticated
    async def post(self) -> None:
        """Logout (harmless without a session)."""
        fournisseur: EuralisIdentityProvider = self.identity_provider  # type: ignore[assignment]
        session = self.get_secure_cookie(SESSION_COOKIE)
        if session:
            fournisseur.oublier(session.decode())
            await asyncio.get_running_loop().run_in_executor(
                None, utilisateurs.fermer_session, fournisseur.engine, session.decode(), adresse_client(self))
            fermes = await kernels.shutdown_session(self.kernel_manager, session)
            self.log.info("Logout of %s: %s kernel(s) shut down", kernels.who(self), len(fermes))
        self.clear_cookie(SESSION_COOKIE, path=self.base_url)
        self.redirect(self.settings.get("login_url", "/login"))


class EuralisIdentityProvider(IdentityProvider):
    """Users from PostgreSQL; sets the kernel-token header every kernel reads."""

    cookie_name = Unicode(SESSION_COOKIE)
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
        self.proxies = proxies_de_confiance()
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
        """The signed, HttpOnly session cookie; Secure on HTTPS (:func:`en_https`) or ``EURALIS_SECURE_COOKIES``."""
        handler.set_signed_cookie(SESSION_COOKIE, session, expires_days=self.duree / timedelta(days=1),
                                  path=handler.base_url, httponly=True, samesite="Lax",
                                  secure=self.secure or en_https(handler))

    def oublier(self, session: str) -> None:
        """Drop a session from the short cache (logout)."""
        self._cache.pop(session, None)

    def _utilisateur(self, session: str) -> Utilisateur | None:
        maintenant = time.monotonic()
        memo = self._cache.get(session)
        if memo and maintenant - memo[0] < CACHE_S:
            return memo[1]
        try:
            utilisateur = utilisateurs.session(self.engine, session)
        except DatabaseUnavailableError:
            # The database cannot answer: the identity it confirmed last stands, so an open page keeps its
            # kernel and shows the outage (its kernel cannot read the database either); unknown sessions
            # stay anonymous.
            return memo[1] if memo else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[session] = (maintenant, utilisateur)
        return utilisateur

    def get_user(self, handler: web.RequestHandler) -> User | None:
        """The session's user, or None; always overwrites the identity header of the request."""
        valeur = handler.get_signed_cookie(SESSION_COOKIE, max_age_days=self.duree / timedelta(days=1))
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
    """Deny by default: an authenticated user may only do what the pages need (:data:`PERMIS`). Which kernel
    is checked by the kernel routes themselves (:func:`euralis_lib.serving.kernels.require_owner`)."""

    # (action, resource) pairs the pages use: their kernel's model, websocket and shutdown; the job reports.
    PERMIS = frozenset({("read", "kernels"), ("execute", "kernels"), ("write", "kernels"), ("read", "contents")})

    def is_authorized(self, handler: JupyterHandler, user: User, action: str, resource: str) -> bool:
        """True only for an authenticated user and a pair of :data:`PERMIS`; a refusal is logged."""
        permis = user is not None and bool(user.username) and (action, resource) in self.PERMIS
        if not permis:
            self.log.warning("Refused %s on %s to %s (%s %s)", action, resource, kernels.who(handler),
                             handler.request.method, handler.request.path)
        return permis


def garder_url_proprietaire() -> None:
    """In the Voilà server, before any kernel starts: move the owner's URL out of the environment
    the kernels inherit (the identity provider keeps it)."""
    global _URL_PROPRIETAIRE
    _URL_PROPRIETAIRE = os.environ.pop("EURALIS_AUTH_DATABASE_URL", None) or _URL_PROPRIETAIRE


_URL_PROPRIETAIRE: str | None = None
