"""How a preheated kernel learns its page request, and only that kernel: both halves of ``/voila/query/<kernel>``.

Voilà renders a page in a kernel started before anyone asked for it; when a browser takes the kernel, the
server sends the request's information (query string, the identity header) to whoever is connected on
``/voila/query/<kernel id>`` — in Voilà 0.5.13 anyone, without a cookie: the first to connect gets the user's
identity and the real kernel waits. Here each kernel gets a secret in its environment when the kernel
manager starts it (:func:`kernel_secret`, an HMAC of its id under a key that lives only in the server's
memory); :class:`KernelRequestInfoHandler` refuses any connection that does not present it, and
:func:`wait_for_request`, run in the kernel, presents it. Same contract as ``voila.utils.wait_for_request``.

Also kernel side: :func:`log_to_server`, so that a page's logging (tracebacks, paths on the server) goes
to the server's log and never to the browser.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import sys
import threading

from tornado import web
from voila.request_info_handler import RequestInfoSocketHandler

SECRET_ENV = "EURALIS_KERNEL_SECRET"
SECRET_HEADER = "X-Euralis-Kernel-Secret"
OPEN_TIMEOUT_S = 5.0
# Signs kernel ids for this server process only: a restarted server has new kernels and a new key.
_PROCESS_KEY = secrets.token_bytes(32)
_received = threading.Event()
log = logging.getLogger(__name__)


def kernel_secret(kernel_id: str) -> str:
    """The secret the kernel ``kernel_id`` presents on ``/voila/query/<kernel id>`` (server side)."""
    return hmac.new(_PROCESS_KEY, kernel_id.encode(), hashlib.sha256).hexdigest()


def forget(kernel_id: str) -> None:
    """Drop what Voilà keeps for a kernel that was shut down (its request info, its waiting socket)."""
    RequestInfoSocketHandler._cache.pop(kernel_id, None)
    RequestInfoSocketHandler._waiters.pop(kernel_id, None)


class KernelRequestInfoHandler(RequestInfoSocketHandler):
    """Voilà's ``/voila/query/<kernel id>`` for the kernel itself only (its secret, :func:`kernel_secret`)."""

    def prepare(self) -> None:
        """403 before the websocket upgrade unless the request carries the kernel's secret."""
        kernel_id = self.path_kwargs.get("kernel_id", "")
        presented = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(presented.encode(), kernel_secret(kernel_id).encode()):
            log.warning("Request info refused for kernel %s to %s: %s", kernel_id, self.request.remote_ip,
                        "wrong kernel secret" if presented else "no kernel secret")
            raise web.HTTPError(403)

    def on_close(self) -> None:
        """Forget this connection (Voilà's own version removes another kernel's when this one is absent)."""
        waiters = RequestInfoSocketHandler._waiters
        for kernel_id in [k for k, waiter in waiters.items() if waiter is self]:
            del waiters[kernel_id]


def _query_url() -> str:
    """``/voila/query`` of the server that started this kernel (Voilà's environment variables)."""
    protocol = os.environ.get("VOILA_WS_PROTOCOL", "ws")
    host = os.environ.get("VOILA_APP_IP", "127.0.0.1")
    port = os.environ.get("VOILA_APP_PORT", "8866")
    base = os.environ.get("VOILA_WS_BASE_URL", os.environ.get("VOILA_SERVER_URL", "/"))
    return f"{protocol}://{host}:{port}{base}voila/query"


async def _receive(url: str, secret: str) -> str | None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    try:
        async with connect(url, additional_headers={SECRET_HEADER: secret}, open_timeout=OPEN_TIMEOUT_S,
                           proxy=None, max_size=1024 * 1024) as websocket:
            message = await websocket.recv()
    except (OSError, TimeoutError, WebSocketException) as exc:
        log.warning("No request info from %s: %s", url, exc)
        return None
    return message if isinstance(message, str) else message.decode()


def wait_for_request(url: str | None = None) -> None:
    """In a preheated kernel: wait until a page request takes it, then put the request's information
    (``QUERY_STRING``, the ``HTTP_…`` headers the server passes) in ``os.environ``. Returns at once in a
    kernel started for its request (``VOILA_PREHEAT=False``) and after the first call.

    ``voila.utils.wait_for_request`` with the kernel's secret (module docstring); ``url``: the
    ``/voila/query`` address, by default the one of the server that started the kernel."""
    if os.environ.get("VOILA_PREHEAT", "False") == "False" or _received.is_set():
        return
    kernel_id = os.environ.get("VOILA_KERNEL_ID", "")
    secret = os.environ.get(SECRET_ENV, "")
    result: list[str | None] = [None]

    def receive() -> None:  # the kernel's event loop is busy running the page: a loop of its own
        result[0] = asyncio.run(_receive(f"{url or _query_url()}/{kernel_id}", secret))

    thread = threading.Thread(target=receive, name="euralis-request-info")
    thread.start()
    thread.join()
    if result[0] is not None:
        os.environ.update({str(k): str(v) for k, v in json.loads(result[0]).items()})
        _received.set()


def log_to_server() -> None:
    """Send this kernel's logging to the server's log (the process's own stderr) instead of the page.

    In a kernel, ``sys.stderr`` is ipykernel's stream to the browser: a ``log.warning(..., exc_info=True)``
    would show a traceback with paths on the server. ipykernel keeps the process's real stderr open as
    ``sys.stderr.fileno()``; outside ipykernel that is fd 2 itself."""
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        descriptor = sys.__stderr__.fileno()
    racine = logging.getLogger()
    if any(getattr(h, "euralis_server_log", False) for h in racine.handlers):
        return
    handler = logging.StreamHandler(open(os.dup(descriptor), "w", buffering=1, encoding="utf-8",  # noqa: SIM115
                                         errors="replace"))
    handler.euralis_server_log = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("[kernel %(process)d] %(levelname)s %(name)s: %(message)s"))
    racine.addHandler(handler)
