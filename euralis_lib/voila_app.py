"""The Voilà application serving the dashboards: Voilà, plus the workbench's own routes.

``python -m euralis_lib.voila_app`` takes Voilà's options. Added routes: ``/voila/rapports/<day>/<file>``
serves the HTML reports of job runs (and their shared ``plotly.min.js``) from the reports folder,
behind the same authentication as the pages, so a page links to a report instead of showing a path
on the server; ``/voila/plotly/widgetbundle.js`` serves plotly's widget code (:mod:`euralis_lib.plotly_bundle`).
"""

from __future__ import annotations

from pathlib import Path

from jupyter_server.utils import url_path_join
from tornado.web import StaticFileHandler
from traitlets import Float, default
from voila.app import Voila

from euralis_lib import config, kernels, plotly_bundle
from euralis_lib.auth import utilisateurs
from euralis_lib.auth import voila as auth_voila
from euralis_lib.auth.rapports import RapportsHandler

TEMPLATE_DIR = Path(__file__).parent / "voila_template"  # index.html.j2: snapshots shown at once
RAPPORT = r"/voila/rapports/(\d{4}-\d{2}-\d{2}/[\w.-]+\.(?:html|js))"


class EuralisVoila(Voila):
    """Voilà with the reports route, login cookies signed with the workbench's session secret and the
    kernel lifecycle of :mod:`euralis_lib.kernels`."""

    cull_connected_timeout = Float(kernels.CULL_CONNECTED, config=True,
                                   help="Free a kernel idle this many seconds even if its page is still open.")

    @default("cookie_secret")
    def _cookie_secret_euralis(self) -> bytes:
        return utilisateurs.secret_session()

    def setup_template_dirs(self) -> None:
        """Voilà's template paths, this package's page template first (:data:`TEMPLATE_DIR`)."""
        super().setup_template_dirs()
        self.template_paths = [str(TEMPLATE_DIR), *self.template_paths]

    def initialize(self, argv: list[str] | None = None) -> None:
        """Keep the owner's database URL in this process only, before any kernel starts."""
        auth_voila.garder_url_proprietaire()
        super().initialize(argv)

    def init_settings(self) -> dict:
        """Voilà's settings; per-page pool sizes and culling set before its kernel manager is built."""
        kernels.configure(self.config, self.voila_configuration.default_pool_size)
        settings = super().init_settings()
        kernels.adopt(self.kernel_manager, self.cull_connected_timeout)
        return settings

    def init_handlers(self) -> list:
        """Voilà's handlers (owner-aware page and shutdown routes), the reports route first."""
        rapports = (url_path_join(self.server_url, RAPPORT), RapportsHandler,
                    {"path": str(config.reports_dir())})
        # plotly's public JavaScript, no login needed: imported by the figures' module, whose requests carry
        # no XSRF token (jupyter_server's file handler refuses them); cached for good with ?v=<version>.
        plotly_js = (url_path_join(self.server_url, plotly_bundle.ROUTE), StaticFileHandler,
                     {"path": str(plotly_bundle.bundle_dir())})
        return [rapports, plotly_js, *kernels.owned_handlers(super().init_handlers())]


def main() -> None:
    """Run the dashboards server (Voilà's command line)."""
    EuralisVoila.launch_instance()


if __name__ == "__main__":
    main()
