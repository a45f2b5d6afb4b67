"""The reports route of the Voilà server: a job report is served only to a user the database lets read it.

``/voila/rapports/<day>/<file>`` serves the executed notebooks' HTML exports (and their shared
``plotly.min.js``) from the reports folder. Those reports hold every gaveur's data, so whether a file
is served is asked to the database (``euralis_fichier_lisible``, ``sql/152_rapports_lisibles.sql``),
as the logged-in user: his kernel token is the ``X-Euralis-Jeton`` header the identity provider put on
the request (:mod:`euralis_lib.serving.login`). Anything refused answers 404, like a missing file, so the
route never confirms that a report exists. Without login (one person on the loopback interface), the
server's own connection asks.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from jupyter_server.base.handlers import AuthenticatedFileHandler
from tornado import web

from euralis_lib.auth.acces import chemin_lisible, fichier_lisible
from euralis_lib.auth.jeton import ENTETE, utilisateur_du_jeton
from euralis_lib.auth.page import connexion_requise
from euralis_lib.database import db
from euralis_lib.exceptions import DatabaseUnavailableError


def lisible(jeton: str | None, chemin: str) -> bool:
    """Whether the user of kernel token ``jeton`` may download the file at absolute path ``chemin`` (with
    login); without login, whether the server's own database user may."""
    engine = db.get_engine()
    if not connexion_requise():
        return chemin_lisible(engine, chemin)
    utilisateur = utilisateur_du_jeton(engine, jeton)
    return utilisateur is not None and fichier_lisible(engine, utilisateur, chemin)


class RapportsHandler(AuthenticatedFileHandler):
    """Jupyter's authenticated file handler, plus the database's decision for each file (404 when refused)."""

    async def _verifier(self, path: str) -> None:
        chemin = self.get_absolute_path(self.root, self.parse_url_path(path))
        try:
            accorde = await asyncio.get_running_loop().run_in_executor(
                None, lisible, self.request.headers.get(ENTETE), chemin)
        except (DatabaseUnavailableError, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise web.HTTPError(503, "Base de données injoignable.") from exc
        if not accorde:
            raise web.HTTPError(404)

    @web.authenticated
    async def get(self, path: str, **kwargs: Any) -> None:  # type: ignore[override]
        """The file, when the database says the logged-in user may read it."""
        await self._verifier(path)
        await super().get(path, **kwargs)

    @web.authenticated
    async def head(self, path: str) -> None:  # type: ignore[override]
        """The file's headers, under the same condition."""
        await self._verifier(path)
        await super().head(path)
