"""Users, passwords, sessions, throttling and the kernel token (euralis_lib.auth), on real PostgreSQL."""

from __future__ import annotations

import hashlib
import math
import os
import stat
import subprocess
import sys
from datetime import timedelta

import pytest
import sqlalchemy as sa

from euralis_lib.auth import jeton, utilisateurs
from euralis_lib.auth.acces import Utilisateur, web_url
from euralis_lib.database import db
from euralis_lib.exceptions import AuthError
from tests.helpers.connexion import SECRET

MDP = "correct horse battery"


@pytest.fixture
def engine(empty_db_url):
    engine = db.get_engine(empty_db_url)
    yield engine
    engine.dispose()


def _audit(engine, evenement: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM audit_acces WHERE evenement = :e"),
                            {"e": evenement}).scalar_one()


def test_password_is_stored_as_argon2_and_checked(engine):
    utilisateurs.create(engine, "marie", "Marie", "superviseur", MDP, sites=["LL"])
    with engine.connect() as conn:
        stocke = conn.execute(sa.text("SELECT mot_de_passe FROM utilisateurs")).scalar_one()
    assert stocke.startswith("$argon2id$") and MDP not in stocke
    assert utilisateurs.verifier(engine, "Marie ", MDP, ip="10.0.0.1") == Utilisateur("marie", "superviseur")
    with pytest.raises(AuthError, match="incorrect"):
        utilisateurs.verifier(engine, "marie", MDP + "x", ip="10.0.0.1")
    with pytest.raises(AuthError, match="incorrect"):
        utilisateurs.verifier(engine, "inconnu", MDP, ip="10.0.0.1")
    assert (_audit(engine, "connexion"), _audit(engine, "echec")) == (1, 2)
    assert "mot_de_passe" not in utilisateurs.lister(engine).columns


@pytest.mark.parametrize(("role", "kwargs", "message"), [
    ("gaveur", {}, "lié à un gaveur"), ("admin", {"sites": ["LL"]}, "superviseur"), ("chef", {}, "Rôle inconnu")])
def test_inconsistent_users_are_refused_before_writing(engine, role, kwargs, message):
    with pytest.raises(AuthError, match=message):
        utilisateurs.create(engine, "paul", "Paul", role, MDP, **kwargs)
    with pytest.raises(AuthError, match="trop court"):
        utilisateurs.create(engine, "paul", "Paul", "admin", "court")
    assert utilisateurs.lister(engine).empty


def _attente(engine, login: str, ip: str) -> timedelta:
    with engine.connect() as conn:
        return utilisateurs.attente(conn, login, ip)


def _vieillir(engine, duree: timedelta) -> None:
    """Move every audit row ``duree`` into the past (time passing)."""
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_acces SET horodatage = horodatage - :d"), {"d": duree})


def test_failed_logins_slow_the_attacker_without_locking_the_user_out(engine):
    utilisateurs.create(engine, "marie", "Marie", "admin", MDP)
    for _ in range(utilisateurs.ESSAIS_LIBRES):
        with pytest.raises(AuthError, match="incorrect"):
            utilisateurs.verifier(engine, "marie", "mauvais mot", ip="10.0.0.9")
    # From the attacker's address the next attempt must wait, right password or not (it is not checked) …
    with pytest.raises(AuthError, match="réessayez dans [345] secondes"):
        utilisateurs.verifier(engine, "marie", MDP, ip="10.0.0.9")
    # … while the real user, from her own address, logs in at once: nobody is locked out.
    assert utilisateurs.verifier(engine, "marie", MDP, ip="10.0.0.1").login == "marie"
    # Once the wait is over an attempt is checked again; each further failure doubles the wait, up to DELAI_MAX.
    _vieillir(engine, _attente(engine, "marie", "10.0.0.9"))
    with pytest.raises(AuthError, match="incorrect"):
        utilisateurs.verifier(engine, "marie", "mauvais mot", ip="10.0.0.9")
    attentes = [math.ceil(_attente(engine, "marie", "10.0.0.9").total_seconds())]
    for _ in range(4):
        with engine.begin() as conn:
            utilisateurs.audit(conn, "echec", "marie", "10.0.0.9")
        attentes.append(math.ceil(_attente(engine, "marie", "10.0.0.9").total_seconds()))
    assert attentes == [10, 20, 40, 80, 160]
    with engine.begin() as conn:
        for _ in range(30):
            utilisateurs.audit(conn, "echec", "marie", "10.0.0.9")
    assert math.ceil(_attente(engine, "marie", "10.0.0.9").total_seconds()) == utilisateurs.DELAI_MAX.total_seconds()
    assert _audit(engine, "blocage") == 1
    # A success from that address forgets the login's failures there; failures older than the window too.
    _vieillir(engine, utilisateurs.DELAI_MAX)
    assert utilisateurs.verifier(engine, "marie", MDP, ip="10.0.0.9").login == "marie"
    assert _attente(engine, "marie", "10.0.0.9") == timedelta(0)
    with pytest.raises(AuthError, match="incorrect"):
        utilisateurs.verifier(engine, "marie", "mauvais mot", ip="10.0.0.3")
    _vieillir(engine, utilisateurs.ECHECS_FENETRE)
    assert _attente(engine, "marie", "10.0.0.3") == timedelta(0)


def test_one_address_trying_many_logins_is_slowed_for_all_of_them(engine):
    utilisateurs.create(engine, "jean", "Jean", "superviseur", MDP)
    for i in range(utilisateurs.ESSAIS_LIBRES_ADRESSE):
        with pytest.raises(AuthError, match="incorrect"):
            utilisateurs.verifier(engine, f"inconnu{i}", "mauvais mot", ip="10.0.0.50")
    with pytest.raises(AuthError, match="réessayez dans"):
        utilisateurs.verifier(engine, "jean", MDP, ip="10.0.0.50")
    assert utilisateurs.verifier(engine, "jean", MDP, ip="10.0.0.51").login == "jean"


def test_sessions_end_on_logout_expiry_disable_and_password_change(engine):
    utilisateurs.create(engine, "marie", "Marie", "admin", MDP)
    marie = Utilisateur("marie", "admin")

    def ouvrir(**kwargs: object) -> str:
        return utilisateurs.ouvrir_session(engine, marie, secret=SECRET, **kwargs)

    ouverte = ouvrir()
    assert utilisateurs.session(engine, ouverte, secret=SECRET) == marie
    assert utilisateurs.session(engine, ouverte + "x", secret=SECRET) is None
    # The cookie's token is not enough: the session's kernel token (derived with the server's secret) must match.
    assert utilisateurs.session(engine, ouverte, secret=SECRET + b"!") is None
    utilisateurs.fermer_session(engine, ouverte)
    assert utilisateurs.session(engine, ouverte, secret=SECRET) is None
    assert utilisateurs.session(engine, ouvrir(duree=timedelta(seconds=-1)), secret=SECRET) is None
    autre = ouvrir()
    utilisateurs.changer_mot_de_passe(engine, "marie", MDP + "!")
    assert utilisateurs.session(engine, autre, secret=SECRET) is None
    derniere = ouvrir()
    utilisateurs.desactiver(engine, "marie")
    assert utilisateurs.session(engine, derniere, secret=SECRET) is None
    with pytest.raises(AuthError, match="incorrect"):
        utilisateurs.verifier(engine, "marie", MDP + "!")
    noyaux = [jeton.deriver(s, SECRET) for s in (ouverte, autre)]
    with engine.connect() as conn:
        stocke = conn.execute(sa.text("SELECT count(*) FROM sessions_web WHERE session_id IN (:a, :b) "
                                      "OR jeton_noyau IN (:c, :d)"),
                              {"a": ouverte, "b": autre, "c": noyaux[0], "d": noyaux[1]}).scalar_one()
        hashes = conn.execute(sa.text("SELECT count(*) FROM sessions_web WHERE jeton_noyau IN (:c, :d)"),
                              {"c": hashlib.sha256(noyaux[0].encode()).hexdigest(),
                               "d": hashlib.sha256(noyaux[1].encode()).hexdigest()}).scalar_one()
    assert stocke == 0, "the database keeps hashes of session and kernel tokens, never the tokens"
    assert hashes == 2


def test_the_kernel_token_is_the_sessions_and_the_database_says_whose_it_is(engine):
    """What a kernel learns from its token (euralis_moi() as euralis_web): the session's user while the session
    is open; nothing for a forged, malformed, logged-out, expired or disabled-user token."""
    web = db.get_engine(web_url(engine.url.render_as_string(hide_password=False)))
    utilisateurs.create(engine, "marie", "Marie", "superviseur", MDP)
    utilisateurs.create(engine, "paul", "Paul", "admin", MDP)
    session = utilisateurs.ouvrir_session(engine, Utilisateur("marie", "superviseur"), secret=SECRET)
    noyau = jeton.deriver(session, SECRET)
    assert len(noyau) == 64 and noyau not in session and noyau != jeton.deriver(session, SECRET + b"!")
    assert noyau == utilisateurs.session(engine, session, secret=SECRET).jeton
    moi = jeton.utilisateur_du_jeton(web, noyau)
    assert moi == Utilisateur("marie", "superviseur") and moi.jeton == noyau
    assert noyau not in repr(moi), "the token stays out of logs"
    for faux in (jeton.deriver(session, SECRET + b"!"), "0" * 64, noyau.upper(), noyau + " -c role=postgres",
                 "", None):
        assert jeton.utilisateur_du_jeton(web, faux) is None, faux
    paul = jeton.deriver(utilisateurs.ouvrir_session(engine, Utilisateur("paul", "admin"), secret=SECRET), SECRET)
    assert jeton.utilisateur_du_jeton(web, paul) == Utilisateur("paul", "admin")
    utilisateurs.fermer_session(engine, session)
    assert jeton.utilisateur_du_jeton(web, noyau) is None
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sessions_web SET expire_le = now() - interval '1 second' WHERE login = 'paul'"))
    assert jeton.utilisateur_du_jeton(web, paul) is None
    recent = jeton.deriver(utilisateurs.ouvrir_session(engine, Utilisateur("paul", "admin"), secret=SECRET), SECRET)
    assert jeton.utilisateur_du_jeton(web, recent) == Utilisateur("paul", "admin")
    utilisateurs.desactiver(engine, "paul")
    assert jeton.utilisateur_du_jeton(web, recent) is None


def test_first_admin_password_is_random_printed_once_and_kept_private(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("EURALIS_HOME", str(tmp_path))
    login, mot_de_passe = utilisateurs.premier_admin(engine)
    fichier = tmp_path / "premier_admin.txt"
    assert stat.S_IMODE(fichier.stat().st_mode) == 0o600 and mot_de_passe in fichier.read_text()
    assert utilisateurs.verifier(engine, login, mot_de_passe).role == "admin"
    assert utilisateurs.premier_admin(engine) is None
    # Once that password is changed, the file that holds it goes (another user's change leaves it).
    utilisateurs.create(engine, "autre", "Autre", "superviseur", MDP)
    utilisateurs.changer_mot_de_passe(engine, "autre", MDP + "!")
    assert fichier.exists()
    utilisateurs.changer_mot_de_passe(engine, login, MDP + "!")
    assert not fichier.exists()
    monkeypatch.delenv("EURALIS_SESSION_SECRET", raising=False)
    secret = utilisateurs.secret_session()
    assert len(secret) >= 32 and utilisateurs.secret_session() == secret
    assert stat.S_IMODE((tmp_path / "session_secret").stat().st_mode) == 0o600


def test_users_command_adds_lists_and_disables(empty_db_url):
    env = {**os.environ, "EURALIS_DATABASE_URL": empty_db_url}

    def run(*args: str, entree: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "euralis_lib", "users", *args], input=entree, env=env,
                              capture_output=True, text=True, timeout=120)

    ajout = run("add", "marie", "--role", "superviseur", "--sites", "ll,mt", "--password-stdin", entree=MDP + "\n")
    assert ajout.returncode == 0, ajout.stderr
    refus = run("add", "paul", "--role", "gaveur", "--password-stdin", entree=MDP + "\n")
    assert refus.returncode == 2 and "gaveur" in refus.stderr and "Traceback" not in refus.stderr
    assert run("disable", "marie").returncode == 0
    liste = run("list")
    assert "marie" in liste.stdout and "False" in liste.stdout and "argon2" not in liste.stdout
    assert "[LL, MT]" in liste.stdout


def test_serving_on_the_network_without_login_is_refused():
    from euralis_lib.exceptions import ServeError
    from euralis_lib.serving import serve

    with pytest.raises(ServeError, match="sans connexion"):
        serve.start(0, host="0.0.0.0", login=False)
    commande = serve.voila_command(8866, host="0.0.0.0")
    assert any("EuralisIdentityProvider" in option for option in commande)
    assert not any("Identity" in option for option in serve.voila_command(8866, login=False))
