"""``make bench-transfer``: the bytes a supervisor's browser downloads to open Tableau de bord (issue 23).

A benchmark, not a test. A throw-away PostgreSQL cluster gets a simulated database; one Voilà server with login
serves the app notebooks (one preheated kernel for Tableau de bord, none for the other pages). A fresh headless
Chromium context logs in (untimed), its cache is emptied (``Network.clearBrowserCache``), then it opens Tableau
de bord (first view) and, in the same context, opens it again (repeat view). Each view lasts until the chart is
drawn and the network has been quiet for a few seconds.

Bytes are the browser's own counts, from the DevTools protocol (a Playwright CDP session): per response,
``Network.loadingFinished.encodedDataLength``, the bytes received on the wire for it (headers and body as sent:
compressed when the server compressed). Responses served from the browser's cache count what they cost on the
wire (nothing, or the headers of a 304). Websockets are not in the totals: Chrome reports their frames' payload
(decompressed), not bytes on the wire; the payload received is shown apart. A response still open at the end
(the alerts' event stream) counts the bytes received so far (``Network.dataReceived``); ``data:`` and ``blob:``
URLs, which never reach the network, are left out.
With ``--proxy`` (the default) the same two views are measured again through nginx running the site
``python -m euralis_lib deploy`` renders (HTTPS, high ports, a self-signed certificate), in another fresh context.
Prints the totals, the largest responses (URL, type, content-encoding, bytes on the wire, bytes decoded) and the
goals' verdicts (first view ≤ 2 MB, repeat view ≤ 100 kB; 1 MB = 10⁶ bytes); also written to
``reports/bench-transfer-<date>.md`` with its provenance.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from euralis_lib.bench import provenance
from euralis_lib.bench.serve import TIMEOUT_MS, log_in, prepare_database, start_server, wait_settled
from euralis_lib.config import CHROMIUM_ARGS, chromium
from euralis_lib.serving.browser import CHART_VISIBLE, LOADED, free_port

GOAL_FIRST = 2_000_000  # bytes on the wire, first view (empty cache)
GOAL_REPEAT = 100_000  # bytes on the wire, repeat view (same context)
QUIET_S = 4.0  # a view ends when no response finished for this long after the chart was drawn
PAGE = "tableau_de_bord"
POOLS = "tableau_de_bord=1,accueil=0,vide=0"  # one kernel waits for the page measured, none for the others
TOP = 12


@dataclass
class Response:
    """One response as the browser received it."""

    url: str
    status: int = 0
    mime: str = ""
    encoding: str = ""  # the Content-Encoding header ('' when sent as is)
    wire: int = 0  # bytes received on the wire (headers + body as sent)
    decoded: int = 0  # body bytes after decoding
    cached: bool = False  # served from the browser's cache
    finished: bool = False


@dataclass
class View:
    """What one page view transferred."""

    responses: list[Response] = field(default_factory=list)
    ws_frames: int = 0
    ws_payload: int = 0  # websocket payload received, decompressed (not in :meth:`wire`)

    def wire(self) -> int:
        """Bytes on the wire of every response (websockets excluded)."""
        return sum(r.wire for r in self.responses)

    def compressed_share(self) -> float:
        """Share of the bytes on the wire that came compressed."""
        total = self.wire()
        return sum(r.wire for r in self.responses if r.encoding) / total if total else 0.0


class Recorder:
    """Collects the Network domain's events of one CDP session into the current :class:`View`."""

    def __init__(self, cdp) -> None:
        self.cdp = cdp
        self.requests: dict[str, Response] = {}
        self.view = View()
        self.last_event = time.monotonic()
        for event, handler in (("Network.responseReceived", self._response),
                               ("Network.requestServedFromCache", self._cache),
                               ("Network.dataReceived", self._data),
                               ("Network.loadingFinished", self._finished),
                               ("Network.webSocketFrameReceived", self._frame)):
            cdp.on(event, handler)

    def start(self) -> None:
        """Start a new view: responses from now on."""
        self.requests, self.view = {}, View()

    def stop(self) -> View:
        """The view recorded since :meth:`start` (``data:`` and ``blob:`` URLs left out: no network)."""
        self.view.responses = [r for r in self.requests.values() if not r.url.startswith(("data:", "blob:"))]
        return self.view

    def _get(self, request_id: str) -> Response:
        return self.requests.setdefault(request_id, Response(url=""))

    def _response(self, e: dict) -> None:
        r, response = self._get(e["requestId"]), e["response"]
        entetes = {k.lower(): v for k, v in response.get("headers", {}).items()}
        r.url, r.status, r.mime = response["url"], response["status"], response.get("mimeType", "")
        r.encoding = entetes.get("content-encoding", "")
        r.cached = r.cached or response.get("fromDiskCache", False) or response.get("fromPrefetchCache", False)
        r.wire = max(r.wire, int(response.get("encodedDataLength", 0)))
        self.last_event = time.monotonic()

    def _cache(self, e: dict) -> None:
        self._get(e["requestId"]).cached = True

    def _data(self, e: dict) -> None:
        r = self._get(e["requestId"])
        r.decoded += int(e.get("dataLength", 0))
        if not r.finished:
            r.wire += int(e.get("encodedDataLength", 0))
        self.last_event = time.monotonic()

    def _finished(self, e: dict) -> None:
        r = self._get(e["requestId"])
        r.wire, r.finished = int(e["encodedDataLength"]), True
        self.last_event = time.monotonic()

    def _frame(self, e: dict) -> None:
        self.view.ws_frames += 1
        self.view.ws_payload += len(e["response"].get("payloadData", ""))


async def one_view(page, recorder: Recorder, url: str) -> View:
    """Open ``url``, wait for the live page and its chart, then for the network to be quiet; what it transferred."""
    recorder.start()
    await page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
    await page.wait_for_function(LOADED, timeout=TIMEOUT_MS)
    await page.wait_for_function(CHART_VISIBLE, timeout=TIMEOUT_MS)
    while time.monotonic() - recorder.last_event < QUIET_S:
        await asyncio.sleep(0.5)
    return recorder.stop()


async def two_views(base: str, identifiants: tuple[str, str], spki: str = "") -> tuple[View, View]:
    """A fresh Chromium context logs in, empties its cache, opens Tableau de bord twice; the two views. ``spki``:
    the HTTPS server's key hash, trusted as a valid certificate's (Chrome caches nothing from a server whose
    certificate error was merely ignored: the repeat view would download everything again)."""
    from playwright.async_api import async_playwright

    url = f"{base}/voila/render/{PAGE}.ipynb"
    confiance = [f"--ignore-certificate-errors-spki-list={spki}"] if spki else []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium(), args=[*CHROMIUM_ARGS, *confiance])
        try:
            context = await browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 1000})
            page = await context.new_page()
            cdp = await context.new_cdp_session(page)
            await cdp.send("Network.enable")
            recorder = Recorder(cdp)
            await log_in(page, base, identifiants, suivant="/voila/tree")  # no kernel started
            await cdp.send("Network.clearBrowserCache")
            premiere = await one_view(page, recorder, url)
            await page.goto("about:blank")  # leave: the first view's kernel is shut down (beacon)
            await asyncio.sleep(2)
            seconde = await one_view(page, recorder, url)
            await page.close(run_before_unload=True)
            await asyncio.sleep(2)  # let the beacon go out
            await context.close()
        finally:
            await browser.close()
    return premiere, seconde


@contextlib.contextmanager
def nginx_in_front(voila_port: int, work: Path):
    """nginx running the rendered site (one instance: ``voila_port``) on free high ports; yields its HTTPS base
    and its certificate's key hash (:func:`spki_hash`)."""
    from euralis_lib.operations import deploy
    from euralis_lib.serving import serve

    base = work / "nginx"
    base.mkdir()
    settings = deploy.local_settings(base, https_port=free_port(), http_port=free_port(), voila_port=voila_port,
                                     instances=1)
    proc = deploy.start_local_nginx(settings, deploy.write_local_site(settings, base))
    try:
        yield f"https://127.0.0.1:{settings.https_port}", spki_hash(settings.cert)
    finally:
        serve.stop(proc)


def spki_hash(cert: Path) -> str:
    """base64 SHA-256 of a certificate's public key (Chromium's ``--ignore-certificate-errors-spki-list``)."""
    pem = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"], check=True, capture_output=True,
                         text=True).stdout  # the PEM body is the SubjectPublicKeyInfo's DER, in base64
    der = base64.b64decode("".join(ligne for ligne in pem.splitlines() if not ligne.startswith("-----")))
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def _path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    texte = parts.path + (f"?{parts.query}" if parts.query else "")
    return texte if len(texte) <= 90 else texte[:87] + "…"


def origin(url: str) -> str:
    """What a response belongs to: its path's first two segments, three under ``/voila/labextensions/`` (the
    extension), four for a scoped extension (``@scope/name``)."""
    segments = urllib.parse.urlsplit(url).path.strip("/").split("/")
    n = 2
    if segments[:2] == ["voila", "labextensions"]:
        n = 4 if len(segments) > 2 and segments[2].startswith("@") else 3
    return "/" + "/".join(segments[:n])


def format_view(label: str, view: View) -> str:
    """Markdown: a view's totals and its largest responses."""
    r = view.responses
    lignes = [f"**{label}**: {_mb(view.wire())} on the wire in {len(r)} responses "
              f"({sum(x.cached for x in r)} from the browser's cache, {sum(bool(x.encoding) for x in r)} compressed, "
              f"{view.compressed_share():.0%} of the bytes came compressed; decoded {_mb(sum(x.decoded for x in r))}); "
              f"websockets apart: {view.ws_frames} frames received, {_mb(view.ws_payload)} of payload", "",
              "| bytes on the wire | decoded | content-encoding | status | type | URL |", "|---|---|---|---|---|---|"]
    for x in sorted(r, key=lambda x: x.wire, reverse=True)[:TOP]:
        lignes.append(f"| {x.wire:,} | {x.decoded:,} | {x.encoding or '—'} | {x.status}{' (cache)' * x.cached} | "
                      f"{x.mime} | `{_path(x.url)}` |")
    groupes: dict[str, list[Response]] = {}
    for x in r:
        groupes.setdefault(origin(x.url), []).append(x)
    lignes += ["", "| from | responses | bytes on the wire | decoded |", "|---|---|---|---|"]
    for nom, liste in sorted(groupes.items(), key=lambda g: -sum(x.wire for x in g[1])):
        lignes.append(f"| `{nom}` | {len(liste)} | {sum(x.wire for x in liste):,} | "
                      f"{sum(x.decoded for x in liste):,} |")
    return "\n".join(lignes)


def verdicts(views: dict[str, tuple[View, View]]) -> list[str]:
    """One line per goal and path (direct, through nginx): PASS or FAIL with the figure."""
    lignes = []
    for chemin, (premiere, seconde) in views.items():
        for nom, vue, but in (("first view", premiere, GOAL_FIRST), ("repeat view", seconde, GOAL_REPEAT)):
            ok = vue.wire() <= but
            lignes.append(f"- {'PASS' if ok else 'FAIL'} {chemin}, {nom}: {vue.wire():,} bytes "
                          f"(goal ≤ {but:,})")
    return lignes


def report(origine: str, views: dict[str, tuple[View, View]]) -> str:
    """The whole report: provenance, method, verdicts, each view."""
    parties = [f"bench-transfer {origine}", "",
               "Bytes on the wire per response: Chrome's Network.loadingFinished.encodedDataLength (CDP), headers "
               "included; websockets not in the totals (payload shown apart). Tableau de bord opened by a logged-in "
               "superviseur in a fresh context with an empty cache (first view), then again in the same context "
               "(repeat view).", "", *verdicts(views)]
    for chemin, (premiere, seconde) in views.items():
        parties += ["", format_view(f"{chemin}, first view", premiere), "",
                    format_view(f"{chemin}, repeat view", seconde)]
    return "\n".join(parties)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--years", type=int, default=3, help="simulated years in the database")
    p.add_argument("--no-proxy", dest="proxy", action="store_false", help="do not measure through nginx")
    p.add_argument("--report", default="bench-transfer", help="report name under reports/")
    p.add_argument("--database-url", default=None, help="use this database, already migrated and loaded")
    return p


def main(argv: list[str] | None = None) -> int:
    """Measure the views, directly and through nginx; print and write the report."""
    from euralis_lib.bench.volume import write_report
    from euralis_lib.database.embedded import throwaway_cluster
    from euralis_lib.serving import serve

    args = parser().parse_args(argv)
    try:
        chromium()
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from None
    origine = provenance()
    views: dict[str, tuple[View, View]] = {}
    with contextlib.ExitStack() as pile:
        socket_dir = None if args.database_url else pile.enter_context(throwaway_cluster("eurbt-"))
        work = Path(pile.enter_context(tempfile.TemporaryDirectory(prefix="bench-transfer-")))
        print("preparing the database...", flush=True)
        url, identifiants = prepare_database(socket_dir, args.years, args.database_url, name="bench_transfer")
        proc, base = start_server(url, work, None, work / "voila.log", POOLS, pool_size=0)
        try:
            chemins = {"direct (Voilà)": (base, "")}
            if args.proxy:
                chemins["through nginx (HTTPS)"] = pile.enter_context(
                    nginx_in_front(urllib.parse.urlsplit(base).port, work))
            for chemin, adresse in chemins.items():
                wait_settled(proc.pid)
                print(f"{chemin}...", flush=True)
                views[chemin] = asyncio.run(two_views(adresse[0], identifiants, adresse[1]))
                print(format_view(f"{chemin}, first view", views[chemin][0]), flush=True)
        finally:
            serve.stop(proc)
        write_report(report(origine, views), args.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
