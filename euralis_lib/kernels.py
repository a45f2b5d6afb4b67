"""Kernel lifecycle of the dashboards server: who owns a kernel, who may shut it down, pool sizes, culling.

Voilà's page asks the server to shut its kernel down when the page is left (a ``sendBeacon`` POST to
``/voila/api/shutdown/<kernel>`` carrying the ``_xsrf`` cookie's value). Voilà never sets that cookie,
so every request was refused (403 ``'_xsrf' argument missing``) and no kernel was ever freed. Here:

- the page handler sets the ``_xsrf`` cookie and records the browser that got the kernel (its owner:
  a hash of that browser's XSRF token, held only in the server's memory);
- the shutdown routes (Voilà's beacon and jupyter_server's ``DELETE /api/kernels/<id>``) shut a kernel
  down only for its owner; anyone else gets 403, even with a valid XSRF token;
- a culler frees kernels left by browsers that vanished without the beacon (crash, network), never a
  preheated kernel still waiting in the pool;
- the preheated pool is sized per page (:attr:`euralis_lib.dashboards.PageSpec.pool`, or ``EURALIS_POOLS``);
- a pool is refilled ``fill_delay`` seconds after a kernel was taken from it, and meanwhile it really is
  empty: a burst of visitors beyond the pool each get a fresh kernel at once instead of queueing behind
  refills (Voilà puts the refills in the pool right away, sleeping first), and the refills do not compete
  for the CPU with the pages being served.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import os
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.services.kernels.handlers import KernelHandler
from tornado import web
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
from voila.tornado.handler import TornadoVoilaHandler

# Culling defaults (seconds): a kernel no page is connected to is freed after CULL_ORPHAN idle seconds,
# one whose page is still open (a forgotten tab) after CULL_CONNECTED. Pool kernels are never culled.
CULL_ORPHAN = 600
CULL_CONNECTED = 4 * 3600
CULL_INTERVAL = 60
# Seconds between a kernel taken from a pool and the pool's refill (Voilà's ``fill_delay``, 1 s by default).
REFILL_DELAY = 10.0
# Preheated kernels per page beyond the registry, e.g. ``tableau_de_bord=10,accueil=2``.
POOLS_ENV = "EURALIS_POOLS"

# The owner of the page request being served (set by OwnedVoilaHandler, read by the kernel manager).
_requester: contextvars.ContextVar[str | None] = contextvars.ContextVar("euralis_kernel_owner", default=None)


def owner_key(handler: web.RequestHandler) -> str:
    """The browser behind a request: a hash of its XSRF token (the ``_xsrf`` cookie, set here if missing).

    The XSRF token is random per browser and never readable by another site, so it identifies the
    browser that opened a page without any extra cookie. With login (issue 12a) the user's identity
    can be added here so that a shared browser profile cannot cross users.
    """
    handler.xsrf_token  # noqa: B018 — sets the _xsrf cookie on the response when the browser has none
    _, token, _ = handler._get_raw_xsrf_token()
    return hashlib.sha256(token).hexdigest()


def may_shut_down(handler: web.RequestHandler, kernel_id: str) -> bool:
    """Whether the request comes from the owner of ``kernel_id`` (a kernel without owner: nobody)."""
    # Hook for issue 12a: an admin may also be allowed here through the authorizer, e.g.
    # handler.authorizer.is_authorized(handler, handler.current_user, "write", "kernels").
    owners: dict[str, str] = getattr(handler.kernel_manager, "owners", {})
    return owners.get(kernel_id) is not None and owners.get(kernel_id) == owner_key(handler)


class OwnedVoilaHandler(TornadoVoilaHandler):
    """Voilà's page handler that sets the ``_xsrf`` cookie (so the page's shutdown beacon is accepted)
    and tells the kernel manager which browser gets the kernel."""

    async def get(self, path: str | None = None) -> None:
        """Render the page with the requester recorded as the owner of its kernel."""
        _requester.set(owner_key(self))
        await super().get(path=path)


class OwnerShutdownHandler(VoilaShutdownKernelHandler):
    """``POST /voila/api/shutdown/<kernel>`` (the page's beacon): only the kernel's owner may shut it down."""

    @web.authenticated
    async def post(self, kernel_id: str) -> None:
        """Shut the kernel down for its owner; 403 for anyone else."""
        if not may_shut_down(self, kernel_id):
            raise web.HTTPError(403, "only the page that got this kernel may shut it down")
        await ensure_async(self.kernel_manager.shutdown_kernel(kernel_id))
        self.set_status(204)
        self.finish()


class OwnerKernelHandler(KernelHandler):
    """``/api/kernels/<kernel>``: the page reads its kernel's model; only the owner may delete it."""

    @web.authenticated
    async def delete(self, kernel_id: str) -> None:
        """Delete the kernel for its owner; 403 for anyone else."""
        if not may_shut_down(self, kernel_id):
            raise web.HTTPError(403, "only the page that got this kernel may shut it down")
        await super().delete(kernel_id)


_REPLACED = {TornadoVoilaHandler: OwnedVoilaHandler, VoilaShutdownKernelHandler: OwnerShutdownHandler,
             KernelHandler: OwnerKernelHandler}


def owned_handlers(handlers: list) -> list:
    """Voilà's route list with the page, beacon and kernel routes served by the owner-aware handlers."""
    return [(route[0], _REPLACED.get(route[1], route[1]), *route[2:]) for route in handlers]


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
    """A subclass of Voilà's kernel manager class that records kernel owners and culls with two timeouts.

    Voilà builds its kernel manager class at start-up (``voila_kernel_manager_factory``); this wraps
    whatever it built, so the pool logic stays Voilà's own.
    """

    class OwnerTrackingKernelManager(manager_class):  # type: ignore[valid-type, misc]
        owners: dict[str, str]

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
                self.owners[kernel_id] = owner
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
            owner = _requester.get()
            if owner is not None:
                self.owners[kernel_id] = owner
            return kernel_id

        async def shutdown_kernel(self, kernel_id: str, *args: Any, **kwargs: Any) -> None:
            """Shut down and forget the owner."""
            self.owners.pop(kernel_id, None)
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
