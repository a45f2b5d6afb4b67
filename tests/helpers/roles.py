"""A simulated database with one user per role, acting through the web role: the fixture ``base`` of the
row-level security tests (tests/test_roles_sql.py, tests/test_alerts_sql.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from euralis_lib.auth.acces import web_url
from euralis_lib.database import db
from tests.helpers.databases import module_database


@pytest.fixture(scope="module", name="base")
def roles_base(pg_cluster, sim_template):  # noqa: ANN201
    """A simulated database with five users (two gaveurs of different sites, a disabled one)."""
    with module_database(pg_cluster, sim_template) as base:
        with base.owner.begin() as conn:
            # Gaveurs with alerts, so that every table has rows of both.
            avec_alertes = ("SELECT gaveur_id, site_code FROM alertes WHERE gaveur_id IS NOT NULL "
                            "AND site_code <> :s GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1")
            g1, s1 = conn.execute(sa.text(avec_alertes), {"s": ""}).one()
            g2, _ = conn.execute(sa.text(avec_alertes), {"s": s1}).one()
            for login, role, gaveur, sites, actif in [
                    ("adm", "admin", None, None, True), ("sup", "superviseur", None, None, True),
                    ("sup-site", "superviseur", None, [s1], True), ("g1", "gaveur", g1, None, True),
                    ("g2", "gaveur", g2, None, True), ("g1-off", "gaveur", g1, None, False)]:
                conn.execute(sa.text("INSERT INTO utilisateurs (login, nom, role, gaveur_id, sites, actif, "
                                     "mot_de_passe) VALUES (:l, :l, :r, :g, :s, :a, 'sans objet')"),
                             {"l": login, "r": role, "g": gaveur, "s": sites, "a": actif})
        web = db.get_engine(web_url(base.url))
        infos = {"url": base.url, "owner": base.owner, "web": web, "g1": g1, "g2": g2, "site": s1, "moteurs": {}}
        yield infos
        for moteur in [web, *infos["moteurs"].values()]:
            moteur.dispose()
