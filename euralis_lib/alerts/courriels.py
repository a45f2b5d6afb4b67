"""Immediate e-mails for critical alerts: per-user opt-in, sent through ``EURALIS_SMTP_URL``, never twice.

A user subscribes as himself (:func:`abonner`, row-level security: his own row). The sender
(:func:`envoyer_critiques`, run by the pipeline — ``python -m euralis_lib.alerts.courriels`` listens for
new alerts and sends at once) asks the database which critical alerts each subscribed user may read
(``alertes_courriels_a_envoyer()``, ``sql/184``), sends one plain-text e-mail per alert and recipient, and
records it (``alertes_envois``). Without ``EURALIS_SMTP_URL`` nothing is sent.

``EURALIS_SMTP_URL``: ``smtp://[user:password@]host[:port][?from=alertes@example.org&starttls=1]``, or
``smtps://`` for TLS from the start.
"""

from __future__ import annotations

import logging
import os
import select
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg2
import psycopg2.extensions
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib.alerts import SEVERITES, AlertError
from euralis_lib.alerts.live import CANAL, dsn
from euralis_lib.database import db

SMTP_ENV = "EURALIS_SMTP_URL"
EXPEDITEUR = "alertes@euralis.invalid"
log = logging.getLogger("euralis.alertes.courriels")


@dataclass(frozen=True)
class Smtp:
    """Where and how to send: host, port, TLS, login, sender address."""

    hote: str
    port: int
    tls: bool
    starttls: bool
    utilisateur: str | None
    mot_de_passe: str | None = None
    expediteur: str = EXPEDITEUR

    @classmethod
    def depuis_url(cls, url: str) -> Smtp:
        """Parse an ``smtp://`` or ``smtps://`` URL."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise AlertError(f"{SMTP_ENV} : une URL smtp://hôte:port ou smtps://hôte:port est attendue.")
        options = parse_qs(parts.query)
        return cls(parts.hostname, parts.port or (465 if parts.scheme == "smtps" else 25), parts.scheme == "smtps",
                   options.get("starttls", ["0"])[0] == "1", unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None, options.get("from", [EXPEDITEUR])[0])

    def ouvrir(self) -> smtplib.SMTP:
        """A connected (and logged-in) SMTP client."""
        client = (smtplib.SMTP_SSL(self.hote, self.port, timeout=10, context=ssl.create_default_context())
                  if self.tls else smtplib.SMTP(self.hote, self.port, timeout=10))
        if self.starttls:
            client.starttls(context=ssl.create_default_context())
        if self.utilisateur:
            client.login(self.utilisateur, self.mot_de_passe or "")
        return client


def abonner(engine: Engine, courriel: str, critique_immediat: bool = True) -> None:
    """Subscribe the user (the engine's) to immediate e-mails of critical alerts written from now on, or
    change his address; ``critique_immediat=False`` stops them."""
    with db.connect(engine, transaction=True) as conn:
        conn.execute(sa.text(
            "INSERT INTO alertes_abonnements (login, courriel, critique_immediat, depuis_alerte) "
            "VALUES (euralis_lecteur(), :c, :i, (SELECT COALESCE(max(alerte_id), 0) FROM alertes)) "
            "ON CONFLICT (login) DO UPDATE SET courriel = EXCLUDED.courriel, "
            "critique_immediat = EXCLUDED.critique_immediat, modifie_le = now()"),
            {"c": courriel.strip(), "i": critique_immediat})


def _message(smtp: Smtp, ligne: sa.Row) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = smtp.expediteur
    msg["To"] = ligne.courriel
    msg["Subject"] = f"[Euralis] Alerte {SEVERITES[ligne.severite].lower()} – {ligne.site_code or 'Ops'}"
    msg.set_content(f"{ligne.message}\n\nSite : {ligne.site_code or '—'}\nDate : {ligne.horodatage:%d/%m/%Y %H:%M}"
                    f"\nAlerte n° {ligne.alerte_id} — à lire et acquitter sur la page Alertes du workbench.\n")
    return msg


def envoyer_critiques(engine: Engine, smtp_url: str | None = None) -> int:
    """Send the pending critical-alert e-mails (``engine``: a pipeline role); how many were sent. Nothing is
    sent without an SMTP URL (argument or ``EURALIS_SMTP_URL``)."""
    url = smtp_url or os.environ.get(SMTP_ENV)
    if not url:
        log.info("%s is not set: no alert e-mail sent", SMTP_ENV)
        return 0
    smtp = Smtp.depuis_url(url)
    with db.connect(engine) as conn:
        lignes = conn.execute(sa.text("SELECT * FROM alertes_courriels_a_envoyer()")).all()
    if not lignes:
        return 0
    envoyes = 0
    with smtp.ouvrir() as client:
        for ligne in lignes:
            client.send_message(_message(smtp, ligne))
            with db.connect(engine, transaction=True) as conn:
                conn.execute(sa.text("INSERT INTO alertes_envois (alerte_id, login) VALUES (:a, :l) "
                                     "ON CONFLICT DO NOTHING"), {"a": ligne.alerte_id, "l": ligne.login})
            envoyes += 1
    return envoyes


def suivre(engine: Engine, smtp_url: str | None = None, attente_s: float = 60.0) -> None:
    """Send at once after every alert written (LISTEN), and every ``attente_s`` seconds anyway."""
    conn = psycopg2.connect(**dsn(engine), application_name="euralis-courriels")
    conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    conn.cursor().execute(f"LISTEN {CANAL}")
    try:
        while True:
            envoyer_critiques(engine, smtp_url)
            select.select([conn], [], [], attente_s)
            conn.poll()
            conn.notifies.clear()
    finally:
        conn.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    suivre(db.get_engine())
