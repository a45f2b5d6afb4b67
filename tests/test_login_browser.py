"""Login and roles through a real Voilà server with login, real HTTP and a real Chromium.

One server for the module on a simulated database with the per-gaveur job results (clusters, anomalies,
finance, plan); only the home page is preheated (the pools are judged by the first probe and
tests/test_kernels.py), every other page starts its kernel on demand, sparing the 2 cores the refills.
Probes: anonymous requests get the login page and start no
kernel; wrong passwords are refused then throttled; forged, expired, logged-out and disabled-user
cookies are refused; a gaveur sees only his rows on every page, whatever header or query string the
browser sends; admin-only pages and buttons are refused to other roles.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import psutil
import pytest
import sqlalchemy as sa
from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1, serialize_msg_to_ws_v1

from euralis_lib.auth import jeton, utilisateurs
from euralis_lib.dashboards import PAGES
from euralis_lib.database import db
from euralis_lib.serving import serve
from tests.helpers.connexion import Client, creer_utilisateur, ouvrir_session, se_connecter
from tests.helpers.login_server import CHARGEE, TIMEOUT_MS, login_base, login_server  # noqa: F401  (fixtures)
from tests.helpers.pages import pools

pytestmark = pytest.mark.browser
POOLS = pools(accueil=1)

def _noyaux(proc) -> set[int]:
    """Kernel processes of the server."""
    return {p.pid for p in psutil.Process(proc.pid).children(recursive=True)
            if "ipykernel_launcher" in " ".join(p.cmdline())}


def _pool_stable(proc, attendus: int, delai: float = 240) -> set[int]:
    """Wait until the preheated pool is complete (``attendus`` kernels) and return it."""
    limite = time.monotonic() + delai
    while time.monotonic() < limite:
        noyaux = _noyaux(proc)
        if len(noyaux) >= attendus:
            return noyaux
        time.sleep(1)
    raise AssertionError(f"the preheated pool has {len(_noyaux(proc))} kernels, expected {attendus}")


def _ouvrir(page, port: int, slug: str, requete: str = "") -> str:
    page.goto(serve.url(port, page=slug) + requete, wait_until="domcontentloaded", timeout=TIMEOUT_MS)
    page.wait_for_function(CHARGEE, timeout=TIMEOUT_MS)
    return page.inner_text("body")


def test_anonymous_requests_get_the_login_page_and_start_no_kernel(serveur, base):
    pool = _pool_stable(serveur["proc"], 1)  # POOLS: the home page's one kernel
    client = Client(serveur["base"])
    faux = ouvrir_session(base["url"], "adm")[1].jeton  # a valid kernel token of an open admin session
    for chemin in [f"/voila/render/{p.slug}.ipynb" for p in PAGES] + ["/voila/render/gaveurs.ipynb?gaveur=1",
                                                                      "/voila/tree", "/"]:
        statut, entetes, _ = client.get(chemin, headers={jeton.ENTETE: faux})
        assert statut == 302 and entetes["Location"].startswith("/login"), chemin
    for chemin in ["/api/kernels", "/voila/api/shutdown/x", "/voila/rapports/2026-01-01/x.html"]:
        assert client.get(chemin)[0] in {302, 403, 404, 405}, chemin
    statut, _, corps = client.get("/login")
    assert statut == 200 and "Identifiant" in corps and "Mot de passe" in corps
    time.sleep(3)
    assert _noyaux(serveur["proc"]) == pool, "an anonymous request started or took a kernel"
    # The probe can see a kernel being taken: a logged-in page view takes one and the pool refills.
    client.login("sup", base["mdp"]["sup"])
    assert client.get("/voila/render/vide.ipynb")[0] in {200, 404}
    assert client.get("/voila/render/accueil.ipynb")[0] == 200
    limite = time.monotonic() + 120
    while _noyaux(serveur["proc"]) == pool and time.monotonic() < limite:
        time.sleep(1)
    assert _noyaux(serveur["proc"]) != pool


def test_forged_expired_logged_out_and_disabled_sessions_are_refused(serveur, base):
    client = Client(serveur["base"])
    assert client.login("sup", base["mdp"]["sup"])[0] == 302
    assert client.get("/voila/render/accueil.ipynb")[0] == 200
    cookie = next(c for c in client.cookies if c.name == "euralis_session")
    valeur = cookie.value
    # Forged: the signed value changed by one character.
    cookie.value = valeur[:-2] + ("A" if valeur[-2] != "A" else "B") + valeur[-1]
    assert client.get("/voila/render/accueil.ipynb")[0] == 302
    # Expired on the server side (after the few seconds a checked session is trusted).
    cookie.value = valeur
    engine = db.get_engine(base["url"])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sessions_web SET expire_le = now() - interval '1 second' "
                             "WHERE login = 'sup' AND revoquee_le IS NULL"))
    time.sleep(6)
    assert client.get("/voila/render/accueil.ipynb")[0] == 302
    # Logged out: the same cookie replayed after logout is refused at once.
    client.login("sup", base["mdp"]["sup"])
    garde = next(c for c in client.cookies if c.name == "euralis_session").value
    ouvertes = ("SELECT count(*) FROM sessions_web WHERE login = 'sup' AND revoquee_le IS NULL "
                "AND expire_le > now()")
    # A logout link (GET, from this site or another) only shows the confirmation form: the session stays.
    statut, _, corps = client.get("/logout")
    assert statut == 200 and "Se déconnecter" in corps
    assert db.read_df(engine, ouvertes).iloc[0, 0] == 1
    assert client.logout()[0] == 302  # the form's POST, with the XSRF token
    assert db.read_df(engine, ouvertes).iloc[0, 0] == 0
    rejoue = Client(serveur["base"])
    rejoue.cookies.set_cookie(cookie)
    next(c for c in rejoue.cookies if c.name == "euralis_session").value = garde
    assert rejoue.get("/voila/render/accueil.ipynb")[0] == 302
    # Disabled: an open session ends within the cache delay.
    autre = Client(serveur["base"])
    mdp = creer_utilisateur(base["url"], "temp", "superviseur")
    autre.login("temp", mdp)
    assert autre.get("/voila/render/accueil.ipynb")[0] == 200
    utilisateurs.desactiver(engine, "temp")
    time.sleep(6)
    assert autre.get("/voila/render/accueil.ipynb")[0] == 302


def test_wrong_passwords_are_refused_then_throttled(serveur, base):
    client = Client(serveur["base"])
    mdp = creer_utilisateur(base["url"], "cible", "superviseur")
    engine = db.get_engine(base["url"])
    try:
        for _ in range(utilisateurs.ESSAIS_LIBRES):
            statut, _, corps = client.login("cible", "mauvais mot de passe")
            assert statut == 401 and "incorrect" in corps
        statut, _, corps = client.login("cible", mdp)
        assert statut == 401 and "Trop de tentatives" in corps and "réessayez dans" in corps
        assert not any(c.name == "euralis_session" for c in client.cookies)
        with engine.connect() as conn:
            evenements = conn.execute(sa.text("SELECT evenement, count(*) FROM audit_acces WHERE login = 'cible' "
                                              "GROUP BY 1")).all()
        assert dict(evenements) == {"echec": utilisateurs.ESSAIS_LIBRES, "blocage": 1}
    finally:
        # The IP throttle covers 127.0.0.1, shared by every test of the module.
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_acces WHERE login = 'cible'"))


def _autres_gaveurs(base, gaveur_id: int) -> list[str]:
    return [t for g, code, nom in base["gaveurs"] if g != gaveur_id for t in (code, nom)]


def test_a_gaveur_sees_only_his_rows_on_every_page_whatever_the_browser_sends(serveur, base, browser):
    port = serveur["port"]
    # Even the valid kernel token of another user's open session sent by the browser is replaced by the server.
    contexte = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR",
                                   extra_http_headers={jeton.ENTETE: ouvrir_session(base["url"], "g2")[1].jeton})
    page = contexte.new_page()
    try:
        se_connecter(page, port, "g1", base["mdp"]["g1"])
        interdits = _autres_gaveurs(base, base["g1"])
        propre = next(code for g, code, _ in base["gaveurs"] if g == base["g1"])
        vus = {}
        for spec in PAGES:
            texte = _ouvrir(page, port, spec.slug, f"?gaveur={base['g2']}&utilisateur=g2")
            fuites = [t for t in interdits if re.search(rf"\b{re.escape(t)}\b", texte)]
            assert not fuites, f"page {spec.slug} shows other gaveurs to g1: {fuites[:5]}"
            assert "g1 (gaveur)" in texte, spec.slug
            if "gaveur" not in spec.roles:
                assert "réservée au rôle" in texte, spec.slug
            vus[spec.slug] = texte
        assert propre in vus["gaveurs"]
        assert re.search(r"Gaveurs Actifs\s*\n?\s*[01]\b", vus["tableau_de_bord"])
        assert "Calculer le plan" not in vus["abattages"]
        assert "Import" not in page.inner_text(".euralis-nav")
    finally:
        contexte.close()


def test_a_supervisor_sees_every_gaveur_but_not_the_admin_pages(serveur, base, browser):
    contexte = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    page = contexte.new_page()
    try:
        se_connecter(page, serveur["port"], "sup", base["mdp"]["sup"])
        gaveurs = _ouvrir(page, serveur["port"], "gaveurs")
        assert sum(code in gaveurs for _, code, _ in base["gaveurs"]) > 2
        assert "réservée au rôle admin" in _ouvrir(page, serveur["port"], "import")
        assert "Calculer le plan" not in _ouvrir(page, serveur["port"], "abattages")
        se_connecter(page, serveur["port"], "adm", base["mdp"]["adm"])
        assert "Calculer le plan" in _ouvrir(page, serveur["port"], "abattages")
        assert "réservée" not in _ouvrir(page, serveur["port"], "import")
    finally:
        contexte.close()


class SondeWidgets:
    """Sits on a page's kernel websocket (Playwright's route_web_socket): records widget models as the kernel
    sends them, and injects widget updates as the page's widget manager would send them."""

    def __init__(self, page) -> None:
        self.modeles: dict[str, dict] = {}
        self.session: str | None = None
        self.binaire = True
        self.serveur = None
        page.route_web_socket(re.compile(r"/api/kernels/[^/?]+/channels"), self._route)

    @staticmethod
    def _lire(message: str | bytes) -> dict:
        if isinstance(message, str):
            return json.loads(message)
        canal, parties = deserialize_msg_from_ws_v1(message)
        header, parent, metadata, content = (json.loads(p) for p in parties[:4])
        return {"channel": canal, "header": header, "content": content}

    def _noter(self, message: str | bytes) -> None:
        content = self._lire(message).get("content") or {}
        data = content.get("data") or {}
        if "state" in data and "comm_id" in content:
            self.modeles.setdefault(content["comm_id"], {}).update(data["state"])
        for comm_id, modele in (data.get("states") or {}).items():
            self.modeles.setdefault(comm_id, {}).update(modele.get("state", {}))

    def _route(self, ws) -> None:
        self.serveur = ws.connect_to_server()

        def du_serveur(message: str | bytes) -> None:
            self._noter(message)
            ws.send(message)

        def de_la_page(message: str | bytes) -> None:
            self.binaire = not isinstance(message, str)
            self.session = self._lire(message)["header"].get("session") or self.session
            self.serveur.send(message)

        self.serveur.on_message(du_serveur)
        ws.on_message(de_la_page)

    def modele(self, nom: str, description: str) -> tuple[str, dict]:
        """The comm id and state of the widget model ``nom`` labelled ``description``."""
        for comm_id, etat in self.modeles.items():
            if etat.get("_model_name") == nom and etat.get("description") == description:
                return comm_id, etat
        raise AssertionError(f"no {nom} « {description} » among {len(self.modeles)} widget models")

    def envoyer(self, comm_id: str, etat: dict) -> None:
        """A widget update from the 'browser' to the kernel, as ipywidgets' manager sends it."""
        header = {"msg_id": uuid.uuid4().hex, "username": "", "session": self.session or uuid.uuid4().hex,
                  "msg_type": "comm_msg", "version": "5.3", "date": ""}
        content = {"comm_id": comm_id, "data": {"method": "update", "state": etat, "buffer_paths": []}}
        if self.binaire:
            parties = [json.dumps(x).encode() for x in (header, {}, {}, content)]
            self.serveur.send(serialize_msg_to_ws_v1(parties, "shell"))
        else:
            self.serveur.send(json.dumps({"channel": "shell", "header": header, "parent_header": {},
                                          "metadata": {}, "content": content, "buffers": []}))


def _code(base, gaveur_id: int) -> str:
    return next(code for g, code, _ in base["gaveurs"] if g == gaveur_id)


def test_widget_values_crafted_through_the_kernel_protocol_reach_nothing_of_another_gaveur(serveur, base, browser):
    port, g1, g2 = serveur["port"], _code(base, base["g1"]), _code(base, base["g2"])
    # Control: for a supervisor, the injected selection does filter the table (the probe works).
    contexte = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    page = contexte.new_page()
    sonde = SondeWidgets(page)
    try:
        se_connecter(page, port, "sup", base["mdp"]["sup"])
        avant = _ouvrir(page, port, "gaveurs")
        assert f"{g1}\t" in avant and f"{g2}\t" in avant
        comm_id, etat = sonde.modele("SelectMultipleModel", "Gaveurs")
        index = next(i for i, label in enumerate(etat["_options_labels"]) if label.startswith(g2))
        sonde.envoyer(comm_id, {"index": [index]})
        page.wait_for_function(f"!document.body.innerText.includes('{g1}\\t')", timeout=60_000)
        assert f"{g2}\t" in page.inner_text("body")
    finally:
        contexte.close()
    # The gaveur: the same update (and a value the browser is not offered) shows nothing of the other.
    contexte = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    page = contexte.new_page()
    sonde = SondeWidgets(page)
    try:
        se_connecter(page, port, "g1", base["mdp"]["g1"])
        _ouvrir(page, port, "gaveurs")
        comm_id, etat = sonde.modele("SelectMultipleModel", "Gaveurs")
        assert [label.split(" ")[0] for label in etat["_options_labels"]] == [g1]
        for injection in ({"index": [index]}, {"index": [0, 1, 2]}, {"value": [base["g2"]]},
                          {"_options_labels": etat["_options_labels"] + [f"{g2} – x (x)"], "index": [1]}):
            sonde.envoyer(comm_id, injection)
        choix, _ = sonde.modele("DropdownModel", "Gaveur")
        sonde.envoyer(choix, {"index": 1})
        time.sleep(8)
        texte = page.inner_text("body")
        fuites = [t for t in _autres_gaveurs(base, base["g1"]) if re.search(rf"\b{re.escape(t)}\b", texte)]
        assert not fuites and g1 in texte, fuites[:5]
    finally:
        contexte.close()


def test_job_reports_are_served_only_to_users_who_read_every_row(serveur, base):
    """Finding 4 of issue 21: a job report holds every gaveur's data. The database decides who downloads it
    (sql/152): a gaveur's session gets 404, as for a missing file; a supervisor of all sites and an admin get it;
    a file of the folder that is no run's report is served to nobody."""
    engine = db.get_engine(base["url"])
    with engine.begin() as conn:
        run_id = conn.execute(sa.text("SELECT max(run_id) FROM job_runs WHERE job = 'anomalies'")).scalar_one()
        dossier = serveur["rapports"].resolve() / "2026-06-30"
        conn.execute(sa.text("UPDATE job_runs SET rapport_path = :p WHERE run_id = :r"),
                     {"p": str(dossier / f"anomalies-{run_id}.ipynb"), "r": run_id})
    dossier.mkdir(parents=True, exist_ok=True)
    (dossier / f"anomalies-{run_id}.html").write_text("<p>Lots anormaux de tous les gaveurs</p>", encoding="utf-8")
    (dossier / "autre.html").write_text("<p>pas un rapport</p>", encoding="utf-8")
    chemin = f"/voila/rapports/2026-06-30/anomalies-{run_id}.html"
    page = {"Referer": f"{serveur['base']}/voila/render/accueil.ipynb"}
    for login, attendu in (("g1", 404), ("sup", 200), ("adm", 200)):
        client = Client(serveur["base"])
        assert client.login(login, base["mdp"][login])[0] == 302, login
        statut, _, corps = client.get(chemin, headers=page)
        assert statut == attendu and (("tous les gaveurs" in corps) == (attendu == 200)), (login, statut)
        assert client.get("/voila/rapports/2026-06-30/autre.html", headers=page)[0] == 404, login
        assert client.get("/voila/rapports/2026-06-30/absent.html", headers=page)[0] == 404, login
