"""Fixtures of the security suite: a simulated database with one user per role, a real Voilà server with login
serving a few pages (one per test module), HTTP and raw websocket clients acting as browsers or attackers.

``EURALIS_SERVER_CHECKOUT=/path/to/another/checkout`` serves that checkout's code instead of this one
(``serve.start(cwd=…)`` and ``PYTHONPATH`` for its kernels): the attacks can be replayed against the code
before a fix."""

from __future__ import annotations

import functools
import http.client
import json
import os
import re
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import websocket
from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

from euralis_lib.serving import serve
from euralis_lib.serving.browser import LOADED, free_port, kernel_pids
from tests.helpers.connexion import Client, se_connecter, utilisateurs_de_test
from tests.helpers.databases import module_database
from tests.helpers.servers import copy_apps

V1 = "v1.kernel.websocket.jupyter.org"
KERNEL_ID = re.compile(r'"kernelId":\s*"([0-9a-f-]{36})"')
TIMEOUT_MS = 180_000


def wait_for(condition: Callable[[], object], timeout: float, what: str, pause: float = 0.3) -> object:
    """Poll ``condition`` until it returns something true; AssertionError naming ``what`` after ``timeout`` s."""
    limite = time.monotonic() + timeout
    while time.monotonic() < limite:
        valeur = condition()
        if valeur:
            return valeur
        time.sleep(pause)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Serveur:
    """A Voilà server with login (``serve.start``) on copies of some app notebooks."""

    dossier: Path
    url_base: str
    pages: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    notebooks: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        copy_apps(self.dossier, self.pages)
        for nom, code in self.notebooks.items():
            cellules = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                         "source": code, "id": uuid.uuid4().hex[:8]}]
            meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
            (self.dossier / f"{nom}.ipynb").write_text(json.dumps(
                {"cells": cellules, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")
        self.journal = self.dossier / "voila.log"
        self.port = free_port()
        env = {**os.environ, "EURALIS_DATABASE_URL": self.url_base, "EURALIS_HOME": str(self.dossier / "home"),
               **self.env}
        env.pop("EURALIS_SESSION_SECRET", None)
        autre = os.environ.get("EURALIS_SERVER_CHECKOUT")
        if autre:  # its kernels too
            env["PYTHONPATH"] = autre
        self.proc = serve.start(self.port, env=env, log_path=self.journal, apps_dir=self.dossier, extra=self.extra,
                                cwd=Path(autre) if autre else None)
        serve.wait_ready(self.proc, self.port, timeout=180)
        attendus = len(self.pages) + len(self.notebooks)
        wait_for(lambda: len(kernel_pids(self.proc.pid)) >= attendus, 240, f"the preheated pool of {attendus}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def journal_texte(self) -> str:
        return self.journal.read_text(encoding="utf-8", errors="replace")

    def rss(self) -> int:
        """Resident memory of the server process alone (not its kernels), bytes."""
        return psutil.Process(self.proc.pid).memory_info().rss

    def noyaux(self) -> int:
        return len(kernel_pids(self.proc.pid))

    def repond(self, delai: float = 2.0) -> float:
        """Seconds ``/login`` took to answer; AssertionError when it did not answer within ``delai``."""
        debut = time.monotonic()
        try:
            with urllib.request.urlopen(f"{self.base}/login", timeout=delai) as rep:
                assert rep.status == 200
        except OSError as exc:
            raise AssertionError(f"/login did not answer within {delai} s: {exc}") from exc
        return time.monotonic() - debut

    def arreter(self) -> None:
        serve.stop(self.proc)

    def __enter__(self) -> Serveur:
        return self

    def __exit__(self, *exc: object) -> None:
        self.arreter()


class Navigateur(Client):
    """An HTTP client acting as one browser (its own cookies: session, _xsrf), optionally from a given local
    source address (``127.0.0.2``… play other machines or a proxy)."""

    def __init__(self, base: str, source: str | None = None) -> None:
        super().__init__(base, timeout=TIMEOUT_MS / 1000)
        if source:
            classe = functools.partial(http.client.HTTPConnection, source_address=(source, 0))

            class _Depuis(urllib.request.HTTPHandler):
                handler_order = 100  # before urllib's own HTTPHandler

                def http_open(self, req):  # noqa: ANN001, ANN202
                    return self.do_open(classe, req)

            self.opener.add_handler(_Depuis())
        self.source = source

    def cookie(self, nom: str) -> str | None:
        return next((c.value for c in self.cookies if c.name == nom), None)

    def entete_cookies(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.cookies)

    def ouvrir_page(self, slug: str) -> str:
        """Load a dashboard page; the id of the kernel it got."""
        statut, _, corps = self.get(f"/voila/render/{slug}.ipynb")
        assert statut == 200, (slug, statut, corps[:300])
        return KERNEL_ID.search(corps).group(1)

    def envoyer(self, methode: str, chemin: str, corps: bytes | None = None,
                entetes: dict[str, str] | None = None) -> tuple[int, dict, str]:
        """Any method, with this browser's XSRF token when it has one."""
        entetes = {**(entetes or {})}
        if self.cookie("_xsrf"):
            entetes.setdefault("X-XSRFToken", self.cookie("_xsrf"))
        return self._ouvrir(urllib.request.Request(self.base + chemin, data=corps, method=methode, headers=entetes))

    def post_form(self, chemin: str, champs: dict[str, str],
                  entetes: dict[str, str] | None = None) -> tuple[int, dict, str]:
        """POST a form with this browser's _xsrf token in it."""
        donnees = {**champs, "_xsrf": self.cookie("_xsrf") or ""}
        return self.envoyer("POST", chemin, urllib.parse.urlencode(donnees).encode(), entetes)

    def canal(self, kernel_id: str, protocole: str | None = V1, cookies: bool = True,
              timeout: float = 20) -> websocket.WebSocket:
        """A raw websocket on the kernel's channels (this browser's cookies, the v1 subprotocol by default)."""
        url = f"ws://127.0.0.1:{self.base.rsplit(':', 1)[1]}/api/kernels/{kernel_id}/channels?session_id=" \
              f"{uuid.uuid4().hex}"
        return websocket.create_connection(url, timeout=timeout, subprotocols=[protocole] if protocole else None,
                                           cookie=self.entete_cookies() if cookies else None)


def message_v1(msg_type: str, content: dict, channel: str = "shell", buffers: tuple[bytes, ...] = (),
               metadata: dict | None = None) -> bytes:
    """A well-formed v1 frame, as a page's widget manager sends it."""
    header = {"msg_id": uuid.uuid4().hex, "username": "", "session": uuid.uuid4().hex, "msg_type": msg_type,
              "version": "5.3", "date": ""}
    parties = [json.dumps(x).encode() for x in (header, {}, metadata or {}, content)] + list(buffers)
    return serialize_msg_to_ws_v1(parties, channel)


def lire_v1(trame: bytes) -> tuple[str, dict, dict]:
    """(channel, header, content) of a v1 frame from the server."""
    n = int.from_bytes(trame[:8], "little")
    offsets = [int.from_bytes(trame[8 * (i + 1):8 * (i + 2)], "little") for i in range(n)]
    canal = trame[offsets[0]:offsets[1]].decode()
    header = json.loads(trame[offsets[1]:offsets[2]])
    content = json.loads(trame[offsets[4]:offsets[5]])
    return canal, header, content


def attendre_reponse(ws: websocket.WebSocket, msg_type: str, timeout: float = 60,
                     condition: Callable[[dict], bool] = lambda _: True) -> dict:
    """The content of the first ``msg_type`` message (whose content meets ``condition``) the kernel sends."""
    limite = time.monotonic() + timeout
    while time.monotonic() < limite:
        ws.settimeout(min(max(limite - time.monotonic(), 0.1), 5))  # the server's pings restart a longer wait
        try:
            trame = ws.recv()
        except websocket.WebSocketTimeoutException:
            continue
        if isinstance(trame, bytes):
            _, header, content = lire_v1(trame)
            if header.get("msg_type") == msg_type and condition(content):
                return content
    raise AssertionError(f"no {msg_type} within {timeout} s")


@pytest.fixture(scope="module")
def base_securite(pg_cluster, sim_template) -> Iterator[dict]:
    """A simulated database of the module, with users: adm (admin), sup (superviseur), g1 and g2 (gaveurs)."""
    with module_database(pg_cluster, sim_template) as base:
        (g1,), (g2,) = base.rows("SELECT gaveur_id FROM gaveurs ORDER BY gaveur_id LIMIT 2")
        yield {"url": base.url, "mdp": utilisateurs_de_test(base.url, g1, g2)}


def page_connectee(browser, serveur: Serveur, base: dict, login: str):  # noqa: ANN001, ANN201
    """A Chromium context logged in as ``login`` and its page: (context, page); close the context after use."""
    contexte = browser.new_context(locale="fr-FR")
    page = contexte.new_page()
    se_connecter(page, serveur.port, login, base["mdp"][login], timeout_ms=TIMEOUT_MS)
    return contexte, page


def charger(page, serveur: Serveur, chemin: str) -> str:  # noqa: ANN001
    """Open a dashboard page (``accueil.ipynb``, with a query string if any) until its content is computed;
    the id of its kernel."""
    page.goto(f"{serveur.base}/voila/render/{chemin}", wait_until="domcontentloaded", timeout=TIMEOUT_MS)
    page.wait_for_function(LOADED, timeout=TIMEOUT_MS)
    return page.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")


def connecte(serveur: Serveur, base: dict, login: str, source: str | None = None) -> Navigateur:
    """A browser logged in as ``login``."""
    nav = Navigateur(serveur.base, source)
    statut, entetes, corps = nav.login(login, base["mdp"][login])
    assert statut == 302 and "/login" not in entetes.get("Location", ""), corps[:500]
    return nav
