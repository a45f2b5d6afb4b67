"""Kernel lifecycle of the dashboards server: who owns a kernel, who may use it, how many a user may hold,
pool sizes, culling.

- **Owner.** When a page takes a kernel (preheated or started for it), the kernel manager records its
  owner (:class:`Owner`): the login session (a hash of the session cookie) AND the browser (a hash of its
  XSRF token; the page handler sets the ``_xsrf`` cookie), held only in the server's memory. Every route
  carrying a kernel id checks it with :func:`require_owner` — ``/api/kernels/<id>`` (any method), its
  ``/channels`` websocket (:mod:`euralis_lib.serving.kernel_ws`), Voilà's shutdown beacon
  ``/voila/api/shutdown/<id>`` and ``/voila/execution/<id>`` — and refuses anyone else with 403, the same
  user in another browser or session included. ``/voila/query/<id>`` is for the kernel itself
  (:mod:`euralis_lib.auth.kernel_request`). Logout shuts the session's kernels (:func:`shutdown_session`).
- **Cap.** A user holds at most ``EURALIS_KERNELS_PER_USER`` kernels (:data:`KERNELS_PER_USER`); at the
  cap, his kernels no page is connected to (and handed out more than :data:`CAP_GRACE` seconds ago, so a
  page still loading keeps its own) are shut down, and if that frees nothing the page is refused with a
  French page (HTTP 429).
- **Beacon.** Voilà's page asks for its kernel's shutdown when left (a ``sendBeacon`` POST carrying the
  ``_xsrf`` cookie's value); Voilà never sets that cookie, so the page handler does.
- **Culling** frees kernels left by browsers that vanished without the beacon (crash, network), never a
  preheated kernel still waiting in the pool.
- **Pools** are sized per page (:attr:`euralis_lib.dashboards.PageSpec.pool`, or ``EURALIS_POOLS``);
  a pool is refilled ``fill_delay`` seconds after a kernel was taken from it, and meanwhile it really is
  empty: a burst of visitors beyond the pool each get a fresh kernel at once instead of queueing behind
  refills (Voilà puts the refills in the pool right away, sleeping first), and the refills do not compete
  for the CPU with the pages being served.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import os
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.services.kernels.handlers import KernelHandler
from tornado import web
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
from voila.tornado.execution_request_handler import ExecutionRequestHandler
from voila.tornado.handler import TornadoVoilaHandler

from euralis_lib.auth import kernel_request
from euralis_lib.presentation import markup

# Culling defaults (seconds): a kernel no page is connected to is freed after CULL_ORPHAN idle seconds,
# one whose page is still open (a forgotten tab) after CULL_CONNECTED. Pool kernels are never culled.
CULL_ORPHAN = 600
CULL_CONNECTED = 4 * 3600
CULL_INTERVAL = 60
# Seconds between a kernel taken from a pool and the pool's refill (Voilà's ``fill_delay``, 1 s by default).
REFILL_DELAY = 10.0
# Preheated kernels per page beyond the registry, e.g. ``tableau_de_bord=10,accueil=2``.
POOLS_ENV = "EURALIS_POOLS"
# Kernels one user may hold at once (each ~250 MB); a kernel handed out less than CAP_GRACE seconds ago is
# never shut down to make room (its page may still be opening its websocket).
KERNELS_PER_USER_ENV = "EURALIS_KERNELS_PER_USER"
KERNELS_PER_USER = 6
CAP_GRACE = 30.0
TOO_MANY_PAGES = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>Trop de pages ouvertes — Euralis</title>
<style>body{{font-family:sans-serif;background:#f2f4f7;display:flex;justify-content:center;padding-top:10vh}}
div{{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:24px 28px;max-width:480px}}
h1{{font-size:20px;color:#8a1c1c}}</style></head><body><div class="euralis-trop-de-pages">
<h1>Trop de pages ouvertes</h1>
<p>Vous avez déjà {ouvertes} pages des tableaux de bord ouvertes (au plus {maximum} à la fois) :
fermez des onglets, puis rechargez cette page.</p></div></body></html>"""


def kernels_per_user(value: str | None = None) -> int:
    """The per-user cap: ``EURALIS_KERNELS_PER_USER`` (a positive integer), else :data:`KERNELS_PER_USER`;
    ValueError naming the variable when malformed."""
    value = os.environ.get(KERNELS_PER_USER_ENV, "") if value is None else value
    if not value.strip():
        return KERNELS_PER_USER
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"{KERNELS_PER_USER_ENV} must be a positive number of kernels, not {value!r}")
    return int(value)


@dataclass
class Owner:
    """Who took a kernel: the login session and the browser (hashes), the login (for the cap) and the page."""

    session: str
    browser: str
    login: str
    page: str = ""
    since: float = field(default_factory=time.monotonic)
    reserved: bool = False  # counted in the manager's reservations until its kernel is recorded


# The owner of the page request being served (set by OwnedVoilaHandler, read by the kernel manager).
_requester: contextvars.ContextVar[Owner | None] = contextvars.ContextVar("euralis_kernel_owner", default=None)


def _digest(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


def session_key_of(session: bytes | str) -> str:
    """The owner key of a login session, from the session cookie's (verified) value."""
    return _digest(session.encode() if isinstance(session, str) else session)


def session_key(handler: web.RequestHandler) -> str:
    """The owner key of the request's login session (the identity provider's signed cookie); "" without one."""
    provider = handler.settings.get("identity_provider")
    name = getattr(provider, "cookie_name", "") if provider is not None else ""
    value = handler.get_signed_cookie(name) if name else None
    return session_key_of(value) if value else ""


def browser_key(handler: web.RequestHandler) -> str:
    """The browser behind a request: a hash of its XSRF token (the ``_xsrf`` cookie); "" without the cookie.

    The XSRF token is random per browser and never readable by another site."""
    if not handler.get_cookie(handler.settings.get("xsrf_cookie_name", "_xsrf")):
        return ""
    _, token, _ = handler._get_raw_xsrf_token()
    return _digest(token)


def who(handler: web.RequestHandler) -> str:
    """The requester for a log line: login (or anonymous) and address."""
    user = getattr(handler, "current_user", None)
    return f"user {getattr(user, 'username', None) or 'anonymous'} from {handler.request.remote_ip}"


def requester(handler: web.RequestHandler, page: str) -> Owner:
    """The owner a page request would give a kernel (sets the ``_xsrf`` cookie when the browser has none)."""
    handler.xsrf_token  # noqa: B018 — sets the _xsrf cookie on the response when the browser has none
    _, token, _ = handler._get_raw_xsrf_token()
    user = handler.current_user
    login = getattr(user, "username", "") or ""
    return Owner(session=session_key(handler), browser=_digest(token), login=login, page=page)


def is_owner(handler: web.RequestHandler, kernel_id: str) -> bool:
    """Whether the request comes from the session AND the browser that took ``kernel_id`` (no owner: nobody)."""
    owner: Owner | None = getattr(handler.kernel_manager, "owners", {}).get(kernel_id)
    if owner is None:
        return False
    browser = browser_key(handler)
    return bool(browser) and hmac.compare_digest(owner.browser, browser) \
        and hmac.compare_digest(owner.session, session_key(handler))


def require_owner(handler: web.RequestHandler, kernel_id: str) -> None:
    """403 (and a log line) unless the request comes from the owner of ``kernel_id`` (:func:`is_owner`)."""
    if not is_owner(handler, kernel_id):
        handler.log.warning("Kernel %s refused to %s: %s %s is not its owner's", kernel_id, who(handler),
                            handler.request.method, handler.request.path)
        raise web.HTTPError(403, "only the page that got this kernel may use it")


def kernel_page(manager: Any, kernel_id: str) -> str:
    """The notebook a kernel was handed out for ("" when unknown)."""
    owner: Owner | None = getattr(manager, "owners", {}).get(kernel_id)
    return owner.page if owner else ""


async def shutdown_session(manager: Any, session: bytes | str) -> list[str]:
    """Shut down every kernel of a login session (logout); the ids shut down."""
    key = session_key_of(session)
    ids = [k for k, owner in list(getattr(manager, "owners", {}).items()) if owner.session == key]
    for kernel_id in ids:
        if kernel_id in manager:
            await ensure_async(manager.shutdown_kernel(kernel_id))
    return ids


class OwnedVoilaHandler(TornadoVoilaHandler):
    """Voilà's page handler: sets the ``_xsrf`` cookie (so the page's shutdown beacon is accepted), enforces the
    per-user cap and tells the kernel manager who gets the kernel."""

    @web.authenticated
    async def get(self, path: str | None = None) -> None:
        """Render the page with the requester recorded as the owner of its kernel; 429 at the cap."""
        owner = requester(self, path or "")
        manager = self.kernel_manager
        maximum = self.settings.get("euralis_kernels_per_user", KERNELS_PER_USER)
        grace = self.settings.get("euralis_kernel_cap_grace", CAP_GRACE)
        if hasattr(manager, "make_room") and not await manager.make_room(owner.login, maximum, grace):
            ouvertes = manager.held(owner.login)
            self.log.warning("Page %s refused to %s: %s kernels held, at most %s", path, who(self), ouvertes,
                             maximum)
            self.set_status(429)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.set_header("Cache-Control", "no-store")
            self.finish(markup.html(TOO_MANY_PAGES, ouvertes=ouvertes, maximum=maximum))
            return
        if hasattr(manager, "reserve"):
            manager.reserve(owner)
        jeton = _requester.set(owner)
        try:
            await super().get(path=path)
        finally:
            _requester.reset(jeton)
            if hasattr(manager, "release"):
                manager.release(owner)


class OwnerShutdownHandler(VoilaShutdownKernelHandler):
    """``POST /voila/api/shutdown/<kernel>`` (the page's beacon): only the kernel's owner may shut it down."""

    @web.authenticated
    async def post(self, kernel_id: str) -> None:
        """Shut the kernel down for its owner; 403 for anyone else."""
        require_owner(self, kernel_id)
        await ensure_async(self.kernel_manager.shutdown_kernel(kernel_id))
        self.set_status(204)
        self.finish()


class OwnedKernelRoute:
    """Mixin for a jupyter_server handler whose route carries ``kernel_id``: after authentication, only the
    kernel's owner gets past ``prepare`` (any method)."""

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        """Authenticate (the handler's own prepare), then :func:`require_owner`."""
        await super().prepare(*args, **kwargs)  # type: ignore[misc]
        if not self._finished:  # type: ignore[attr-defined]
            require_owner(self, self.path_kwargs.get("kernel_id", ""))  # type: ignore[attr-defined, arg-type]


class OwnerKernelHandler(OwnedKernelRoute, KernelHandler):
    """``/api/kernels/<kernel>`` (GET, DELETE, any other method) for the kernel's owner only."""


class OwnedExecutionRequestHandler(OwnedKernelRoute, ExecutionRequestHandler):
    """Voilà's ``/voila/execution/<kernel>`` (progressive rendering, off here) for the kernel's owner only."""


def pools_from_env(value: str | None = None, pages: Collection[str] | None = None) -> dict[str, int]:
    """Pool sizes per notebook from ``EURALIS_POOLS`` (``slug=n`` pairs, comma separated); ValueError naming
    the fix when malformed; with ``pages`` (the slugs served), KeyError naming them for any other slug."""
    value = os.environ.get(POOLS_ENV, "") if value is None else value
    tailles: dict[str, int] = {}
    for paire in filter(None, (p.strip() for p in value.split(","))):
        slug, _, nombre = paire.partition("=")
        slug = slug.strip()
        if not nombre.strip().isdigit():
            raise ValueError(f"{POOLS_ENV}: {paire!r} is not page=number, e.g. tableau_de_bord=10")
        if pages is not None and slug not in pages:
            raise KeyError(f"{POOLS_ENV}: unknown page {slug!r}; known pages: {', '.join(sorted(pages))}")
        tailles[slug] = int(nombre)
    return tailles


def pools_config(default: int, per_page: dict[str, int]) -> dict[str, dict[str, int]]:
    """Voilà's ``kernel_pools_config``: ``default`` kernels per notebook, ``per_page[slug]`` for listed pages."""
    config = {"default": {"pool_size": max(default, 0)}}
    config.update({f"{slug}.ipynb": {"pool_size": max(n, 0)} for slug, n in per_page.items()})
    return config


def owner_tracking(manager_class: type) -> type:
    """A subclass of Voilà's kernel manager class that records kernel owners, gives each kernel its request
    secret (:mod:`euralis_lib.auth.kernel_request`), enforces the per-user cap and culls with two timeouts.

    Voilà builds its kernel manager class at start-up (``voila_kernel_manager_factory``); this wraps
    whatever it built, so the pool logic stays Voilà's own.
    """

    class OwnerTrackingKernelManager(manager_class):  # type: ignore[valid-type, misc]
        owners: dict[str, Owner]
        reservations: Counter[str]

        def _record(self, kernel_id: str) -> None:
            owner = _requester.get()
            if owner is not None:
                self.owners[kernel_id] = owner
                self.release(owner)

        def reserve(self, owner: Owner) -> None:
            """Count a page request in progress against its user's cap until its kernel is recorded."""
            owner.reserved = True
            self.reservations[owner.login] += 1

        def release(self, owner: Owner) -> None:
            """End the reservation of :meth:`reserve` (kernel recorded, or request over)."""
            if owner.reserved:
                owner.reserved = False
                self.reservations[owner.login] -= 1

        def held(self, login: str) -> int:
            """Kernels ``login`` holds, page requests in progress included."""
            return sum(o.login == login for o in self.owners.values()) + self.reservations[login]

        async def make_room(self, login: str, maximum: int, grace: float = CAP_GRACE) -> bool:
            """Whether ``login`` may take one more kernel; at the cap, first shut down his kernels that no page
            is connected to (handed out at least ``grace`` seconds ago)."""
            if self.held(login) < maximum:
                return True
            now = time.monotonic()
            idle = [k for k, o in list(self.owners.items())
                    if o.login == login and not self._kernel_connections.get(k, 0) and now - o.since >= grace]
            for kernel_id in idle[:self.held(login) - maximum + 1]:
                self.log.warning("Kernel %s of %s shut down: at the cap of %s kernels and no page connected",
                                 kernel_id, login, maximum)
                await ensure_async(self.shutdown_kernel(kernel_id))
            return self.held(login) < maximum

        def pre_start_kernel(self, kernel_name: str | None, kwargs: dict) -> tuple:
            """jupyter_client's start, with the kernel's request secret added to its own copy of the environment."""
            km, name, kernel_id = super().pre_start_kernel(kernel_name, kwargs)
            kwargs["env"] = {**(kwargs.get("env") or os.environ),
                             kernel_request.SECRET_ENV: kernel_request.kernel_secret(kernel_id)}
            return km, name, kernel_id

        async def get_rendered_notebook(self, *args: Any, **kwargs: Any) -> Any:
            """Hand out a preheated kernel and record who got it."""
            owner = _requester.get()
            # Voilà refills the pool from here: its tasks copy this context and must not inherit the owner.
            jeton = _requester.set(None)
            try:
                render_task, cache, kernel_id = await super().get_rendered_notebook(*args, **kwargs)
            finally:
                _requester.reset(jeton)
            if owner is not None:
                self._record(kernel_id)
            return render_task, cache, kernel_id

        def fill_if_needed(self, delay: float | None = None, notebook_name: str | None = None,
                           **kwargs: Any) -> None:
            """Voilà's start-up fill as is; a refill after a kernel was taken (``delay`` None) is scheduled
            once per page ``fill_delay`` seconds later, leaving the pool empty meanwhile."""
            if delay is not None or self.fill_delay <= 0:
                super().fill_if_needed(delay=delay, notebook_name=notebook_name, **kwargs)
                return
            if notebook_name in self._refills:
                return

            def refill() -> None:
                self._refills.discard(notebook_name)
                super(OwnerTrackingKernelManager, self).fill_if_needed(delay=0, notebook_name=notebook_name,
                                                                        **kwargs)

            self._refills.add(notebook_name)
            asyncio.get_event_loop().call_later(self.fill_delay, refill)

        async def start_kernel(self, *args: Any, **kwargs: Any) -> str:
            """Start a kernel; one started for a page request (pool empty) belongs to the requester."""
            kernel_id = await ensure_async(super().start_kernel(*args, **kwargs))
            self._record(kernel_id)
            return kernel_id

        async def shutdown_kernel(self, kernel_id: str, *args: Any, **kwargs: Any) -> None:
            """Shut down and forget the owner and the request info."""
            self.owners.pop(kernel_id, None)
            kernel_request.forget(kernel_id)
            await ensure_async(super().shutdown_kernel(kernel_id, *args, **kwargs))

        def in_pool(self, kernel_id: str) -> bool:
            """Whether ``kernel_id`` is a preheated kernel not yet handed out (started or starting)."""
            for pool in getattr(self, "_pools", {}).values():
                for item in pool:
                    if not item.done():
                        continue
                    try:
                        if item.result().get("kernel_id") == kernel_id:
                            return True
                    except Exception:  # noqa: BLE001 — a failed pool start is Voilà's to clean up
                        continue
            return False

        async def cull_kernel_if_idle(self, kernel_id: str) -> None:
            """Voilà's rule (never a pool kernel), then also free a kernel idle for ``CULL_CONNECTED`` seconds
            even if a forgotten tab is still connected."""
            if kernel_id not in self or self.in_pool(kernel_id):
                return
            await ensure_async(super().cull_kernel_if_idle(kernel_id))
            if kernel_id not in self or not self._kernel_connections.get(kernel_id, 0):
                return
            kernel = self._kernels[kernel_id]
            last = getattr(kernel, "last_activity", None)
            if last is not None and kernel.execution_state != "busy":
                from jupyter_server._tz import utcnow

                if utcnow() - last > timedelta(seconds=self.cull_connected_timeout):
                    self.log.warning("Culling kernel %s: page open but idle for more than %s s.",
                                     kernel_id, self.cull_connected_timeout)
                    await ensure_async(self.shutdown_kernel(kernel_id))

    OwnerTrackingKernelManager.cull_connected_timeout = CULL_CONNECTED
    return OwnerTrackingKernelManager


def adopt(manager: Any, cull_connected_timeout: float = CULL_CONNECTED) -> None:
    """Turn Voilà's freshly built kernel manager into the owner-tracking one (same object, subclass)."""
    manager.__class__ = owner_tracking(type(manager))
    manager.owners = {}
    manager.reservations = Counter()
    manager._refills = set()
    manager.cull_connected_timeout = cull_connected_timeout


def configure(config: Any, default_pool: int) -> None:
    """Put the per-page pool sizes (page registry, then ``EURALIS_POOLS``), the refill delay and the culling
    defaults into a Voilà ``config``, leaving any value given on the command line alone."""
    from euralis_lib.dashboards import PAGES

    voila_km, mapping_km = config.VoilaKernelManager, config.MappingKernelManager
    if "kernel_pools_config" not in voila_km:
        voila_km.kernel_pools_config = pools_config(
            default_pool, {**{p.slug: p.pool for p in PAGES if p.pool is not None}, **pools_from_env()})
    voila_km.setdefault("fill_delay", REFILL_DELAY)
    mapping_km.setdefault("cull_idle_timeout", CULL_ORPHAN)
    mapping_km.setdefault("cull_interval", CULL_INTERVAL)
