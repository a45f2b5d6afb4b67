"""Weekly reports by e-mail: per-user opt-in, the PDF as attachment, through ``EURALIS_SMTP_URL``, never twice.

A user subscribes as himself (:func:`abonner`, row-level security: his own row of ``rapports_abonnements``,
sql/191), from the « Rapports » page. After the ``rapport_hebdo`` job has archived its reports,
:func:`envoyer` (run by the pipeline) asks the database which of them each subscribed user may read
(``rapports_courriels_a_envoyer()``: the read rule of ``rapports``, sql/190), sends one e-mail per report and
recipient with the PDF attached, and records every attempt in ``rapports_envois``: a report sent is never sent
again to the same user; a failed attempt is recorded with its error, the others go on, and the next run
retries it. Without ``EURALIS_SMTP_URL`` nothing is sent. The SMTP settings are those of the alert e-mails
(:class:`euralis_lib.alerts.courriels.Smtp`).
"""

from __future__ import annotations

import logging
import os
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib.alerts.courriels import SMTP_ENV, Smtp, SubscriptionError, check_address
from euralis_lib.database import db
from euralis_lib.exceptions import EuralisError
from euralis_lib.presentation import formatting

log = logging.getLogger("euralis.rapports.courriels")
__all__ = ["Abonnement", "Bilan", "SubscriptionError", "abonnement", "abonner", "envoyer"]


@dataclass(frozen=True)
class Abonnement:
    """A user's subscription: his address and whether he receives the weekly reports."""

    courriel: str
    hebdo: bool


def abonner(engine: Engine, courriel: str, hebdo: bool = True) -> None:
    """Subscribe the engine's user to the weekly reports he may read (``hebdo=False`` stops them), or change his
    address."""
    courriel = check_address(courriel)
    with db.connect(engine, transaction=True) as conn:
        conn.execute(sa.text(
            "INSERT INTO rapports_abonnements (login, courriel, hebdo) VALUES (euralis_lecteur(), :c, :h) "
            "ON CONFLICT (login) DO UPDATE SET courriel = EXCLUDED.courriel, hebdo = EXCLUDED.hebdo, "
            "modifie_le = now()"), {"c": courriel, "h": hebdo})


def abonnement(engine: Engine) -> Abonnement | None:
    """The engine's user's subscription (None when he never subscribed)."""
    with db.connect(engine) as conn:
        ligne = conn.execute(sa.text(
            "SELECT courriel, hebdo FROM rapports_abonnements WHERE login = euralis_lecteur()")).one_or_none()
    return Abonnement(ligne.courriel, ligne.hebdo) if ligne else None


@dataclass
class Bilan:
    """What one sending did: whether SMTP is configured, how many e-mails left, the failures (login, file, error)."""

    configure: bool
    envoyes: int = 0
    echecs: list[tuple[str, str, str]] = field(default_factory=list)

    def texte(self) -> str:
        """The outcome in French, for the job's output."""
        if not self.configure:
            return f"{SMTP_ENV} n'est pas configurée : aucun rapport envoyé par courriel."
        lignes = [f"Rapports envoyés par courriel : {self.envoyes} ; échecs : {len(self.echecs)}."]
        lignes += [f"  échec pour {login} ({Path(fichier).name}) : {erreur}" for login, fichier, erreur in self.echecs]
        return "\n".join(lignes)


def _message(smtp: Smtp, ligne: sa.Row) -> EmailMessage:
    periode = f"semaine du {formatting.jour(ligne.debut)} au {formatting.jour(ligne.fin)}"
    sujet = f"site {ligne.site_code}" + (f", gaveur {ligne.gaveur}" if ligne.gaveur_id is not None else "")
    msg = EmailMessage()
    msg["From"] = smtp.expediteur
    msg["To"] = ligne.courriel
    msg["Subject"] = f"[Euralis] Rapport hebdomadaire – {sujet} – {periode}"
    msg.set_content(
        f"Bonjour,\n\nVous trouverez ci-joint le rapport hebdomadaire ({sujet}) de la {periode}.\n\n"
        "Vous le recevez parce que vous avez demandé les rapports hebdomadaires par courriel ; la page "
        "« Rapports » du workbench les garde tous et permet d'arrêter ces envois.\n")
    msg.add_attachment(Path(ligne.fichier).read_bytes(), maintype="application", subtype="pdf",
                       filename=Path(ligne.fichier).name)
    return msg


def _noter(engine: Engine, ligne: sa.Row, erreur: str | None) -> None:
    with db.connect(engine, transaction=True) as conn:
        conn.execute(sa.text(
            "INSERT INTO rapports_envois (rapport_id, login, courriel, ok, erreur) VALUES (:r, :l, :c, :ok, :e) "
            "ON CONFLICT (rapport_id, login) WHERE ok DO NOTHING"),
            {"r": ligne.rapport_id, "l": ligne.login, "c": ligne.courriel, "ok": erreur is None, "e": erreur})


def envoyer(engine: Engine, rapports: Sequence[int], smtp_url: str | None = None) -> Bilan:
    """E-mail the reports ``rapports`` (ids) to each subscribed user who may read them and has not received them
    (``engine``: a pipeline role). Nothing is sent without an SMTP URL (argument or ``EURALIS_SMTP_URL``). Every
    attempt is recorded; a failure (server down, refused address, missing file) never stops the others."""
    url = smtp_url or os.environ.get(SMTP_ENV)
    if not url:
        log.info("%s is not set: no report e-mailed", SMTP_ENV)
        return Bilan(configure=False)
    bilan = Bilan(configure=True)
    with db.connect(engine) as conn:
        lignes = conn.execute(sa.text("SELECT * FROM rapports_courriels_a_envoyer(:ids)"),
                              {"ids": [int(r) for r in rapports]}).all()
    client: smtplib.SMTP | None = None
    try:
        for ligne in lignes:
            try:
                smtp = Smtp.depuis_url(url)
                message = _message(smtp, ligne)
                client = client or smtp.ouvrir()
                client.send_message(message)
            except (OSError, smtplib.SMTPException, EuralisError) as exc:
                erreur = f"{type(exc).__name__}: {exc}"
                log.warning("report %s not e-mailed to %s: %s", ligne.rapport_id, ligne.login, erreur)
                bilan.echecs.append((ligne.login, ligne.fichier, erreur))
                _noter(engine, ligne, erreur)
                _fermer(client)  # a fresh connection for the next one
                client = None
                continue
            _noter(engine, ligne, None)
            bilan.envoyes += 1
    finally:
        _fermer(client)
    return bilan


def _fermer(client: smtplib.SMTP | None) -> None:
    if client is not None:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
