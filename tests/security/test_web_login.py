"""Issue 21, findings 5 (kernel cap), 7 (open redirect), 8 (locked accounts) and the low ones (logout by GET,
proxy headers from anyone, no Secure cookie on HTTPS, versioned Server header, tracebacks in the browser),
replayed on a real Voilà server with login.

The server trusts ``127.0.0.2`` as its reverse proxy (``EURALIS_TRUSTED_PROXIES``): a client bound to that
local address plays nginx (and sets ``X-Real-IP`` to play visitors from elsewhere); a client on ``127.0.0.1``
is an untrusted direct client. Users may hold 2 kernels (``EURALIS_KERNELS_PER_USER``).
"""

from __future__ import annotations

import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import websocket

from euralis_lib.auth import utilisateurs
from euralis_lib.database import db
from tests.helpers.connexion import creer_utilisateur
from tests.helpers.security import (
    Navigateur,
    Serveur,
    attendre_reponse,
    charger,
    connecte,
    lire_v1,
    message_v1,
    page_connectee,
    wait_for,
)

pytestmark = pytest.mark.browser
PROXY = "127.0.0.2"
MARQUE = "/srv/secret-euralis"
# A page whose build fails (through ouvrir, as every page) and a button whose callback raises.
PAGE_EN_ERREUR = f"""import ipywidgets as w
from IPython.display import display

from euralis_lib import dashboards
from euralis_lib.dashboards import accueil


def build(ctx):
    raise RuntimeError("{MARQUE}/requete.py: la connexion a été perdue")


accueil.build = build
dashboards.ouvrir("accueil")
bouton = w.Button(description="Provoquer une erreur")


def casse(_):
    raise RuntimeError("{MARQUE}/bouton.py: échec du calcul")


bouton.on_click(casse)
display(bouton)
"""


@pytest.fixture(scope="module")
def serveur(base_securite, tmp_path_factory) -> Iterator[Serveur]:
    with Serveur(tmp_path_factory.mktemp("connexion"), base_securite["url"], ("accueil",),
                 env={"EURALIS_POOLS": "accueil=1", "EURALIS_TRUSTED_PROXIES": PROXY,
                      "EURALIS_KERNELS_PER_USER": "2"},
                 extra=("--EuralisVoila.kernel_cap_grace=1",), notebooks={"erreur": PAGE_EN_ERREUR}) as srv:
        yield srv


def _derniere_ip(base: dict, login: str) -> str:
    with db.get_engine(base["url"]).connect() as conn:
        return conn.execute(sa.text("SELECT ip FROM audit_acces WHERE login = :l ORDER BY audit_id DESC LIMIT 1"),
                            {"l": login}).scalar_one()


@pytest.mark.parametrize("suivant", [
    "/%09/evil.example/phish", "/\t/evil.example/phish", "//evil.example/phish", "/\\evil.example", "\\\\evil.example",
    "https://evil.example/", "http:evil.example", "/%2F%2Fevil.example", "/%252F%252Fevil.example", "/%5Cevil.example",
    " //evil.example", "/\r\n/evil.example", "javascript:alert(1)", "/voila/../../evil", "/\u3000/evil.example",
])
def test_next_after_login_is_a_local_path_only(serveur, base_securite, suivant):
    nav = Navigateur(serveur.base)
    statut, entetes, _ = nav.login("sup", base_securite["mdp"]["sup"], suivant=suivant)
    assert statut == 302 and entetes["Location"] == "/", entetes.get("Location")
    # The login form does not carry it either.
    corps = nav.get("/login?next=" + urllib.parse.quote(suivant, safe=""))[2]
    assert 'name="next" value="/"' in corps


def test_next_after_login_keeps_a_local_page(serveur, base_securite):
    """Control of the open-redirect test: a local page with its query string is where the login goes."""
    nav = Navigateur(serveur.base)
    statut, entetes, _ = nav.login("sup", base_securite["mdp"]["sup"], suivant="/voila/render/accueil.ipynb?site=LL")
    assert statut == 302 and entetes["Location"] == "/voila/render/accueil.ipynb?site=LL"


def _login_via_proxy(nav: Navigateur, login: str, mot_de_passe: str, visiteur: str) -> tuple[int, dict, str]:
    """The login form posted through the 'proxy' on behalf of ``visiteur``."""
    entetes = {"X-Real-IP": visiteur, "X-Forwarded-For": visiteur}
    _, _, page = nav.get("/login", headers=entetes)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    corps = urllib.parse.urlencode({"login": login, "mot_de_passe": mot_de_passe, "_xsrf": xsrf, "next": "/"})
    return nav.envoyer("POST", "/login", corps.encode(), entetes)


def _attente_s(corps: str) -> int:
    trouve = re.search(r"réessayez dans (?:(\d+) min )?(\d+) (?:secondes?|s)", corps)
    assert trouve, corps[-600:]
    return int(trouve.group(1) or 0) * 60 + int(trouve.group(2))


def test_an_attacker_slows_himself_but_never_locks_the_real_user_out(serveur, base_securite):
    attaquant, victime = "203.0.113.66", "198.51.100.7"
    proxy = Navigateur(serveur.base, source=PROXY)
    for _ in range(utilisateurs.ESSAIS_LIBRES):
        statut, _, corps = _login_via_proxy(proxy, "adm", "mauvais mot de passe", attaquant)
        assert statut == 401 and "incorrect" in corps
    # The attacker's next attempts wait, growing; the right password changes nothing for him.
    statut, _, corps = _login_via_proxy(proxy, "adm", base_securite["mdp"]["adm"], attaquant)
    assert statut == 401 and "Trop de tentatives" in corps
    attentes = [_attente_s(corps)]
    for _ in range(2):
        time.sleep(attentes[-1])  # the wait the server announced, then one more wrong password
        statut, _, corps = _login_via_proxy(proxy, "adm", "mauvais mot de passe", attaquant)
        assert statut == 401 and "incorrect" in corps, corps[-400:]
        attentes.append(_attente_s(_login_via_proxy(proxy, "adm", "x", attaquant)[2]))
    assert attentes[0] <= 5 < attentes[1] <= 10 < attentes[2] <= 20, attentes
    # Meanwhile the admin, from her own address, logs in at once.
    admin = Navigateur(serveur.base, source=PROXY)
    statut, entetes, _ = _login_via_proxy(admin, "adm", base_securite["mdp"]["adm"], victime)
    assert statut == 302 and entetes["Location"] == "/"
    assert _derniere_ip(base_securite, "adm") == victime  # the proxy's header is believed: it is trusted


def test_proxy_headers_from_an_untrusted_client_are_ignored(serveur, base_securite):
    direct = Navigateur(serveur.base)  # 127.0.0.1: not a configured proxy
    entetes = {"X-Real-IP": "198.51.100.99", "X-Forwarded-For": "198.51.100.98", "X-Forwarded-Proto": "https"}
    _, _, page = direct.get("/login", headers=entetes)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    corps = urllib.parse.urlencode({"login": "g1", "mot_de_passe": base_securite["mdp"]["g1"], "_xsrf": xsrf})
    statut, _, _ = direct.envoyer("POST", "/login", corps.encode(), entetes)
    assert statut == 302
    assert _derniere_ip(base_securite, "g1") == "127.0.0.1"
    assert not _cookie_session(direct).secure


def _cookie_session(nav: Navigateur):
    return next(c for c in nav.cookies if c.name == "euralis_session")


def test_the_session_cookie_is_secure_behind_a_trusted_https_proxy(serveur, base_securite):
    proxy = Navigateur(serveur.base, source=PROXY)
    _, _, page = proxy.get("/login")
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    corps = urllib.parse.urlencode({"login": "g2", "mot_de_passe": base_securite["mdp"]["g2"], "_xsrf": xsrf})
    statut, _, _ = proxy.envoyer("POST", "/login", corps.encode(), {"X-Forwarded-Proto": "https"})
    assert statut == 302
    assert _cookie_session(proxy).secure and _cookie_session(proxy).has_nonstandard_attr("HttpOnly")
    # Control: the same proxy on plain HTTP does not mark it Secure (else the browser would never send it back).
    http = Navigateur(serveur.base, source=PROXY)
    assert http.login("g2", base_securite["mdp"]["g2"])[0] == 302
    assert not _cookie_session(http).secure


def test_no_server_header_with_a_version(serveur, base_securite):
    nav = connecte(serveur, base_securite, "sup")
    reponses = [nav.get("/login"), nav.get("/voila/render/accueil.ipynb"), nav.get("/voila/nexiste-pas"),
                Navigateur(serveur.base).get("/voila/render/accueil.ipynb")]
    noyau = re.search(r'"kernelId":\s*"([0-9a-f-]{36})"', reponses[1][2]).group(1)
    ws = nav.canal(noyau)
    try:
        entetes = [dict(r[1]) for r in reponses] + [ws.getheaders()]
    finally:
        ws.close()
    assert [r[0] for r in reponses] == [200, 200, 404, 302]
    for e in entetes:
        serveur_ = {k.lower(): v for k, v in e.items()}.get("server", "")
        assert not re.search(r"\d", serveur_) and "tornado" not in serveur_.lower(), e


def test_logout_is_a_post_that_ends_the_session_and_shuts_its_kernels(serveur, base_securite):
    nav = connecte(serveur, base_securite, "g1")
    noyau = nav.ouvrir_page("accueil")
    autre = connecte(serveur, base_securite, "g1")  # the same user in another browser: not logged out
    noyau_autre = autre.ouvrir_page("accueil")
    # A GET (a link, an image on another site) only shows the confirmation form.
    statut, _, corps = nav.get("/logout")
    assert statut == 200 and "Se déconnecter" in corps and 'method="post"' in corps
    assert nav.envoyer("GET", f"/api/kernels/{noyau}")[0] == 200
    # A POST without the XSRF token (another site's form) is refused.
    sans_jeton = nav._ouvrir(urllib.request.Request(serveur.base + "/logout", data=b"x=1"))
    assert sans_jeton[0] == 403
    assert nav.envoyer("GET", f"/api/kernels/{noyau}")[0] == 200
    statut, entetes, _ = nav.logout()
    assert statut == 302 and entetes["Location"].startswith("/login")
    wait_for(lambda: f"Kernel shutdown: {noyau}" in serveur.journal_texte(), 60, "the session's kernel shut down")
    assert nav.get("/voila/render/accueil.ipynb")[0] == 302
    assert autre.envoyer("GET", f"/api/kernels/{noyau_autre}")[0] == 200  # control: the other session goes on
    assert autre.post_form(f"/voila/api/shutdown/{noyau_autre}", {})[0] == 204


def test_an_open_page_stops_serving_when_its_session_ends(serveur, base_securite):
    """The session revoked elsewhere (password changed, user disabled, expiry): the page's next frame closes its
    websocket and its kernel is shut down."""
    mot_de_passe = creer_utilisateur(base_securite["url"], "passager", "superviseur")
    nav = Navigateur(serveur.base)
    assert nav.login("passager", mot_de_passe)[0] == 302
    noyau = nav.ouvrir_page("accueil")
    ws = nav.canal(noyau)
    ws.send_binary(message_v1("kernel_info_request", {}))
    assert attendre_reponse(ws, "kernel_info_reply")["status"] == "ok"  # control: served while the session lasts
    utilisateurs.changer_mot_de_passe(db.get_engine(base_securite["url"]), "passager", mot_de_passe + "!")

    def ferme() -> bool:
        try:
            ws.send_binary(message_v1("kernel_info_request", {}))
            ws.settimeout(2)
            while True:
                opcode, trame = ws.recv_data_frame(True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return int.from_bytes(trame.data[:2], "big") == 1008
        except websocket.WebSocketTimeoutException:
            return False
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return True

    wait_for(ferme, 60, "the websocket closed once the session ended", pause=1)
    wait_for(lambda: f"Kernel shutdown: {noyau}" in serveur.journal_texte(), 60, "the kernel shut down")
    assert f"Kernel websocket closed (kernel {noyau}): the login session ended" in serveur.journal_texte()


def test_a_user_holds_at_most_the_cap_of_kernels_then_gets_a_french_page(serveur, base_securite):
    nav = connecte(serveur, base_securite, "g2")
    premiers = [nav.ouvrir_page("accueil") for _ in range(2)]
    canaux = [nav.canal(k) for k in premiers]  # two open tabs: their pages are connected
    try:
        statut, entetes, corps = nav.get("/voila/render/accueil.ipynb")
        assert statut == 429 and "Trop de pages ouvertes" in corps and "fermez des onglets" in corps
        assert "text/html" in entetes["Content-Type"]
        assert "Page accueil.ipynb refused to user g2 from 127.0.0.1: 2 kernels held" in serveur.journal_texte()
        # A tab closed without the beacon (crash): its kernel, no longer connected, makes room for a new page.
        canaux[0].close()
        troisieme = wait_for(lambda: _page_ou_rien(nav), 60, "a page once a tab is closed")
        assert troisieme not in premiers
        assert f"Kernel {premiers[0]} of g2 shut down: at the cap" in serveur.journal_texte()
        assert nav.envoyer("GET", f"/api/kernels/{premiers[1]}")[0] == 200  # the open tab's kernel stays
    finally:
        for ws in canaux:
            ws.close()


def _page_ou_rien(nav: Navigateur) -> str | None:
    statut, _, corps = nav.get("/voila/render/accueil.ipynb")
    trouve = re.search(r'"kernelId":\s*"([0-9a-f-]{36})"', corps) if statut == 200 else None
    return trouve.group(1) if trouve else None


def test_tracebacks_with_server_paths_never_reach_the_browser(serveur, base_securite, browser):
    contexte, page = page_connectee(browser, serveur, base_securite, "sup")
    trames: list[bytes | str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda trame: trames.append(trame)))
    try:
        charger(page, serveur, "erreur.ipynb")
        assert "Erreur inattendue" in page.inner_text("body")  # the page did fail
        page.click("text=Provoquer une erreur")
        erreurs: list[bytes] = []
        for _ in range(120):  # Playwright delivers the frames while it waits, not during a plain sleep
            page.wait_for_timeout(500)
            erreurs = [t for t in trames if isinstance(t, bytes) and lire_v1(t)[1]["msg_type"] == "error"]
            if erreurs:
                break
        assert erreurs, f"no error message among {len(trames)} frames after the click"
        assert lire_v1(erreurs[0])[2]["traceback"] == []
        html = page.content()
    finally:
        contexte.close()
    fuites = [t for t in trames if MARQUE.encode() in (t if isinstance(t, bytes) else t.encode())
              or b"Traceback" in (t if isinstance(t, bytes) else t.encode())]
    assert not fuites, fuites[:2]
    assert MARQUE not in html and "Traceback" not in html
    journal = serveur.journal_texte()  # the details are in the server's log
    assert f"{MARQUE}/requete.py" in journal and f"{MARQUE}/bouton.py" in journal
