"""A real local SMTP server (aiosmtpd) collecting what it receives: the mailbox of the e-mail tests (alerts,
reports)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from euralis_lib.serving.browser import free_port


class Boite:
    """aiosmtpd handler keeping every message received: (recipients, raw text); addresses in ``refusees`` are
    refused at RCPT TO (550), as a server refuses an unknown mailbox."""

    def __init__(self, refusees: tuple[str, ...] = ()) -> None:
        self.recus: list[tuple[list[str], str]] = []
        self.refusees = set(refusees)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201, N802
        """Accept the recipient unless it is to be refused (aiosmtpd's API)."""
        if address in self.refusees:
            return "550 5.1.1 unknown mailbox"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 — aiosmtpd's API
        """Keep the message (aiosmtpd's API)."""
        self.recus.append((list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        """The messages received, parsed."""
        return [email.message_from_string(texte, policy=email.policy.default) for _, texte in self.recus]


@contextmanager
def serveur_smtp(boite: Boite | None = None) -> Iterator[tuple[Boite, int]]:
    """A running SMTP server on 127.0.0.1 (its mailbox and port), stopped on exit."""
    boite = boite or Boite()
    serveur = Controller(boite, hostname="127.0.0.1", port=free_port())
    serveur.start()
    try:
        yield boite, serveur.port
    finally:
        serveur.stop()
