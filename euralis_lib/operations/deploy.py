"""Server deployment files rendered from the templates of ``deploy/``: systemd units and the nginx site.

Templates hold ``@NAME@`` placeholders; :func:`render` refuses a missing value and a placeholder left
unfilled, so a typo never reaches systemd or nginx. ``python -m euralis_lib deploy --out DIR …`` writes
the rendered files for an installation (runbook: ``deploy/README.md``).

The dashboards run as ``instances`` Voilà servers per host (``euralis-voila@<port>.service``, ports
``voila_port``, ``voila_port + 1``, …), behind one nginx upstream that keeps each login session on one
instance (:data:`euralis_lib.auth.SESSION_COOKIE` hashed): a page's kernel websocket reaches the server
holding its kernel, and a session whose instance is down moves to another one still logged in.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from euralis_lib import config
from euralis_lib.exceptions import EuralisError

DEPLOY_DIR = config.PROJECT_ROOT / "deploy"
TEMPLATES = {"euralis-dashboards.service": "systemd/euralis-dashboards.service",
             "euralis-voila@.service": "systemd/euralis-voila@.service",
             "euralis-scheduler.service": "systemd/euralis-scheduler.service",
             "euralis-courriels.service": "systemd/euralis-courriels.service",
             "euralis.conf": "nginx/euralis.conf"}
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
NGINX_MODULES_ENABLED = Path("/etc/nginx/modules-enabled")
NGINX_PREFIX = Path("/usr/share/nginx")  # Debian's: relative load_module paths start there
BROTLI_MODULE = "ngx_http_brotli_filter_module"  # Debian's libnginx-mod-http-brotli-filter


class DeployError(EuralisError):
    """A deployment template cannot be rendered (a placeholder has no value)."""


def brotli_enabled(modules_enabled: Path = NGINX_MODULES_ENABLED) -> bool:
    """Whether this host's nginx loads the brotli filter (a ``load_module`` of it among the files Debian's
    nginx.conf includes from ``modules-enabled``)."""
    return any(BROTLI_MODULE in path.read_text(encoding="utf-8", errors="replace")
               for path in sorted(modules_enabled.glob("*.conf")) if path.is_file())


def enabled_modules(modules_enabled: Path = NGINX_MODULES_ENABLED) -> list[str]:
    """The ``load_module`` lines of Debian's ``modules-enabled``, their paths made absolute (a private prefix,
    ``nginx -p``, would resolve them elsewhere)."""
    return [f"load_module {NGINX_PREFIX / m.group(1).strip()};"
            for path in sorted(modules_enabled.glob("*.conf")) if path.is_file()
            for m in re.finditer(r"^\s*load_module\s+([^;]+);", path.read_text(encoding="utf-8", errors="replace"),
                                 re.MULTILINE)]


# The site's compression when nginx has the brotli filter: browsers that accept it (every current one, over
# HTTPS) get brotli, about a sixth fewer bytes than gzip on the JavaScript of a first page view; the others
# gzip. The instances then send their responses plain to nginx (Accept-Encoding emptied towards them), since
# nginx compresses only what comes uncompressed.
_BROTLI = """    brotli on;
    brotli_comp_level 5;
    brotli_min_length 1024;
    brotli_types text/css text/javascript application/javascript application/x-javascript application/json
                 text/plain text/xml application/xml image/svg+xml;
"""
_UPSTREAM_PLAIN = '        proxy_set_header Accept-Encoding "";\n'


@dataclass(frozen=True)
class Settings:
    """Where and how the workbench is installed on the server."""

    install_dir: Path = config.PROJECT_ROOT
    user: str = "euralis"
    env_file: Path = Path("/etc/euralis/euralis.env")
    server_name: str = "_"
    listen_address: str = ""  # empty: every interface; "127.0.0.1" for a local test
    http_port: int = 80
    https_port: int = 443
    voila_port: int = 8866  # the first instance's; the others follow
    instances: int = 2  # Voilà instances per host
    hosts: tuple[str, ...] = ()  # hosts running the instances; empty: this one (127.0.0.1)
    cert: Path = Path("/etc/ssl/certs/euralis.pem")
    key: Path = Path("/etc/ssl/private/euralis.key")
    log_dir: Path = Path("/var/log/nginx")
    brotli: bool = field(default_factory=brotli_enabled)  # nginx compresses with brotli too (see _BROTLI)

    @property
    def voila_ports(self) -> list[int]:
        """The instances' ports on each host. DeployError when fewer than one or beyond 65535."""
        if self.instances < 1:
            raise DeployError(f"--instances must be at least 1, not {self.instances}")
        if self.voila_port < 1 or self.voila_port + self.instances - 1 > 65535:
            raise DeployError(f"ports {self.voila_port}..{self.voila_port + self.instances - 1} are not valid ports")
        return [self.voila_port + i for i in range(self.instances)]

    @property
    def voila_host(self) -> str:
        """The address the instances bind: 127.0.0.1 when nginx runs on the same host, else every interface
        (the firewall must let only nginx's host reach the ports)."""
        return "127.0.0.1" if all(h in {"127.0.0.1", "localhost"} for h in self.hosts) else "0.0.0.0"  # noqa: S104

    def upstream_servers(self) -> list[str]:
        """``host:port`` of every instance, in the order of ``hosts`` then ports."""
        return [f"{host}:{port}" for host in self.hosts or ("127.0.0.1",) for port in self.voila_ports]

    def dashboards_urls(self) -> str:
        """``EURALIS_DASHBOARDS_URL`` for ``health``: every instance, as nginx reaches it."""
        return ",".join(f"http://{server}/voila/tree" for server in self.upstream_servers())

    def values(self) -> dict[str, str]:
        """Placeholder values."""
        from euralis_lib.auth import SESSION_COOKIE

        units = " ".join(f"euralis-voila@{port}.service" for port in self.voila_ports)
        servers = "\n".join(f"    server {s} max_fails=1 fail_timeout=10s;" for s in self.upstream_servers())
        return {"INSTANCES": str(self.instances), "VOILA_HOST": self.voila_host, "VOILA_UNITS": units,
                "UPSTREAM_SERVERS": servers, "SESSION_COOKIE": SESSION_COOKIE,
                "INSTALL_DIR": str(self.install_dir), "USER": self.user, "ENV_FILE": str(self.env_file),
                "SERVER_NAME": self.server_name, "LISTEN": f"{self.listen_address}:" if self.listen_address else "",
                "HTTP_PORT": str(self.http_port), "HTTPS_PORT": str(self.https_port),
                "HTTPS_SUFFIX": "" if self.https_port == 443 else f":{self.https_port}",
                "VOILA_PORT": str(self.voila_port), "CERT": str(self.cert), "KEY": str(self.key),
                "LOG_DIR": str(self.log_dir), "BROTLI": _BROTLI if self.brotli else "",
                "UPSTREAM_ACCEPT_ENCODING": _UPSTREAM_PLAIN if self.brotli else ""}


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``@NAME@`` placeholders; DeployError naming any placeholder without a value."""
    missing = sorted({name for name in _PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise DeployError(f"no value for {', '.join(missing)} in the deployment template")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def render_all(settings: Settings) -> dict[str, str]:
    """Every deployment file, rendered: ``{file name: text}``. DeployError for ``root`` as the services' user:
    the dashboards run kernels for every visitor, they must run as a dedicated unprivileged user."""
    if settings.user in {"root", "0"}:
        raise DeployError("the services must not run as root: create a system user (useradd --system euralis)")
    values = settings.values()
    return {name: render((DEPLOY_DIR / rel).read_text(encoding="utf-8"), values) for name, rel in TEMPLATES.items()}


def write(settings: Settings, out: Path) -> list[Path]:
    """Write the rendered files into ``out`` (created if needed); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all(settings).items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written


def nginx_binary() -> str:
    """Debian's nginx (``/usr/sbin`` is not on every user's PATH)."""
    return shutil.which("nginx") or "/usr/sbin/nginx"


def local_settings(base: Path, **ports: int) -> Settings:
    """The site of a private nginx on this machine (tests, benchmarks): 127.0.0.1 only, its certificate, key and
    logs in ``base``; ``ports``: ``https_port``, ``http_port``, ``voila_port``, ``instances``."""
    return Settings(install_dir=config.PROJECT_ROOT, user="euralis", env_file=base / "euralis.env",
                    server_name="127.0.0.1 localhost", listen_address="127.0.0.1", cert=base / "cert.pem",
                    key=base / "key.pem", log_dir=base / "logs", **ports)


def write_local_site(settings: Settings, base: Path) -> Path:
    """The rendered site in ``base`` with a self-signed certificate (openssl) and the main configuration a
    Debian server has in /etc/nginx/nginx.conf (its enabled modules included), reduced to the private prefix
    ``base``; the main file's path (``nginx -p BASE -c PATH``)."""
    (base / "logs").mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(settings.key),
                    "-out", str(settings.cert)], check=True, capture_output=True)
    write(settings, base)
    main = base / "nginx.conf"
    main.write_text(
        "".join(f"{line}\n" for line in enabled_modules())
        + f"worker_processes 1;\npid {base}/nginx.pid;\nerror_log {base}/logs/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n  include /etc/nginx/mime.types;\n  client_body_temp_path {base}/body;\n"
        f"  proxy_temp_path {base}/proxy;\n  fastcgi_temp_path {base}/fastcgi;\n  uwsgi_temp_path {base}/uwsgi;\n"
        f"  scgi_temp_path {base}/scgi;\n  access_log {base}/logs/access.log;\n  include {base}/euralis.conf;\n}}\n")
    return main


def start_local_nginx(settings: Settings, main: Path, timeout: float = 20) -> subprocess.Popen:
    """nginx on the private prefix of :func:`write_local_site` (``main``: its main file), in the foreground of
    the returned process, once its HTTPS port accepts connections; RuntimeError if it exits or times out."""
    base = main.parent
    proc = subprocess.Popen([nginx_binary(), "-p", str(base), "-c", str(main), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    limite = time.monotonic() + timeout
    while time.monotonic() < limite:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with code {proc.returncode}: {proc.stderr.read().decode()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", settings.https_port)) == 0:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"nginx does not listen on {settings.https_port} after {timeout} s")


def _cmd_deploy(args: argparse.Namespace) -> int:
    settings = Settings(install_dir=args.install_dir.resolve(), user=args.user, env_file=args.env_file,
                        server_name=args.server_name, http_port=args.http_port, https_port=args.https_port,
                        voila_port=args.voila_port, instances=args.instances,
                        hosts=tuple(h.strip() for h in args.hosts.split(",") if h.strip()), cert=args.cert,
                        key=args.key, log_dir=args.log_dir, brotli=args.brotli)
    for path in write(settings, args.out):
        print(path)
    print(f"health probes every instance with this line in {settings.env_file}:\n"
          f"EURALIS_DASHBOARDS_URL={settings.dashboards_urls()}")
    print("next: see deploy/README.md (copy the units to /etc/systemd/system, the site to /etc/nginx/sites-available)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``deploy --out DIR [--server-name …]`` to the CLI."""
    d = Settings()
    p = subparsers.add_parser("deploy", help="render the systemd units and nginx site of deploy/ for a server")
    p.add_argument("--out", type=Path, required=True, help="folder to write the rendered files into")
    p.add_argument("--install-dir", type=Path, default=d.install_dir, help="where the project is installed")
    p.add_argument("--user", default=d.user, help="system user running the services")
    p.add_argument("--env-file", type=Path, default=d.env_file, help="EnvironmentFile of the units")
    p.add_argument("--server-name", default=d.server_name, help="nginx server_name (the public host name)")
    p.add_argument("--http-port", type=int, default=d.http_port)
    p.add_argument("--https-port", type=int, default=d.https_port)
    p.add_argument("--voila-port", type=int, default=d.voila_port, help="the first Voilà instance's port")
    p.add_argument("--instances", type=int, default=d.instances,
                   help="Voilà instances per host, on consecutive ports (default 2)")
    p.add_argument("--hosts", default="", metavar="HOST,…",
                   help="hosts running the instances, for nginx's upstream (default: this one, 127.0.0.1)")
    p.add_argument("--cert", type=Path, default=d.cert, help="TLS certificate (full chain, PEM)")
    p.add_argument("--key", type=Path, default=d.key, help="TLS private key (PEM)")
    p.add_argument("--log-dir", type=Path, default=d.log_dir, help="nginx log folder")
    p.add_argument("--brotli", action=argparse.BooleanOptionalAction, default=d.brotli,
                   help="compress with brotli as well as gzip (default: whether this host's nginx loads "
                        f"{BROTLI_MODULE}, Debian's libnginx-mod-http-brotli-filter)")
    p.set_defaults(func=_cmd_deploy)
