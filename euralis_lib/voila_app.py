"""The Voilà application serving the dashboards: Voilà, plus the workbench's own routes.

``python -m euralis_lib.voila_app`` takes Voilà's options. Added route: ``/voila/rapports/<day>/<file>``
serves the HTML reports of job runs (and their shared ``plotly.min.js``) from the reports folder,
behind the same authentication as the pages, so a page links to a report instead of showing a path
on the server.
"""

from __future__ import annotations

from jupyter_server.base.handlers import AuthenticatedFileHandler
from jupyter_server.utils import url_path_join
from traitlets import default
from voila.app import Voila

from euralis_lib import config
from euralis_lib.auth import utilisateurs
from euralis_lib.auth import voila as auth_voila

RAPPORT = r"/voila/rapports/(\d{4}-\d{2}-\d{2}/[\w.-]+\.(?:html|js))"


class EuralisVoila(Voila):
    """Voilà with the reports route; login cookies signed with the workbench's session secret."""

    @default("cookie_secret")
    def _cookie_secret_euralis(self) -> bytes:
        return utilisateurs.secret_session()

    def initialize(self, argv: list[str] | None = None) -> None:
        """Keep the owner's database URL in this process only, before any kernel starts."""
        auth_voila.garder_url_proprietaire()
        super().initialize(argv)

    def init_handlers(self) -> list:
        """Voilà's handlers, the reports route first."""
        rapports = (url_path_join(self.server_url, RAPPORT), AuthenticatedFileHandler,
                    {"path": str(config.reports_dir())})
        return [rapports, *super().init_handlers()]


def main() -> None:
    """Run the dashboards server (Voilà's command line)."""
    EuralisVoila.launch_instance()


if __name__ == "__main__":
    main()
