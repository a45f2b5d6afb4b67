"""The live unread-alerts badge, server side: one PostgreSQL LISTEN per Voilà process, Server-Sent Events
to the open pages.

Every alert written sends ``NOTIFY euralis_alertes`` (``sql/182``, payload: id, site and gaveur only), and
so does every change of a read state. :class:`Ecouteur` holds the process's only listening connection
(psycopg2, on the Tornado loop, reconnecting after a failure) and, after a short debounce, wakes every
open page's stream. Each stream (:class:`FluxAlertesHandler`, ``/voila/alertes/flux``) then recounts the
unread alerts AS ITS USER (his kernel token, his role, ``alertes_non_lues()`` and
``alertes_critiques_non_lues()`` under row-level security)
on a short-lived connection, and sends the count only when it changed: a gaveur's page never receives
anything about another gaveur's alert, not even a new count. Idle pages hold no database connection.
The page subscribes with the small script of ``euralis_lib/serving/voila_template/index.html.j2``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg2
import psycopg2.extensions
import sqlalchemy as sa
from jupyter_server.base.handlers import JupyterHandler
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from tornado import iostream, web
from tornado.ioloop import IOLoop

from euralis_lib.auth.acces import Utilisateur, engine_jeton
from euralis_lib.auth.jeton import ENTETE, utilisateur_du_jeton
from euralis_lib.auth.page import connexion_requise
from euralis_lib.database import db

CANAL = "euralis_alertes"
ROUTE = "/voila/alertes/flux"
DEBOUNCE_S = 0.15
HEARTBEAT_S = 25.0
RECONNEXION_S = 2.0
log = logging.getLogger("euralis.alertes")


def dsn(engine: Engine) -> dict[str, object]:
    """psycopg2 connection keywords of ``engine``'s URL (host, socket, database, user, password, options)."""
    url = engine.url
    args: dict[str, object] = url.translate_connect_args(username="user", database="dbname")
    args.update({k: v for k, v in url.query.items() if isinstance(v, str)})
    return args


_COMPTES = sa.text("SELECT alertes_non_lues(), alertes_critiques_non_lues()")


def compter(engine: Engine, utilisateur: Utilisateur | None) -> tuple[int, int]:
    """The unread alerts of ``utilisateur``, all and critical ones, as the database counts them for him (his
    token, his role), on a connection closed at once; without login (``utilisateur`` None), as ``engine``'s
    own user."""
    if utilisateur is None:
        with db.connect(engine) as conn:
            return tuple(int(n) for n in conn.execute(_COMPTES).one())
    vue = engine_jeton(engine, utilisateur.jeton or "", poolclass=NullPool)
    try:
        with vue.begin() as conn:
            conn.exec_driver_sql(f"SET LOCAL ROLE {utilisateur.role_db}")  # role_db: one of ROLES, checked
            return tuple(int(n) for n in conn.execute(_COMPTES).one())
    finally:
        vue.dispose()


class Ecouteur:
    """The process's one LISTEN connection; calls every subscriber after each burst of notifications."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.abonnes: set[Callable[[], None]] = set()
        self._conn: psycopg2.extensions.connection | None = None
        self._reveil: asyncio.TimerHandle | None = None
        self.notifications = 0

    def abonner(self, rappel: Callable[[], None]) -> None:
        """Call ``rappel`` (on the loop) after every burst of notifications; listens from the first one on."""
        self.abonnes.add(rappel)
        if self._conn is None:
            self._connecter()

    def desabonner(self, rappel: Callable[[], None]) -> None:
        """Stop calling ``rappel`` (the connection stays for the next pages)."""
        self.abonnes.discard(rappel)

    def _connecter(self) -> None:
        try:
            conn = psycopg2.connect(**dsn(self.engine), application_name="euralis-alertes", connect_timeout=5)
            conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
            conn.cursor().execute(f"LISTEN {CANAL}")
        except psycopg2.Error as exc:
            log.warning("alert listener: cannot connect (%s), retrying in %.0f s", exc, RECONNEXION_S)
            IOLoop.current().call_later(RECONNEXION_S, self._connecter)
            return
        self._conn = conn
        IOLoop.current().add_handler(conn.fileno(), self._lire, IOLoop.READ)
        self._planifier()  # alerts written while nobody listened: recount once

    def _lire(self, _fd: int, _events: int) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            conn.poll()
        except psycopg2.Error as exc:
            log.warning("alert listener: connection lost (%s), reconnecting", exc)
            IOLoop.current().remove_handler(conn.fileno())
            with contextlib.suppress(psycopg2.Error):
                conn.close()
            self._conn = None
            IOLoop.current().call_later(RECONNEXION_S, self._connecter)
            return
        if conn.notifies:
            self.notifications += len(conn.notifies)
            conn.notifies.clear()
            self._planifier()

    def _planifier(self) -> None:
        if self._reveil is None:
            self._reveil = asyncio.get_running_loop().call_later(DEBOUNCE_S, self._diffuser)

    def _diffuser(self) -> None:
        self._reveil = None
        for rappel in list(self.abonnes):
            rappel()


_ECOUTEUR: Ecouteur | None = None


def ecouteur() -> Ecouteur:
    """This process's listener (created on first use, on the server's database URL)."""
    global _ECOUTEUR
    if _ECOUTEUR is None:
        _ECOUTEUR = Ecouteur(db.get_engine())
    return _ECOUTEUR


def _evenement(comptes: tuple[int, int]) -> str:
    """The SSE events of a count: ``compte`` (unread alerts, the badge) and ``critiques`` (unread critical ones:
    the page notifies and beeps when it grows)."""
    total, critiques = comptes
    return f"event: compte\ndata: {int(total)}\n\nevent: critiques\ndata: {int(critiques)}\n\n"


class FluxAlertesHandler(JupyterHandler):
    """``GET /voila/alertes/flux``: a Server-Sent Events stream of the logged-in user's unread-alerts count,
    sent at once and then each time it changes."""

    @web.authenticated
    async def get(self) -> None:
        """Stream the count until the page goes away."""
        boucle = asyncio.get_running_loop()
        engine = db.get_engine()
        utilisateur = None
        if connexion_requise():
            utilisateur = await boucle.run_in_executor(None, utilisateur_du_jeton, engine,
                                                       self.request.headers.get(ENTETE))
            if utilisateur is None:
                raise web.HTTPError(403)
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache, no-store")
        self.set_header("X-Accel-Buffering", "no")
        reveil = asyncio.Event()
        self._reveil = reveil
        self._fermee = False
        source = ecouteur()
        source.abonner(reveil.set)
        try:
            dernier = await boucle.run_in_executor(None, compter, engine, utilisateur)
            self.write(_evenement(dernier))
            await self.flush()
            while not self._fermee:
                reveil.clear()
                try:
                    await asyncio.wait_for(reveil.wait(), HEARTBEAT_S)
                except TimeoutError:
                    self.write(": ping\n\n")  # keeps proxies from closing an idle stream
                else:
                    if self._fermee:
                        break
                    # Recounted as the user: sent only when his own count changed.
                    compte = await boucle.run_in_executor(None, compter, engine, utilisateur)
                    if compte == dernier:
                        continue
                    self.write(_evenement(compte))
                    dernier = compte
                await self.flush()
        except iostream.StreamClosedError:
            pass
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            log.warning("alert stream: database unreachable (%s)", exc)
        finally:
            source.desabonner(reveil.set)

    def on_connection_close(self) -> None:
        """The page went away: end its stream now."""
        self._fermee = True
        reveil = getattr(self, "_reveil", None)
        if reveil is not None:
            reveil.set()
        super().on_connection_close()
