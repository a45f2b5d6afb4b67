"""Alert e-mails: immediate ones for critical alerts and a daily digest, per-user opt-in, sent through
``EURALIS_SMTP_URL``, never twice.

A user subscribes as himself (:func:`abonner`, row-level security: his own row), from the « Alertes » page.
The senders run as the pipeline and ask the database what each subscribed active user may read (the read
rule of ``alertes`` per user, ``alertes_lisible()``, sql/195):

- :func:`envoyer_critiques` — ``python -m euralis_lib.alerts.courriels`` listens for new alerts and sends at
  once — one plain-text e-mail per critical alert and recipient (``alertes_courriels_a_envoyer()``, sql/184),
  recorded in ``alertes_envois``;
- :func:`envoyer_resumes` — the scheduler daemon every morning, or ``python -m euralis_lib.alerts.courriels
  --resume`` — one digest per user and Paris day listing the alerts raised since his last digest, grouped by
  severity then site (``alertes_resumes_a_envoyer()``, sql/195), recorded in ``alertes_resumes`` in the
  transaction that sends it. No alert for him: no e-mail.

Without ``EURALIS_SMTP_URL`` nothing is sent.

``EURALIS_SMTP_URL``: ``smtp://[user:password@]host[:port][?from=alertes@example.org&starttls=1]``, or
``smtps://`` for TLS from the start.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import select
import smtplib
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import psycopg2
import psycopg2.extensions
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib.alerts import SEVERITES, AlertError
from euralis_lib.alerts.live import CANAL, dsn
from euralis_lib.database import db
from euralis_lib.presentation import formatting
from euralis_lib.presentation.markup import Markup, element, join

SMTP_ENV = "EURALIS_SMTP_URL"
EXPEDITEUR = "alertes@euralis.invalid"
PARIS = ZoneInfo("Europe/Paris")
# The digest's groups: severities from the most serious, then sites; alerts without a site are the workbench's.
ORDRE_SEVERITES = ("critique", "attention", "info")
SANS_SITE = "Exploitation (sans site)"
LIGNES_PAR_GROUPE = 20  # alerts listed per severity and site; the others are counted
_PIED = ("Les alertes se lisent et s'acquittent sur la page Alertes du workbench. Vous recevez ce résumé parce que "
         "vous l'avez demandé sur cette page (section « Courriels »), où vous pouvez l'arrêter.")
_ADRESSE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
log = logging.getLogger("euralis.alertes.courriels")


class SubscriptionError(AlertError):
    """A subscription was refused (an address that is not one)."""


def check_address(courriel: str) -> str:
    """The address without surrounding blanks; SubscriptionError (in French) if it is not one."""
    courriel = courriel.strip()
    if not re.match(_ADRESSE, courriel):
        raise SubscriptionError(f"« {courriel} » n'est pas une adresse électronique (exemple : nom@exemple.fr).")
    return courriel


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


@dataclass(frozen=True)
class Abonnement:
    """A user's alert e-mails: his address, immediate critical alerts, daily digest."""

    courriel: str
    critique_immediat: bool
    resume_quotidien: bool


def abonner(engine: Engine, courriel: str, critique_immediat: bool = True, resume_quotidien: bool = False) -> None:
    """Subscribe the user (the engine's) to immediate e-mails of critical alerts and/or the daily digest, or
    change his address; ``False`` stops either. Each starts from the alerts written after it is switched on (no
    flood of history)."""
    courriel = check_address(courriel)
    with db.connect(engine, transaction=True) as conn:
        conn.execute(sa.text(
            "INSERT INTO alertes_abonnements (login, courriel, critique_immediat, depuis_alerte, resume_quotidien, "
            "resume_depuis_alerte) SELECT euralis_lecteur(), :c, :i, m, :r, m "
            "FROM (SELECT COALESCE(max(alerte_id), 0) AS m FROM alertes) AS dernier "
            "ON CONFLICT (login) DO UPDATE SET courriel = EXCLUDED.courriel, "
            "critique_immediat = EXCLUDED.critique_immediat, resume_quotidien = EXCLUDED.resume_quotidien, "
            "depuis_alerte = CASE WHEN alertes_abonnements.critique_immediat THEN alertes_abonnements.depuis_alerte "
            "ELSE EXCLUDED.depuis_alerte END, "
            "resume_depuis_alerte = CASE WHEN alertes_abonnements.resume_quotidien "
            "THEN alertes_abonnements.resume_depuis_alerte ELSE EXCLUDED.resume_depuis_alerte END, modifie_le = now()"),
            {"c": courriel, "i": critique_immediat, "r": resume_quotidien})


def abonnement(engine: Engine) -> Abonnement | None:
    """The engine's user's alert e-mails (None when he never subscribed)."""
    with db.connect(engine) as conn:
        ligne = conn.execute(sa.text("SELECT courriel, critique_immediat, resume_quotidien FROM alertes_abonnements "
                                     "WHERE login = euralis_lecteur()")).one_or_none()
    return Abonnement(ligne.courriel, ligne.critique_immediat, ligne.resume_quotidien) if ligne else None


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


def paris_day(instant: datetime | None = None) -> date:
    """The day in Paris at ``instant`` (now by default): a digest is sent at most once per user and such day."""
    return (instant or datetime.now(PARIS)).astimezone(PARIS).date()


def _groupes(lignes: Sequence[sa.Row]) -> dict[str, dict[str, list[sa.Row]]]:
    """The alerts by severity (most serious first), then by site (sites in order, alerts without site last)."""
    groupes: dict[str, dict[str, list[sa.Row]]] = {}
    for severite in ORDRE_SEVERITES:
        siennes = [ligne for ligne in lignes if ligne.severite == severite]
        sites = sorted({ligne.site_code for ligne in siennes}, key=lambda s: (s is None, s or ""))
        if siennes:
            groupes[severite] = {f"Site {site}" if site else SANS_SITE: [ligne for ligne in siennes
                                                                         if ligne.site_code == site]
                                 for site in sites}
    return groupes


def _ligne_resume(ligne: sa.Row) -> str:
    """One alert of the digest: time, lot, message, read and acknowledged state."""
    etat = ("lue" if ligne.lue else "non lue") + (", acquittée" if ligne.acquittee else "")
    lot = f" · lot {ligne.code_lot}" if ligne.code_lot else ""
    return f"{formatting.horodatage(ligne.horodatage)}{lot} · {ligne.message} ({etat})"


def _sujet(jour: date, lignes: Sequence[sa.Row]) -> str:
    critiques = sum(ligne.severite == "critique" for ligne in lignes)
    return (f"[Euralis] Résumé des alertes du {formatting.jour(jour)} – {len(lignes)} alerte(s)"
            + (f", dont {critiques} critique(s)" if critiques else ""))


def _resume_html(jour: date, groupes: dict[str, dict[str, list[sa.Row]]], total: int) -> Markup:
    """The digest as a simple HTML part: every value escaped by :mod:`markup`."""
    parties: list[Markup] = [element("p", "Bonjour,"), element(
        "p", f"Résumé du {formatting.jour(jour)} : {total} alerte(s) que vous pouvez lire, levée(s) depuis votre "
             "dernier résumé.")]
    for severite, sites in groupes.items():
        parties.append(element("h2", f"{SEVERITES[severite]} : {sum(len(a) for a in sites.values())}"))
        for site, alertes in sites.items():
            autres = len(alertes) - LIGNES_PAR_GROUPE
            items = [element("li", _ligne_resume(a)) for a in alertes[:LIGNES_PAR_GROUPE]]
            if autres > 0:
                items.append(element("li", f"… et {autres} autre(s) sur la page Alertes"))
            parties += [element("h3", f"{site} : {len(alertes)}"), element("ul", join(items))]
    parties.append(element("p", _PIED))
    return element("html", element("body", join(parties)))


def resume_message(smtp: Smtp, jour: date, lignes: Sequence[sa.Row]) -> EmailMessage:
    """One user's digest (``lignes``: his rows of ``alertes_resumes_a_envoyer()``): French plain text, grouped by
    severity then site with counts, and the same as an escaped HTML part."""
    groupes = _groupes(lignes)
    texte = [f"Bonjour,\n\nRésumé du {formatting.jour(jour)} : {len(lignes)} alerte(s) que vous pouvez lire, "
             "levée(s) depuis votre dernier résumé."]
    for severite, sites in groupes.items():
        texte.append(f"\n== {SEVERITES[severite]} : {sum(len(a) for a in sites.values())} ==")
        for site, alertes in sites.items():
            texte.append(f"{site} : {len(alertes)}")
            texte += [f"  - {_ligne_resume(a)}" for a in alertes[:LIGNES_PAR_GROUPE]]
            if len(alertes) > LIGNES_PAR_GROUPE:
                texte.append(f"  … et {len(alertes) - LIGNES_PAR_GROUPE} autre(s) sur la page Alertes")
    texte.append(f"\n{_PIED}\n")
    msg = EmailMessage()
    msg["From"] = smtp.expediteur
    msg["To"] = lignes[0].courriel
    msg["Subject"] = _sujet(jour, lignes)
    msg.set_content("\n".join(texte))
    msg.add_alternative(str(_resume_html(jour, groupes, len(lignes))), subtype="html")
    return msg


def envoyer_resumes(engine: Engine, smtp_url: str | None = None, jour: date | None = None) -> int:
    """Send the daily digests of ``jour`` (the Paris day by default; ``engine``: a pipeline role); how many were
    sent. Each subscribed active user gets at most one per day, listing the alerts he reads raised since his last
    one, and none when there is none. The digest is recorded in the transaction that sends it: a failed sending
    records nothing (the next call retries), a concurrent sender waits and then sends nothing. Nothing is sent
    without an SMTP URL (argument or ``EURALIS_SMTP_URL``)."""
    url = smtp_url or os.environ.get(SMTP_ENV)
    if not url:
        log.info("%s is not set: no alert digest sent", SMTP_ENV)
        return 0
    smtp, jour = Smtp.depuis_url(url), jour or paris_day()
    with db.connect(engine) as conn:
        jusqu_a = conn.execute(sa.text("SELECT COALESCE(max(alerte_id), 0) FROM alertes")).scalar_one()
        lignes = conn.execute(sa.text("SELECT * FROM alertes_resumes_a_envoyer(:j, :m)"),
                              {"j": jour, "m": jusqu_a}).all()
    par_login: dict[str, list[sa.Row]] = {}
    for ligne in lignes:
        par_login.setdefault(ligne.login, []).append(ligne)
    if not par_login:
        return 0
    envoyes = 0
    with smtp.ouvrir() as client:
        for login, siennes in par_login.items():
            message = resume_message(smtp, jour, siennes)
            try:
                with db.connect(engine, transaction=True) as conn:
                    pris = conn.execute(sa.text(
                        "INSERT INTO alertes_resumes (login, jour, courriel, nb_alertes, jusqu_a_alerte) "
                        "VALUES (:l, :j, :c, :n, :m) ON CONFLICT DO NOTHING RETURNING login"),
                        {"l": login, "j": jour, "c": siennes[0].courriel, "n": len(siennes), "m": jusqu_a}).first()
                    if pris is None:  # another sender did it meanwhile
                        continue
                    client.send_message(message)
            except smtplib.SMTPRecipientsRefused as exc:  # rolled back: retried by the next call
                log.warning("alert digest not e-mailed to %s: %s", login, exc)
                continue
            envoyes += 1
    log.info("alert digests of %s: %d sent", jour.isoformat(), envoyes)
    return envoyes


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: listen and send critical alerts at once (no argument), or send today's digests (``--resume``)."""
    parser = argparse.ArgumentParser(prog="python -m euralis_lib.alerts.courriels",
                                     description="Alert e-mails through EURALIS_SMTP_URL (unset: nothing is sent).")
    parser.add_argument("--resume", action="store_true",
                        help="send today's daily digests (once per user and Paris day) and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    engine = db.get_engine()
    if args.resume:
        print(f"alert digests sent: {envoyer_resumes(engine)}")
        return 0
    suivre(engine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
