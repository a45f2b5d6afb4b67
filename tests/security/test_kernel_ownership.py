"""Issue 21, finding 2 (kernel takeover): every route carrying a kernel id serves only the kernel's owner — the
login session AND the browser that got it — and ``/voila/query/<kernel>`` only the kernel itself.

Attacks replayed on a real Voilà server with login: another user (and the same user from another browser or
another session) with a known kernel id on the kernel's websocket, ``GET/DELETE/PATCH /api/kernels/<id>``,
the shutdown beacon and ``/voila/query/<id>`` (with and without a cookie); the superviseur on the admin's
Administration kernel. Each has its control: the owner's same request succeeds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import websocket

from euralis_lib.auth.kernel_request import SECRET_HEADER
from tests.helpers.security import (
    Navigateur,
    Serveur,
    attendre_reponse,
    charger,
    connecte,
    message_v1,
    page_connectee,
    wait_for,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def serveur(base_securite, tmp_path_factory) -> Iterator[Serveur]:
    """Accueil and Administration, one preheated kernel each."""
    with Serveur(tmp_path_factory.mktemp("noyaux"), base_securite["url"], ("accueil", "administration"),
                 env={"EURALIS_POOLS": "accueil=1,administration=1"}) as srv:
        yield srv


def _refus_websocket(nav: Navigateur, kernel_id: str, **kwargs) -> int:
    """The HTTP status of a refused websocket handshake (AssertionError if it was accepted)."""
    try:
        ws = nav.canal(kernel_id, **kwargs)
    except websocket.WebSocketBadStatusException as exc:
        return exc.status_code
    ws.close()
    raise AssertionError(f"websocket on kernel {kernel_id} accepted")


def _requete_info(serveur: Serveur, kernel_id: str, cookie: str | None = None,
                  secret: str | None = None) -> int | str:
    """Connect to ``/voila/query/<kernel>``: the refusal status, or the request info received."""
    entetes = [f"{SECRET_HEADER}: {secret}"] if secret else []
    try:
        ws = websocket.create_connection(f"ws://127.0.0.1:{serveur.port}/voila/query/{kernel_id}", timeout=5,
                                         cookie=cookie, header=entetes)
    except websocket.WebSocketBadStatusException as exc:
        return exc.status_code
    try:
        return ws.recv()
    except websocket.WebSocketTimeoutException:
        return "accepted, nothing received"
    finally:
        ws.close()


def test_another_user_gets_nothing_of_a_kernel_whose_id_he_knows(serveur, base_securite):
    proprietaire = connecte(serveur, base_securite, "g1")
    noyau = proprietaire.ouvrir_page("accueil")
    intrus = connecte(serveur, base_securite, "g2")
    intrus.ouvrir_page("accueil")  # his own page: a valid _xsrf cookie and session of his own
    # The websocket, with and without the v1 subprotocol.
    assert _refus_websocket(intrus, noyau) == 403
    assert _refus_websocket(intrus, noyau, protocole=None) == 403
    # The REST routes, every method.
    assert intrus.envoyer("GET", f"/api/kernels/{noyau}")[0] == 403
    assert intrus.envoyer("PATCH", f"/api/kernels/{noyau}", b"{}")[0] == 403
    assert intrus.envoyer("DELETE", f"/api/kernels/{noyau}")[0] == 403
    assert intrus.post_form(f"/voila/api/shutdown/{noyau}", {})[0] == 403
    # The request info, with the intruder's cookie and with none: refused before anything is sent.
    assert _requete_info(serveur, noyau, cookie=intrus.entete_cookies()) == 403
    assert _requete_info(serveur, noyau) == 403
    assert _requete_info(serveur, noyau, secret="0" * 64) == 403
    # Control: the owner's kernel is alive and his own requests succeed.
    statut, _, corps = proprietaire.envoyer("GET", f"/api/kernels/{noyau}")
    assert statut == 200 and noyau in corps
    ws = proprietaire.canal(noyau)
    try:
        ws.send_binary(message_v1("kernel_info_request", {}))
        assert attendre_reponse(ws, "kernel_info_reply")["status"] == "ok"
    finally:
        ws.close()
    journal = serveur.journal_texte()
    assert f"Kernel {noyau} refused to user g2" in journal
    assert f"Request info refused for kernel {noyau}" in journal
    assert proprietaire.post_form(f"/voila/api/shutdown/{noyau}", {})[0] == 204
    wait_for(lambda: f"Kernel shutdown: {noyau}" in serveur.journal_texte(), 60, "the owner's shutdown")


def test_the_same_user_from_another_browser_or_session_is_not_the_owner(serveur, base_securite):
    proprietaire = connecte(serveur, base_securite, "sup")
    noyau = proprietaire.ouvrir_page("accueil")
    autre_navigateur = connecte(serveur, base_securite, "sup")
    autre_navigateur.ouvrir_page("accueil")
    assert autre_navigateur.envoyer("GET", f"/api/kernels/{noyau}")[0] == 403
    assert _refus_websocket(autre_navigateur, noyau) == 403
    # Same browser (same _xsrf cookie), new login session: not the owner either.
    nouvelle_session = Navigateur(serveur.base)
    nouvelle_session.cookies.set_cookie(next(c for c in proprietaire.cookies if c.name == "_xsrf"))
    nouvelle_session.login("sup", base_securite["mdp"]["sup"])
    assert nouvelle_session.cookie("euralis_session") != proprietaire.cookie("euralis_session")
    assert nouvelle_session.envoyer("GET", f"/api/kernels/{noyau}")[0] == 403
    assert proprietaire.envoyer("GET", f"/api/kernels/{noyau}")[0] == 200
    assert proprietaire.post_form(f"/voila/api/shutdown/{noyau}", {})[0] == 204


def test_a_superviseur_cannot_attach_to_the_admins_administration_kernel(serveur, base_securite, browser):
    """The takeover of the review: the superviseur on the admin's Administration kernel to make himself admin."""
    contexte, page = page_connectee(browser, serveur, base_securite, "adm")
    try:
        noyau = charger(page, serveur, "administration.ipynb")
        superviseur = connecte(serveur, base_securite, "sup")
        superviseur.ouvrir_page("accueil")
        assert _refus_websocket(superviseur, noyau) == 403
        assert superviseur.envoyer("GET", f"/api/kernels/{noyau}")[0] == 403
        # Control: the admin's own page still works on its kernel (a widget round trip through the websocket).
        assert page.locator("text=Changer le rôle").first.is_visible()
        etat = page.evaluate("async (k) => (await fetch(`/api/kernels/${k}`)).status", noyau)
        assert etat == 200
        assert "Kernel " + noyau + " refused to user sup" in serveur.journal_texte()
        page.close(run_before_unload=True)
        wait_for(lambda: f"Kernel shutdown: {noyau}" in serveur.journal_texte(), 120, "the admin's page kernel freed")
    finally:
        contexte.close()


def test_the_page_still_gets_its_identity_through_the_kernel_secret(serveur, base_securite, browser):
    """Control of the ``/voila/query`` check: a preheated kernel does receive its request (the user's name)."""
    contexte, page = page_connectee(browser, serveur, base_securite, "g2")
    try:
        charger(page, serveur, f"accueil.ipynb?x={uuid.uuid4().hex}")
        assert "g2 (gaveur)" in page.inner_text("body")
        assert "Session invalide" not in page.inner_text("body")
    finally:
        contexte.close()


def test_the_authorizer_allows_only_what_the_pages_use():
    """Deny by default: the pages' kernel actions and reading job reports, for an authenticated user only."""
    from jupyter_server.auth.identity import User
    from tornado.httputil import HTTPServerRequest
    from tornado.web import Application, RequestHandler

    from euralis_lib.serving.login import EuralisAuthorizer

    handler = RequestHandler(Application(), HTTPServerRequest(method="GET", uri="/api/x", connection=_Connexion()))
    autorisateur = EuralisAuthorizer()
    marie = User(username="marie")
    for action, ressource in EuralisAuthorizer.PERMIS:
        assert autorisateur.is_authorized(handler, marie, action, ressource)
        assert not autorisateur.is_authorized(handler, None, action, ressource)
    for action, ressource in [("write", "contents"), ("read", "terminals"), ("execute", "terminals"),
                              ("write", "sessions"), ("read", "config"), ("write", "kernelspecs")]:
        assert not autorisateur.is_authorized(handler, marie, action, ressource), (action, ressource)


class _Connexion:
    """The HTTP connection of a request built in memory (tornado only asks it for a close callback)."""

    def set_close_callback(self, callback: object) -> None:
        """Nothing to watch."""
