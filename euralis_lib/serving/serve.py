"""Serve the supervisor dashboards (``notebooks/apps``) with Voilà (:mod:`euralis_lib.serving.voila_app`) on 127.0.0.1.

Kernels are preheated (a pool per notebook, rendered ahead of the request) so pages open fast;
tracebacks are never sent to the browser. The database URL is resolved once here (embedded server
started if needed) and handed to the kernels through ``EURALIS_DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import Engine

from euralis_lib import config
from euralis_lib.auth import jeton
from euralis_lib.auth.acces import WEB_ROLE, web_url
from euralis_lib.auth.page import CONNEXION
from euralis_lib.database import db
from euralis_lib.exceptions import ServeError

APPS_DIR = config.NOTEBOOKS_DIR / "apps"
# Voilà options of a server with login (:mod:`euralis_lib.serving.login`, loaded by the server process only: this
# launcher, behind every command of the CLI, never imports Voilà).
LOGIN_OPTIONS = ["--Voila.identity_provider_class=euralis_lib.serving.login.EuralisIdentityProvider",
                 "--Voila.authorizer_class=euralis_lib.serving.login.EuralisAuthorizer",
                 f"--VoilaConfiguration.http_header_envs=['{jeton.ENTETE}']"]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEFAULT_PORT = 8866
LANDING = "voila/render/accueil.ipynb"


def default_port() -> int:
    """``EURALIS_PORT`` or 8866."""
    valeur = os.environ.get("EURALIS_PORT", str(DEFAULT_PORT))
    try:
        return int(valeur)
    except ValueError as exc:
        raise ServeError(f"EURALIS_PORT must be a port number, not {valeur!r}.") from exc


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`ServeError` when ``host:port`` cannot be bound (already in use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ServeError(f"Port {port} on {host} is already in use ({exc.strerror}): stop the other server "
                             "or choose another port with --port or EURALIS_PORT.") from exc


# JupyterLab extensions installed in the environment that Voilà would otherwise load on every page view.
# jupyterlab-plotly is plotly's renderer for figures sent as JSON (4.8 MB of JavaScript, half of what a page
# view downloaded): the pages show figures as FigureWidget (anywidget, see plotly_bundle), never as JSON.
# jupyterlab_pygments colours code, which Voilà does not show; jupyterlab-preview is a JupyterLab button.
UNUSED_LAB_EXTENSIONS = ("jupyterlab-plotly", "jupyterlab_pygments", "@voila-dashboards/jupyterlab-preview")


def check_listen(host: str, login: bool) -> None:
    """Refuse to serve on a network interface without login."""
    if not login and host not in LOOPBACK:
        raise ServeError(f"Refus de servir sur {host} sans connexion : sans --sans-connexion, les tableaux de "
                         "bord demandent un identifiant (créez les utilisateurs avec « python -m euralis_lib "
                         "users add »). Sans connexion, seul 127.0.0.1 est permis.")


def login_environment(url: str, env: Mapping[str, str]) -> dict[str, str]:
    """Environment of a server with login: the owner's URL for the server process only
    (``EURALIS_AUTH_DATABASE_URL``), the ``euralis_web`` URL for the kernels, login on for the pages.

    With ``EURALIS_WEB_PASSWORD`` set in ``env``, ``euralis_web``'s password is set to it first
    (external PostgreSQL with password authentication)."""
    password = env.get("EURALIS_WEB_PASSWORD") or ""
    if password:
        set_web_password(db.get_engine(url), password)
    return {"EURALIS_AUTH_DATABASE_URL": db.normalize_url(url), "EURALIS_DATABASE_URL": web_url(url, password),
            CONNEXION: "1"}


def set_web_password(engine: Engine, password: str) -> None:
    """``ALTER ROLE euralis_web PASSWORD …`` (needs CREATEROLE), the password quoted by libpq."""
    from psycopg2 import sql as psql

    with db.connect(engine, transaction=True) as conn:
        raw = conn.connection.driver_connection
        query = psql.SQL("ALTER ROLE {} PASSWORD {}").format(psql.Identifier(WEB_ROLE), psql.Literal(password))
        conn.exec_driver_sql(query.as_string(raw).replace("%", "%%"))


# Seconds the page executor waits for a cell's outputs once the kernel replied (see :func:`voila_command`).
IOPUB_TIMEOUT_S = 60


def voila_command(port: int, host: str = "127.0.0.1", pool_size: int = 1, apps_dir: Path = APPS_DIR,
                  login: bool = True, extra: tuple[str, ...] = ()) -> list[str]:
    """The Voilà command line: directory mode, bound to ``host``, preheated kernels (``pool_size`` per page
    unless the page registry says more), no tracebacks, with ``login`` the workbench's login
    (:mod:`euralis_lib.serving.login`); ``extra``: more Voilà options (e.g. culling).

    Kernels talk to the server over Unix sockets (``ipc``), not TCP ports: kernels started at the same
    moment (a pool filling up, a burst of visitors, other servers on the machine) raced for free ports,
    and a pooled kernel that lost the race died at start and hung the page that was given it.

    The executor waits up to ``IOPUB_TIMEOUT_S`` for a cell's outputs after its reply (nbclient's default, 4 s,
    is the same wait): on busy cores the outputs of the page's cell arrived later, the executor gave up on
    them (« Timeout waiting for IOPub output » in the log) and the page stayed blank for good. The wait ends as
    soon as the kernel says it is idle, so a longer bound costs nothing when the outputs are on time."""
    commande = [sys.executable, "-m", "euralis_lib.serving.voila_app", str(apps_dir), "--no-browser", f"--port={port}",
                f"--Voila.ip={host}", "--KernelManager.transport=ipc",
                f"--VoilaExecutor.iopub_timeout={IOPUB_TIMEOUT_S}", "--show_tracebacks=False",
                "--preheat_kernel=True", f"--pool_size={pool_size}",
                *(f"--VoilaConfiguration.extension_denylist={nom}" for nom in UNUSED_LAB_EXTENSIONS)]
    return commande + (LOGIN_OPTIONS if login else []) + list(extra)


def start(port: int | None = None, host: str = "127.0.0.1", pool_size: int = 1,
          env: dict[str, str] | None = None, log_path: Path | None = None,
          apps_dir: Path = APPS_DIR, login: bool = True, extra: tuple[str, ...] = (),
          cwd: Path | None = None) -> subprocess.Popen:
    """Start Voilà in the background and return the process (see :func:`wait_ready`, :func:`stop`).

    Without ``login`` only the loopback interfaces are allowed. ``cwd`` (default: this checkout) comes first
    on the server's import path: another checkout serves its own code."""
    port = default_port() if port is None else port
    check_listen(host, login)
    check_port_free(host, port)
    env = dict(os.environ if env is None else env)
    if not env.get("EURALIS_DATABASE_URL"):
        env["EURALIS_DATABASE_URL"] = db.database_url()
    if login:
        env.update(login_environment(env["EURALIS_DATABASE_URL"], env))
    out = open(log_path, "ab") if log_path else None  # noqa: SIM115 — owned by the child process
    return subprocess.Popen(voila_command(port, host, pool_size, apps_dir, login, extra), env=env, stdout=out,
                            stderr=subprocess.STDOUT, cwd=cwd or config.PROJECT_ROOT)


def url(port: int, host: str = "127.0.0.1", page: str = "accueil") -> str:
    """The URL of a dashboard page."""
    return f"http://{host}:{port}/voila/render/{page}.ipynb"


def wait_ready(proc: subprocess.Popen, port: int, host: str = "127.0.0.1", timeout: float = 60) -> None:
    """Wait until Voilà answers HTTP; raise :class:`ServeError` if it exits or times out."""
    limite = time.monotonic() + timeout
    while time.monotonic() < limite:
        if proc.poll() is not None:
            raise ServeError(f"Voilà exited with code {proc.returncode} before serving on {host}:{port}.")
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/voila/tree", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise ServeError(f"Voilà did not answer on {host}:{port} within {timeout:.0f} s.")


def stop(proc: subprocess.Popen, timeout: float = 30) -> int:
    """Stop a server started by :func:`start` (or any child process): SIGTERM, which lets Voilà shut its
    kernels down, then SIGKILL after ``timeout`` seconds; its exit code. Nothing to do if it already exited."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def serve(port: int | None = None, host: str = "127.0.0.1", open_browser: bool = False, pool_size: int = 1,
          login: bool = True, pools: str | None = None) -> int:
    """Serve the dashboards until interrupted; prints the URL of the landing page. ``pools``: preheated
    kernels per page beyond the registry, ``slug=n,…`` (``EURALIS_POOLS``)."""
    from euralis_lib.dashboards import PAGES
    from euralis_lib.serving import kernels
    from euralis_lib.serving import login as auth_voila

    port = default_port() if port is None else port
    env = dict(os.environ)
    if pools is not None:
        env[kernels.POOLS_ENV] = pools
    try:
        kernels.pools_from_env(env.get(kernels.POOLS_ENV, ""), pages=[p.slug for p in PAGES])
        kernels.kernels_per_user(env.get(kernels.KERNELS_PER_USER_ENV, ""))
        auth_voila.proxies_de_confiance(env.get(auth_voila.PROXIES_ENV, ""))
    except (KeyError, ValueError) as exc:
        raise ServeError(str(exc).strip("'\"")) from exc
    proc = start(port, host, pool_size, env=env, login=login)
    # SIGTERM (systemd, kill, timeout) stops Voilà and its kernels too, like Ctrl-C.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        wait_ready(proc, port, host)
        adresse = url(port, host)
        print(f"Tableaux de bord : {adresse}  (Ctrl-C pour arrêter)", flush=True)
        if open_browser:
            import webbrowser

            webbrowser.open(adresse)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop(proc)


def _cmd_serve(args: argparse.Namespace) -> int:
    return serve(port=args.port, host=args.host, open_browser=args.open, login=not args.sans_connexion,
                 pools=args.pools)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``serve [--port N] [--host H] [--open] [--pools PAGE=N,…] [--sans-connexion]`` to the CLI."""
    p = subparsers.add_parser("serve", help="serve the Voilà dashboards (preheated kernels)")
    p.add_argument("--port", type=int, default=None, help="port (default: EURALIS_PORT or 8866)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--open", action="store_true", help="open the landing page in a browser")
    p.add_argument("--pools", default=None, metavar="PAGE=N,…",
                   help="preheated kernels per page, e.g. tableau_de_bord=10 (default: EURALIS_POOLS, then "
                        "the page registry); each kernel holds ~200 MB")
    p.add_argument("--sans-connexion", action="store_true",
                   help="no login (one person on this machine; refused unless --host is a loopback address)")
    p.set_defaults(func=_cmd_serve)
