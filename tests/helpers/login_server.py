"""A real Voilà server with login on a simulated database with the per-gaveur job results and users of every
role: the fixtures ``base`` and ``serveur`` of the login and alert browser tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from euralis_lib import jobs
from euralis_lib.serving import serve
from euralis_lib.serving.browser import LOADED, free_port
from tests.helpers.connexion import utilisateurs_de_test
from tests.helpers.databases import module_database

TIMEOUT_MS = 180_000
CHARGEE = f"({LOADED}) || document.querySelector('.euralis-message.erreur')"


@pytest.fixture(scope="module", name="base")
def login_base(pg_cluster, sim_template) -> Iterator[dict]:
    """Simulated data, the per-gaveur job results, and users: an admin, a supervisor, two gaveurs of two sites."""
    with module_database(pg_cluster, sim_template) as base:
        for job in ("clustering", "anomalies", "finance", "planning"):
            jobs.run_job(job, base.owner)
        (g1,), (g2,) = base.rows("SELECT DISTINCT ON (l.site_code) l.gaveur_id FROM lots_gavage l "
                                 "ORDER BY l.site_code, l.fin DESC, l.gaveur_id LIMIT 2")
        gaveurs = base.rows("SELECT gaveur_id, code, nom FROM gaveurs")
        yield {"url": base.url, "g1": g1, "g2": g2, "gaveurs": gaveurs, "mdp": utilisateurs_de_test(base.url, g1, g2)}


@pytest.fixture(scope="module", name="serveur")
def login_server(base, tmp_path_factory, request) -> Iterator[dict]:
    """Voilà with login on a free port; its own EURALIS_HOME (session secret) and reports folder. The pools are
    the registry's unless the test module sets ``POOLS`` (:func:`tests.helpers.pages.pools`)."""
    home = tmp_path_factory.mktemp("home")
    port = free_port()
    pools = getattr(request.module, "POOLS", None)
    env = {**os.environ, "EURALIS_DATABASE_URL": base["url"], "EURALIS_HOME": str(home),
           "EURALIS_REPORTS_DIR": str(home / "rapports"), **(pools or {})}
    env.pop("EURALIS_SESSION_SECRET", None)
    journal = home / "voila.log"
    proc = serve.start(port, env=env, log_path=journal, pool_size=1 if pools is None else 0)
    try:
        serve.wait_ready(proc, port, timeout=120)
        yield {"port": port, "proc": proc, "home": home, "journal": journal, "rapports": home / "rapports",
               "base": f"http://127.0.0.1:{port}"}
    finally:
        serve.stop(proc)
