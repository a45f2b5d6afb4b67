"""Test helpers for logins: create users, open a real session and act as its user on the database, log a
browser page or an HTTP client in."""

from __future__ import annotations

import http.cookiejar
import re
import secrets
import urllib.parse
import urllib.request

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib.auth import jeton, utilisateurs
from euralis_lib.auth.acces import Utilisateur, engine_utilisateur, web_url
from euralis_lib.database import db

# The session secret of sessions opened by the tests (the server's own is never read).
SECRET = b"secret de test des sessions, 40 caracteres"


def creer_utilisateur(url: str, login: str, role: str, **kwargs: object) -> str:
    """Add a user to the database at ``url``; returns its random password."""
    mot_de_passe = secrets.token_urlsafe(12)
    utilisateurs.create(db.get_engine(url), login, login, role, mot_de_passe, **kwargs)
    return mot_de_passe


def ouvrir_session(url: str, login: str) -> tuple[str, Utilisateur]:
    """A real session of ``login`` (a row of sessions_web, as the login page opens it): its cookie token and
    the user carrying the session's kernel token."""
    owner = db.get_engine(url)
    with owner.connect() as conn:
        role = conn.execute(sa.text("SELECT role FROM utilisateurs WHERE login = :l"), {"l": login}).scalar_one()
    session = utilisateurs.ouvrir_session(owner, Utilisateur(login, role), secret=SECRET)
    return session, Utilisateur(login, role, jeton.deriver(session, SECRET))


def engine_de(url: str, login: str) -> Engine:
    """An engine acting as ``login`` through a real session of his, as his dashboard pages do: connected as
    ``euralis_web`` with the session's kernel token, every transaction as his role."""
    return engine_utilisateur(db.get_engine(web_url(url)), ouvrir_session(url, login)[1])


def utilisateurs_de_test(url: str, g1: int, g2: int) -> dict[str, str]:
    """One user per role in the database at ``url`` — adm, sup, and gaveurs g1, g2 of those gaveur ids —;
    their passwords by login."""
    return {"adm": creer_utilisateur(url, "adm", "admin"), "sup": creer_utilisateur(url, "sup", "superviseur"),
            "g1": creer_utilisateur(url, "g1", "gaveur", gaveur_id=g1),
            "g2": creer_utilisateur(url, "g2", "gaveur", gaveur_id=g2)}


def se_connecter(page, port: int, login: str, mot_de_passe: str, host: str = "127.0.0.1",
                 timeout_ms: int = 60_000, scheme: str = "http", suivant: str = "/voila/tree") -> None:
    """Log a Playwright page in through the login form; it then lands on ``suivant`` (the login's ``next``).
    By default the notebook list, not the home page: a landing page would take a kernel (and the pool refill
    another) that no test looks at, and a page left open there keeps its kernel."""
    page.goto(f"{scheme}://{host}:{port}/login?next={urllib.parse.quote(suivant)}", wait_until="domcontentloaded",
              timeout=timeout_ms)
    page.fill("#login", login)
    page.fill("#mot_de_passe", mot_de_passe)
    with page.expect_navigation(timeout=timeout_ms):
        page.click("button[type=submit]")
    if "/login" in page.url:
        raise AssertionError(f"login of {login} refused: {page.inner_text('form')}")


class Client:
    """A cookie-keeping HTTP client that does not follow redirects (to see them)."""

    def __init__(self, base: str, timeout: float = 180) -> None:
        self.base = base
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()

        class _SansRedirection(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies),
                                                  _SansRedirection())

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, str]:
        """GET ``path``: status, headers, body."""
        return self._ouvrir(urllib.request.Request(self.base + path, headers=headers or {}))

    def logout(self) -> tuple[int, dict, str]:
        """Log out as the page does: the confirmation form (GET), then its POST with the _xsrf token."""
        _, _, page = self.get("/logout")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
        return self._ouvrir(urllib.request.Request(self.base + "/logout",
                                                   data=urllib.parse.urlencode({"_xsrf": xsrf}).encode()))

    def login(self, login: str, mot_de_passe: str, suivant: str = "/") -> tuple[int, dict, str]:
        """Post the login form (with its _xsrf token)."""
        _, _, page = self.get("/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
        corps = urllib.parse.urlencode({"login": login, "mot_de_passe": mot_de_passe, "_xsrf": xsrf,
                                        "next": suivant}).encode()
        return self._ouvrir(urllib.request.Request(self.base + "/login", data=corps))

    def _ouvrir(self, requete: urllib.request.Request) -> tuple[int, dict, str]:
        try:
            with self.opener.open(requete, timeout=self.timeout) as rep:
                return rep.status, dict(rep.headers), rep.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read().decode(errors="replace")
