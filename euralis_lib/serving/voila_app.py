"""The Voilà application serving the dashboards: Voilà, plus the workbench's own routes and hardening.

``python -m euralis_lib.serving.voila_app`` takes Voilà's options. Added routes: ``/voila/rapports/<day>/<file>``
(and ``/voila/rapports/rapports/<week end>/rapport-….pdf``, the archived weekly reports)
serves the HTML reports of job runs (and their shared ``plotly.min.js``) from the reports folder,
behind the same authentication as the pages, so a page links to a report instead of showing a path
on the server; ``/voila/plotly/widgetbundle.js`` serves plotly's widget code (cartesian traces only)
(:mod:`euralis_lib.presentation.plotly_bundle`). Replaced routes (:data:`ROUTES`): every route carrying a kernel id
checks its owner (:mod:`euralis_lib.serving.kernels`),
the kernel websocket checks every frame (:mod:`euralis_lib.serving.kernel_ws`), ``/voila/query`` answers the kernel
only (:mod:`euralis_lib.auth.kernel_request`). Responses carry no ``Server`` header (no versions to look up).
"""

from __future__ import annotations

from pathlib import Path

from jupyter_server.services.kernels.handlers import KernelHandler
from jupyter_server.utils import url_path_join
from tornado.httputil import HTTPHeaders
from tornado.web import OutputTransform, StaticFileHandler
from traitlets import Float, Int, default
from voila.app import Voila
from voila.request_info_handler import RequestInfoSocketHandler
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
from voila.tornado.execution_request_handler import ExecutionRequestHandler
from voila.tornado.handler import TornadoVoilaHandler
from voila.tornado.kernel_websocket_handler import VoilaKernelWebsocketHandler

from euralis_lib import config
from euralis_lib.alerts import live
from euralis_lib.auth import kernel_request, utilisateurs
from euralis_lib.presentation import plotly_bundle
from euralis_lib.serving import kernel_ws, kernels
from euralis_lib.serving import login as auth_voila
from euralis_lib.serving.report_files import RapportsHandler

TEMPLATE_DIR = Path(__file__).parent / "voila_template"  # index.html.j2: snapshots shown at once
RAPPORT = r"/voila/rapports/(\d{4}-\d{2}-\d{2}/[\w.-]+\.(?:html|js)|rapports/\d{4}-\d{2}-\d{2}/rapport[\w.-]*\.pdf)"
# Voilà's handlers and the workbench's replacements (module docstring).
ROUTES = {TornadoVoilaHandler: kernels.OwnedVoilaHandler,
          VoilaShutdownKernelHandler: kernels.OwnerShutdownHandler,
          KernelHandler: kernels.OwnerKernelHandler,
          VoilaKernelWebsocketHandler: kernel_ws.EuralisKernelWebsocketHandler,
          ExecutionRequestHandler: kernels.OwnedExecutionRequestHandler,
          RequestInfoSocketHandler: kernel_request.KernelRequestInfoHandler}


def hardened(handlers: list) -> list:
    """Voilà's route list with the handlers of :data:`ROUTES` replaced."""
    return [(route[0], ROUTES.get(route[1], route[1]), *route[2:]) for route in handlers]


class NoServerHeader(OutputTransform):
    """Removes Tornado's ``Server: TornadoServer/<version>`` header from every response."""

    def transform_first_chunk(self, status_code: int, headers: HTTPHeaders, chunk: bytes,
                              finishing: bool) -> tuple[int, HTTPHeaders, bytes]:
        """The response without its ``Server`` header."""
        headers.pop("Server", None)
        return status_code, headers, chunk


class EuralisVoila(Voila):
    """Voilà with the reports route, login cookies signed with the workbench's session secret and the
    kernel lifecycle of :mod:`euralis_lib.serving.kernels`."""

    cull_connected_timeout = Float(kernels.CULL_CONNECTED, config=True,
                                   help="Free a kernel idle this many seconds even if its page is still open.")
    kernels_per_user = Int(config=True, help="Kernels one user may hold at once (EURALIS_KERNELS_PER_USER, 6).")
    kernel_cap_grace = Float(kernels.CAP_GRACE, config=True,
                             help="At the cap, a kernel handed out less than this many seconds ago is kept.")

    @default("kernels_per_user")
    def _kernels_per_user_env(self) -> int:
        return kernels.kernels_per_user()

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
        """Voilà's settings; per-page pool sizes and culling set before its kernel manager is built.

        ``compress_response``: Tornado gzips every response a browser accepts gzipped (HTML, JavaScript, CSS,
        JSON; not images or fonts, already compressed): Voilà's and the widgets' JavaScript was sent as is, most
        of a first page view's bytes. It has to be set here, in the settings the application is built with:
        Voilà applies its ``tornado_settings`` to the application after building it, too late for Tornado to add
        its gzip transform."""
        kernels.configure(self.config, self.voila_configuration.default_pool_size)
        settings = super().init_settings()
        kernels.adopt(self.kernel_manager, self.cull_connected_timeout)
        return {**settings, "euralis_kernels_per_user": self.kernels_per_user, "compress_response": True,
                "euralis_kernel_cap_grace": self.kernel_cap_grace, "websocket_max_message_size": kernel_ws.MAX_FRAME}

    def listen(self) -> None:
        """Voilà's listen, every response without a ``Server`` header (:class:`NoServerHeader`)."""
        self.app.transforms.append(NoServerHeader)
        super().listen()

    def init_handlers(self) -> list:
        """Voilà's handlers hardened (:func:`hardened`), the reports route first (files the database lets the
        user read, :class:`~euralis_lib.serving.report_files.RapportsHandler`)."""
        rapports = (url_path_join(self.server_url, RAPPORT), RapportsHandler,
                    {"path": str(config.reports_dir())})
        # plotly's public JavaScript, no login needed: imported by the figures' module, whose requests carry
        # no XSRF token (jupyter_server's file handler refuses them); cached for good with ?v=<version>.
        plotly_js = (url_path_join(self.server_url, plotly_bundle.ROUTE), StaticFileHandler,
                     {"path": str(plotly_bundle.widget_dir())})
        # The live unread-alerts badge: one LISTEN per process, a Server-Sent Events stream per open page.
        alertes = (url_path_join(self.server_url, live.ROUTE), live.FluxAlertesHandler)
        return [rapports, plotly_js, alertes, *hardened(super().init_handlers())]


def main() -> None:
    """Run the dashboards server (Voilà's command line)."""
    EuralisVoila.launch_instance()


if __name__ == "__main__":
    main()
