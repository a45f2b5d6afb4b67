"""Dashboard users: argon2 password hashes, server-side sessions, failed-login throttling, audit rows.

Throttling slows an attacker without locking anyone out (:func:`verifier`): failures are counted per
login AND address, and per address across logins; after a few free attempts each new attempt must wait
a delay that doubles per failure, capped at :data:`DELAI_MAX`. The right password from another address
is never slowed by someone else's failures.

Runs in the Voilà server process and the ``users`` command, with the owner's connection (the tables
of ``sql/111_utilisateurs.sql`` are out of reach of the dashboards' roles). A session is a random
token: the browser holds it in a signed cookie, the database its sha256 with an expiry, so logout,
a password change and disabling the user revoke it at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Engine

from euralis_lib import config
from euralis_lib.auth import ROLES
from euralis_lib.auth.acces import Utilisateur
from euralis_lib.auth.jeton import deriver
from euralis_lib.database import db
from euralis_lib.exceptions import AuthError

MOT_DE_PASSE_MIN = 10
SESSION_DUREE = timedelta(hours=12)
# Throttling: ESSAIS_LIBRES failures per login and address (ESSAIS_LIBRES_ADRESSE per address, any login) are
# free; then an attempt waits DELAI_BASE doubled per further failure, at most DELAI_MAX after the last failure.
# Failures older than ECHECS_FENETRE are forgotten, and a login's failures from an address by its success there.
ESSAIS_LIBRES = 3
ESSAIS_LIBRES_ADRESSE = 20
DELAI_BASE = timedelta(seconds=5)
DELAI_MAX = timedelta(minutes=5)
ECHECS_FENETRE = timedelta(hours=1)
REFUS = "Identifiant ou mot de passe incorrect."
RALENTI = ("Trop de tentatives de connexion échouées depuis cette adresse : réessayez dans {attente} "
           "(ou demandez à un administrateur).")

_hasher = PasswordHasher()
# Verified against when the login is unknown, so that timing does not tell which logins exist.
_HASH_FACTICE = _hasher.hash(secrets.token_hex(16))


def audit(conn: Connection, evenement: str, login: str | None, ip: str | None = None, **detail: object) -> None:
    """Record an access event (``connexion``, ``echec``, ``blocage``, ``deconnexion``, ``refus``, ``admin``)."""
    # clock_timestamp(): when the event happened (a failure after its password check), not when its transaction began.
    conn.execute(sa.text("INSERT INTO audit_acces (horodatage, evenement, login, ip, detail) "
                         "VALUES (clock_timestamp(), :e, :l, :ip, :d)"),
                 {"e": evenement, "l": login, "ip": ip, "d": json.dumps(detail, default=str)})


def _valider(role: str, gaveur_id: int | None, sites: Sequence[str] | None) -> None:
    if role not in ROLES:
        raise AuthError(f"Rôle inconnu {role!r} : choisir parmi {', '.join(ROLES)}.")
    if (role == "gaveur") != (gaveur_id is not None):
        raise AuthError("Un utilisateur « gaveur » est lié à un gaveur (--gaveur N), et seulement lui.")
    if sites and role != "superviseur":
        raise AuthError("Seul un superviseur peut être limité à des sites (--sites).")


def _verifier_mot_de_passe(mot_de_passe: str) -> None:
    if len(mot_de_passe) < MOT_DE_PASSE_MIN:
        raise AuthError(f"Mot de passe trop court : au moins {MOT_DE_PASSE_MIN} caractères.")


def _existe(conn: Connection, login: str) -> None:
    if conn.execute(sa.text("SELECT 1 FROM utilisateurs WHERE login = :l"), {"l": login}).first() is None:
        raise AuthError(f"Utilisateur inconnu : {login!r} (voir « python -m euralis_lib users list »).")


def create(engine: Engine, login: str, nom: str, role: str, mot_de_passe: str, *, gaveur_id: int | None = None,
          sites: Sequence[str] | None = None, par: str | None = None) -> None:
    """Add a user (refused when the login exists, the role is unknown or the password is too short)."""
    _valider(role, gaveur_id, sites)
    _verifier_mot_de_passe(mot_de_passe)
    with db.connect(engine, transaction=True) as conn:
        try:
            with conn.begin_nested():
                conn.execute(sa.text(
                    "INSERT INTO utilisateurs (login, nom, role, gaveur_id, sites, mot_de_passe) "
                    "VALUES (:l, :n, :r, :g, :s, :h)"),
                    {"l": login, "n": nom, "r": role, "g": gaveur_id, "s": list(sites) if sites else None,
                     "h": _hasher.hash(mot_de_passe)})
        except sa.exc.IntegrityError as exc:
            raise AuthError(f"Utilisateur refusé ({login!r}) : identifiant déjà pris, invalide (minuscules, "
                            f"chiffres, . _ -) ou gaveur inconnu. {str(exc.orig).splitlines()[0]}") from exc
        audit(conn, "admin", par, action="users add", cible=login, role=role)


def lister(engine: Engine) -> pd.DataFrame:
    """Every user, without password hashes."""
    return db.read_df(engine, "SELECT login, nom, role, gaveur_id, sites, actif, cree_le, modifie_le "
                              "FROM utilisateurs ORDER BY login")


def revoquer_sessions(conn: Connection, login: str) -> None:
    """End every open session of ``login``."""
    conn.execute(sa.text("UPDATE sessions_web SET revoquee_le = now() WHERE login = :l AND revoquee_le IS NULL"),
                 {"l": login})


def desactiver(engine: Engine, login: str, *, par: str | None = None) -> None:
    """Disable a user and end their sessions (rows they own stay)."""
    with db.connect(engine, transaction=True) as conn:
        _existe(conn, login)
        conn.execute(sa.text("UPDATE utilisateurs SET actif = false, modifie_le = now() WHERE login = :l"),
                     {"l": login})
        revoquer_sessions(conn, login)
        audit(conn, "admin", par, action="users disable", cible=login)


def changer_mot_de_passe(engine: Engine, login: str, mot_de_passe: str, *, par: str | None = None) -> None:
    """Set a new password (and re-enable the user); ends their sessions."""
    _verifier_mot_de_passe(mot_de_passe)
    with db.connect(engine, transaction=True) as conn:
        _existe(conn, login)
        conn.execute(sa.text("UPDATE utilisateurs SET mot_de_passe = :h, actif = true, modifie_le = now() "
                             "WHERE login = :l"), {"l": login, "h": _hasher.hash(mot_de_passe)})
        revoquer_sessions(conn, login)
        audit(conn, "admin", par, action="users passwd", cible=login)
    _oublier_premier_admin(login)


def changer_role(engine: Engine, login: str, role: str, *, gaveur_id: int | None = None,
                 sites: Sequence[str] | None = None, par: str | None = None) -> None:
    """Change a user's role (gaveur link, sites); ends their sessions."""
    _valider(role, gaveur_id, sites)
    with db.connect(engine, transaction=True) as conn:
        _existe(conn, login)
        conn.execute(sa.text("UPDATE utilisateurs SET role = :r, gaveur_id = :g, sites = :s, modifie_le = now() "
                             "WHERE login = :l"),
                     {"l": login, "r": role, "g": gaveur_id, "s": list(sites) if sites else None})
        revoquer_sessions(conn, login)
        audit(conn, "admin", par, action="users role", cible=login, role=role)


def delai(echecs: int, libres: int) -> timedelta:
    """The wait after ``echecs`` failures when ``libres`` are free: 0, then DELAI_BASE doubling, ≤ DELAI_MAX."""
    if echecs < libres:
        return timedelta(0)
    return min(DELAI_BASE * 2 ** min(echecs - libres, 30), DELAI_MAX)


def attente(conn: Connection, login: str, ip: str | None) -> timedelta:
    """How long ``login`` must wait before an attempt from ``ip`` is checked (0: now)."""
    ligne = conn.execute(sa.text(
        "WITH depuis AS (SELECT greatest(now() - :f, coalesce(max(horodatage), '-infinity')) AS t FROM audit_acces "
        "                WHERE evenement = 'connexion' AND login = :l AND ip IS NOT DISTINCT FROM :ip), "
        "par_login AS (SELECT count(*) AS n, max(horodatage) AS dernier FROM audit_acces, depuis "
        "              WHERE evenement = 'echec' AND login = :l AND ip IS NOT DISTINCT FROM :ip "
        "                AND horodatage > depuis.t), "
        "par_adresse AS (SELECT count(*) AS n, max(horodatage) AS dernier FROM audit_acces "
        "                WHERE evenement = 'echec' AND ip IS NOT DISTINCT FROM :ip AND horodatage > now() - :f) "
        "SELECT par_login.n AS n_login, par_login.dernier AS dernier_login, par_adresse.n AS n_adresse, "
        "       par_adresse.dernier AS dernier_adresse, now() AS maintenant FROM par_login, par_adresse"),
        {"l": login, "ip": ip, "f": ECHECS_FENETRE}).one()
    fins = [ligne.dernier_login + delai(ligne.n_login, ESSAIS_LIBRES) if ligne.n_login else None,
            ligne.dernier_adresse + delai(ligne.n_adresse, ESSAIS_LIBRES_ADRESSE) if ligne.n_adresse else None]
    return max([fin - ligne.maintenant for fin in fins if fin is not None] + [timedelta(0)])


def _en_clair(duree: timedelta) -> str:
    """``12 secondes``, ``4 min 16 s`` (rounded up)."""
    secondes = max(1, math.ceil(duree.total_seconds()))
    if secondes < 60:
        return f"{secondes} seconde{'s' if secondes > 1 else ''}"
    return f"{secondes // 60} min {secondes % 60:02d} s"


def verifier(engine: Engine, login: str, mot_de_passe: str, ip: str | None = None) -> Utilisateur:
    """The user when login and password match an active account; :class:`AuthError` (French) otherwise.

    An attempt that comes before its :func:`attente` is over is refused without checking the password,
    with the time to wait; the account itself is never locked.
    """
    login = login.strip().lower()
    # The audit row is committed before the refusal is raised.
    with db.connect(engine, transaction=True) as conn:
        reste = attente(conn, login, ip)
        if reste > timedelta(0):
            audit(conn, "blocage", login, ip, attente_s=round(reste.total_seconds(), 1))
            refus = RALENTI.format(attente=_en_clair(reste))
        else:
            ligne = conn.execute(sa.text("SELECT role, actif, mot_de_passe FROM utilisateurs WHERE login = :l"),
                                 {"l": login}).first()
            try:
                _hasher.verify(ligne.mot_de_passe if ligne else _HASH_FACTICE, mot_de_passe)
                refus = None if ligne is not None and ligne.actif else REFUS
            except (VerificationError, InvalidHashError):
                refus = REFUS
            audit(conn, "echec" if refus else "connexion", login, ip)
    if refus:
        raise AuthError(refus)
    return Utilisateur(login, ligne.role)


def _empreinte(jeton: str) -> str:
    return hashlib.sha256(jeton.encode()).hexdigest()


def ouvrir_session(engine: Engine, utilisateur: Utilisateur, ip: str | None = None,
                   duree: timedelta = SESSION_DUREE, *, secret: bytes | None = None) -> str:
    """A new session for ``utilisateur``: the random token to put in the (signed) cookie. The database
    keeps the sha256 of the token and of the session's kernel token (:func:`~euralis_lib.auth.jeton.deriver` with
    ``secret``, default :func:`secret_session`)."""
    jeton = secrets.token_urlsafe(32)
    noyau = deriver(jeton, secret if secret is not None else secret_session())
    with db.connect(engine, transaction=True) as conn:
        conn.execute(sa.text("INSERT INTO sessions_web (session_id, login, expire_le, ip, jeton_noyau) "
                             "VALUES (:s, :l, now() + :d, :ip, :n)"),
                     {"s": _empreinte(jeton), "l": utilisateur.login, "d": duree, "ip": ip,
                      "n": _empreinte(noyau)})
    return jeton


def session(engine: Engine, jeton: str, *, secret: bytes | None = None) -> Utilisateur | None:
    """The user of an open, unexpired session of an active user, carrying the session's kernel token
    (derived with ``secret``, default :func:`secret_session`, and checked against the stored hash); None
    otherwise."""
    noyau = deriver(jeton, secret if secret is not None else secret_session())
    with db.connect(engine) as conn:
        ligne = conn.execute(sa.text(
            "SELECT u.login, u.role FROM sessions_web s JOIN utilisateurs u USING (login) "
            "WHERE s.session_id = :s AND s.jeton_noyau = :n AND s.revoquee_le IS NULL AND s.expire_le > now() "
            "AND u.actif"),
            {"s": _empreinte(jeton), "n": _empreinte(noyau)}).first()
    return Utilisateur(ligne.login, ligne.role, noyau) if ligne else None


def fermer_session(engine: Engine, jeton: str, ip: str | None = None) -> None:
    """Logout: revoke the session of ``jeton`` (no-op when unknown)."""
    with db.connect(engine, transaction=True) as conn:
        login = conn.execute(sa.text("UPDATE sessions_web SET revoquee_le = now() WHERE session_id = :s "
                                     "AND revoquee_le IS NULL RETURNING login"), {"s": _empreinte(jeton)}).scalar()
        if login:
            audit(conn, "deconnexion", login, ip)


def _fichier_prive(chemin: Path, contenu: str) -> None:
    chemin.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(chemin, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(contenu)


def secret_session() -> bytes:
    """The key signing cookies and kernel identities: ``EURALIS_SESSION_SECRET``, else a random key kept
    0600 in ``<EURALIS_HOME>/session_secret`` (created on first use)."""
    valeur = os.environ.get("EURALIS_SESSION_SECRET", "").strip()
    if valeur:
        if len(valeur) < 32:
            raise AuthError("EURALIS_SESSION_SECRET est trop court : au moins 32 caractères aléatoires.")
        return valeur.encode()
    chemin = config.home_dir() / "session_secret"
    if not chemin.exists():
        try:
            _fichier_prive(chemin, secrets.token_urlsafe(48))
        except FileExistsError:
            pass
    return chemin.read_text().strip().encode()


def _fichier_premier_admin() -> Path:
    return config.home_dir() / "premier_admin.txt"


def _oublier_premier_admin(login: str) -> None:
    """Delete the first admin's password file once that password is changed (it no longer opens anything)."""
    chemin = _fichier_premier_admin()
    if chemin.exists() and f"login: {login}\n" in chemin.read_text(encoding="utf-8", errors="replace"):
        chemin.unlink(missing_ok=True)


def premier_admin(engine: Engine) -> tuple[str, str] | None:
    """When no user exists: create ``admin`` with a random password, store it 0600 in
    ``<EURALIS_HOME>/premier_admin.txt`` (deleted when that password is changed) and return (login, password);
    None otherwise."""
    with db.connect(engine) as conn:
        if conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM utilisateurs)")).scalar_one():
            return None
    mot_de_passe = secrets.token_urlsafe(12)
    create(engine, "admin", "Administrateur", "admin", mot_de_passe, par="make run")
    chemin = _fichier_premier_admin()
    chemin.unlink(missing_ok=True)
    _fichier_prive(chemin, f"login: admin\nmot de passe: {mot_de_passe}\n")
    return "admin", mot_de_passe
