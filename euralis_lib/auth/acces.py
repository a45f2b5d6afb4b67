"""Database access as a dashboard user: every transaction runs as the user's group role with ``app.user`` set.

Connections are pooled, so the user is never set per session: each transaction starts with
``SET LOCAL ROLE euralis_<role>`` and ``set_config('app.user', <login>, true)``, both undone at
commit or rollback. The dashboards connect as ``euralis_web`` (``sql/110_roles.sql``), which holds no
right of its own; the policies of ``sql/112_rls.sql`` read the user's role, gaveur and sites from
the users table, so a wrong role cannot widen what a user sees.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from euralis_lib.auth import ROLES

WEB_ROLE = "euralis_web"


@dataclass(frozen=True)
class Utilisateur:
    """An authenticated dashboard user."""

    login: str
    role: str

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


def engine_utilisateur(engine: Engine, utilisateur: Utilisateur) -> Engine:
    """A view of ``engine`` (same pool) whose every transaction runs as ``utilisateur``."""
    vue = engine.execution_options(euralis_utilisateur=utilisateur.login)

    @sa.event.listens_for(vue, "begin")
    def _en_tant_que(conn: sa.engine.Connection) -> None:
        conn.exec_driver_sql(f"SET LOCAL ROLE {utilisateur.role_db}")
        conn.execute(sa.text("SELECT set_config('app.user', :login, true)"), {"login": utilisateur.login})

    return vue
