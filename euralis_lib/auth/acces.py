"""Database access as a dashboard user: connections carry the user's kernel token, transactions run as his role.

The dashboards connect as ``euralis_web`` (``sql/110_roles.sql``), which holds no right of its own.
Every right of the web roles depends on the kernel token of an open session (``sql/150``–``152``):
each connection of :func:`engine_utilisateur` carries it as ``app.jeton`` from its start (a libpq
startup option, so it never appears in a query text that other sessions of ``euralis_web`` could read
in ``pg_stat_activity``), and each transaction starts with ``SET LOCAL ROLE euralis_<role>``, undone at
commit or rollback. The database checks the token on every query: logout, expiry, a password or role
change and disabling the user end a page's access at its next transaction, and a token used with
another role than its user's gives nothing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from euralis_lib.auth import ROLES
from euralis_lib.database import db

WEB_ROLE = "euralis_web"
_JETON = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Utilisateur:
    """An authenticated dashboard user; ``jeton`` is his session's kernel token (kept out of repr and logs)."""

    login: str
    role: str
    jeton: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}: one of {', '.join(ROLES)}")

    @property
    def role_db(self) -> str:
        """The PostgreSQL group role of this user (``euralis_admin`` …)."""
        return f"euralis_{self.role}"

    @property
    def est_admin(self) -> bool:
        """True for the admin role (imports, jobs, planning, users, prices, capacities)."""
        return self.role == "admin"


def web_url(url: str, mot_de_passe: str | None = None) -> str:
    """``url`` with the dashboards' login role ``euralis_web`` and its password (default:
    ``EURALIS_WEB_PASSWORD``; none on the embedded server, which trusts its unix socket)."""
    secret = mot_de_passe if mot_de_passe is not None else os.environ.get("EURALIS_WEB_PASSWORD")
    return make_url(url).set(username=WEB_ROLE, password=secret or None).render_as_string(hide_password=False)


def jeton_valide(jeton: str | None) -> bool:
    """True for something shaped like a kernel token (64 lowercase hex digits)."""
    return bool(jeton) and _JETON.fullmatch(jeton) is not None


def engine_jeton(engine: Engine, jeton: str, **pool: object) -> Engine:
    """An engine on ``engine``'s database whose every connection carries ``jeton`` as ``app.jeton``
    (startup option); no role is switched to (``euralis_moi()`` needs none)."""
    if not jeton_valide(jeton):
        raise ValueError("not a kernel token")
    url = engine.url
    options = " ".join(o for o in [url.query.get("options", ""), f"-c app.jeton={jeton}"] if o)
    return sa.create_engine(url.difference_update_query(["options"]), pool_pre_ping=True,
                            connect_args={"connect_timeout": 5, "application_name": "euralis", "options": options},
                            **pool)


def engine_utilisateur(engine: Engine, utilisateur: Utilisateur) -> Engine:
    """An engine on ``engine``'s database (its own pool, closing connections idle for ``db.IDLE_S``) whose every
    transaction runs as ``utilisateur``: his token on each connection, ``SET LOCAL ROLE euralis_<role>`` at each
    transaction start."""
    vue = db.close_idle_connections(engine_jeton(engine, utilisateur.jeton or "", pool_size=3, max_overflow=2))

    @sa.event.listens_for(vue, "begin")
    def _en_tant_que(conn: sa.engine.Connection) -> None:
        conn.exec_driver_sql(f"SET LOCAL ROLE {utilisateur.role_db}")

    return vue


def chemin_lisible(engine: Engine, chemin: str | Path) -> bool:
    """Whether the user ``engine`` acts as may download the report file ``chemin`` (absolute path),
    as the database decides (``euralis_fichier_lisible``, ``sql/152_rapports_lisibles.sql``)."""
    with engine.connect() as conn:
        return bool(conn.execute(sa.text("SELECT euralis_fichier_lisible(:c)"), {"c": str(chemin)}).scalar())


def fichier_lisible(engine: Engine, utilisateur: Utilisateur, chemin: str | Path) -> bool:
    """For the server process: whether ``utilisateur`` may download ``chemin``, asked to the database as him
    (``engine``: the ``euralis_web`` engine). False for a user without a valid token."""
    if not jeton_valide(utilisateur.jeton):
        return False
    vue = engine_utilisateur(engine, utilisateur)
    try:
        return chemin_lisible(vue, chemin)
    finally:
        vue.dispose()
