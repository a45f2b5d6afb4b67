"""``make bench-serve``: many supervisors opening Tableau de bord at once on one dashboards server.

A benchmark, not a test. A throw-away PostgreSQL cluster gets a simulated database; one Voilà server
(the app notebooks plus an empty notebook, the floor) serves it; N headless Chromium contexts (1, 5, 10)
open Tableau de bord at the same moment. Measured: p50/p95 seconds from request to the four KPI values
painted (the browser's own record, Element Timing: snapshot or live page), to the controls live and to the
chart drawn; the same for N users opening the empty notebook at once (the floor at that load: the 2 cores
also run the N Chromium renderers), the server's resident memory (server + kernels, summed over its
process tree) before, at the peak and two minutes after the users left (tabs closed), and the kernel count
at each of those moments; for the capacity model (docs/serving.md), the CPU seconds the server's process tree
spent per page view (kernels reaped during the round included) and the resident memory per preheated kernel.
``--project DIR`` serves another checkout's code (e.g. the code before a change) with the same data;
``--pools`` sets the preheated kernels per page (``EURALIS_POOLS``; the empty notebook gets Tableau de
bord's pool so that both are measured alike).
Prints a table, also written to ``reports/bench-serve-<date>.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import date
from pathlib import Path

import psutil

from euralis_lib.bench import provenance
from euralis_lib.config import CHROMIUM_ARGS, chromium
from euralis_lib.dashboards.tableau_de_bord import KPIS
from euralis_lib.serving.browser import (
    CHART_VISIBLE,
    EMPTY_VISIBLE,
    FIRST_TRUE,
    KPIS_PAINTED,
    KPIS_SHOWN,
    KPIS_VISIBLE,
    free_port,
    kernel_pids,
    tree_rss,
)

TIMEOUT_MS = 300_000  # a user who waited 5 min is counted as timed out

def tree_cpu(server_pid: int) -> float:
    """CPU seconds (user + system) of the server, of every process under it and of its children already
    reaped (kernels shut down and waited for by the server)."""
    racine = psutil.Process(server_pid)
    temps = racine.cpu_times()
    total = temps.user + temps.system + temps.children_user + temps.children_system
    for proc in racine.children(recursive=True):
        try:
            fils = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += fils.user + fils.system
    return total


def rss_per_kernel(server_pid: int) -> float:
    """Mean resident memory (bytes) of the server's kernels, 0 without any."""
    tailles = []
    for pid in kernel_pids(server_pid):
        try:
            tailles.append(psutil.Process(pid).memory_info().rss)
        except psutil.NoSuchProcess:
            continue
    return statistics.fmean(tailles) if tailles else 0.0


async def log_in(page, base: str, identifiants: tuple[str, str] | None, suivant: str = "") -> None:
    """Log in through the login form (untimed) when the server has login, landing on ``suivant`` (a path; the
    server's default without); nothing without login."""
    if identifiants is None:
        return
    login, mot_de_passe = identifiants
    query = f"?next={urllib.parse.quote(suivant)}" if suivant else ""
    await page.goto(f"{base}/login{query}", wait_until="domcontentloaded", timeout=TIMEOUT_MS)
    await page.fill("#login", login)
    await page.fill("#mot_de_passe", mot_de_passe)
    async with page.expect_navigation(timeout=TIMEOUT_MS):
        await page.click("button[type=submit]")
    if "/login" in page.url:
        raise SystemExit(f"the bench user {login} was refused by the login page")


class MemorySampler(threading.Thread):
    """Samples the server's process-tree RSS every ``period`` seconds; ``peak`` is the highest seen."""

    def __init__(self, pid: int, period: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.period, self.peak, self.peak_kernels = pid, period, 0, 0
        self._fin = threading.Event()

    def run(self) -> None:
        """Sample until :meth:`stop`."""
        while not self._fin.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self.peak_kernels = max(self.peak_kernels, len(kernel_pids(self.pid)))
            self._fin.wait(self.period)

    def stop(self) -> None:
        """Stop sampling (the peak stays readable)."""
        self._fin.set()
        self.join()


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (1–100, inclusive method) of ``values``; the value itself for one sample."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


async def open_at_once(base: str, n: int, identifiants: tuple[str, str] | None, page_name: str = "tableau_de_bord",
                       visible: str = KPIS_SHOWN, chart: bool = True, live: str = KPIS_VISIBLE
                       ) -> list[tuple[float | None, float | None, float | None]]:
    """N browser contexts request ``page_name`` at the same moment, then leave (tabs closed, beforeunload
    runs as in a real browser); per user, seconds from the request to ``visible`` on screen (with ``chart``:
    the four KPI values painted, :data:`KPIS_PAINTED`; without: ``visible`` first true in the page,
    :data:`FIRST_TRUE`), and with ``chart`` to ``live`` true (the page's controls work) and to the chart drawn,
    both polled (None: timed out)."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    from playwright.async_api import async_playwright

    pw = await async_playwright().start()
    browser = await pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
    contexts = [await browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 1000})
                for _ in range(n)]
    pages = [await c.new_page() for c in contexts]
    for page in pages:  # log in first (untimed): the timing starts at the page request
        await log_in(page, base, identifiants)

    if not chart:  # the empty notebook: when its text appeared, seen by an observer in the page
        for page in pages:
            await page.add_init_script(FIRST_TRUE % visible)

    async def un(page) -> tuple[float | None, float | None, float | None]:
        debut, horloge = time.monotonic(), time.time()
        try:
            await page.goto(f"{base}/voila/render/{page_name}.ipynb", wait_until="commit", timeout=TIMEOUT_MS)
            await page.wait_for_function(visible, timeout=TIMEOUT_MS)
        except PlaywrightTimeout:
            return None, None, None  # counted as timed out, the other users' times still count
        vu_sonde = time.monotonic() - debut
        vu_ms = await (page.evaluate(KPIS_PAINTED, len(KPIS)) if chart
                       else page.evaluate("window.__euralis_vu || null"))
        if vu_ms is None:  # no record within a minute: when the bench saw it (later than the user did)
            print(f"warning: {page_name}: no paint record, the polled time is counted", file=sys.stderr)
        vu = vu_sonde if vu_ms is None else vu_ms / 1000 - horloge
        if not chart:
            return vu, None, None
        temps: list[float | None] = [vu]
        for condition in (live, CHART_VISIBLE):
            try:
                await page.wait_for_function(condition, timeout=TIMEOUT_MS)
                temps.append(time.monotonic() - debut)
            except PlaywrightTimeout:
                temps.append(None)
        return vu, temps[1], temps[2]

    secondes = await asyncio.gather(*(un(p) for p in pages))
    for page in pages:
        await page.close(run_before_unload=True)
    await asyncio.sleep(5)  # let the beacons go out before the browser process ends
    for context in contexts:
        await context.close()
    await browser.close()
    await pw.stop()
    return list(secondes)


def floor(base: str, identifiants: tuple[str, str] | None) -> float:
    """One user opening the empty notebook: the server's floor, seconds to its text visible."""
    seconds = asyncio.run(open_at_once(base, 1, identifiants, "vide", EMPTY_VISIBLE, chart=False))[0][0]
    if seconds is None:
        raise RuntimeError(f"the empty notebook did not show within {TIMEOUT_MS / 1000:.0f} s")
    return seconds


def wait_settled(pid: int, timeout: float = 900) -> int:
    """Wait until the server's kernel count is stable and its tree nearly idle (pool rendered); the count."""
    limite = time.monotonic() + timeout
    precedent, depuis = -1, time.monotonic()
    while time.monotonic() < limite:
        nombre = len(kernel_pids(pid))
        if nombre != precedent:
            precedent, depuis = nombre, time.monotonic()
        elif time.monotonic() - depuis > 6:
            procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
            for p in procs:
                p.cpu_percent(interval=None)
            time.sleep(2)
            cpu = sum(p.cpu_percent(interval=None) for p in procs if p.is_running())
            if cpu < 30:
                return nombre
        time.sleep(1)
    raise RuntimeError(f"the server did not settle within {timeout:.0f} s")


def bench_user(engine, role: str = "superviseur") -> tuple[str, str]:
    """A new user of ``role`` for a benchmark (every site for a superviseur); his login and random password."""
    import secrets

    from euralis_lib.auth import utilisateurs

    identifiants = (f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(16))
    utilisateurs.create(engine, identifiants[0], "Banc d'essai", role, identifiants[1])
    return identifiants


def prepare_database(socket_dir: Path | None, years: int, url: str | None = None,
                     name: str = "bench_serve") -> tuple[str, tuple[str, str]]:
    """A simulated database ``name`` on the throw-away cluster (or ``url``, a database already loaded) with a
    superviseur for the bench; its URL and the user's login and random password."""
    import sqlalchemy as sa

    from euralis_lib import simulator
    from euralis_lib.database import db, migrations

    if url is None:
        admin = db.get_engine(f"postgresql+psycopg2://postgres@/postgres?host={socket_dir}").execution_options(
            isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))  # a name of this module's callers, not input
        admin.dispose()
        url = f"postgresql+psycopg2://postgres@/{name}?host={socket_dir}"
        engine = db.get_engine(url)
        migrations.apply_migrations(engine)
        simulator.load(engine, simulator.simulate(years=years, seed=42, end=date(2026, 11, 1)))
    engine = db.get_engine(url)
    identifiants = bench_user(engine)
    engine.dispose()
    return url, identifiants


def start_server(url: str, work: Path, project: Path | None, log: Path, pools: str | None = None,
                 pool_size: int = 1):
    """The dashboards server on the app notebooks plus an empty one, with login (``project``: serve that
    checkout's code, without login if it has none); ``pools``: ``EURALIS_POOLS`` for the server,
    ``pool_size``: the preheated kernels of the pages it does not name."""
    import nbformat

    from euralis_lib import config
    from euralis_lib.serving import serve

    racine = project or config.PROJECT_ROOT
    apps = work / "apps"
    apps.mkdir()
    for nb in (racine / "notebooks" / "apps").glob("*.ipynb"):
        shutil.copy(nb, apps / nb.name)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Page vide")]),
                   apps / "vide.ipynb")
    port = free_port()
    env = {**os.environ, "EURALIS_DATABASE_URL": url, "EURALIS_REPORTS_DIR": str(work / "rapports")}
    if pools:
        env["EURALIS_POOLS"] = pools
    if project:
        env["PYTHONPATH"] = str(project)  # server and kernels import that checkout's euralis_lib
    if project and (project / "euralis_lib" / "auth" / "voila.py").exists():
        proc = serve.start(port, pool_size=pool_size, env=env, log_path=log, apps_dir=apps, cwd=racine)
    elif project:
        import subprocess

        proc = subprocess.Popen(serve.voila_command(port, pool_size=pool_size, apps_dir=apps, login=False),
                                env=env, cwd=racine, stdout=open(log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
    else:
        proc = serve.start(port, pool_size=pool_size, env=env, log_path=log, apps_dir=apps)
    serve.wait_ready(proc, port, timeout=180)
    return proc, f"http://127.0.0.1:{port}"


def run_one(proc, base: str, n: int, after_s: float, identifiants: tuple[str, str] | None) -> dict:
    """One round: N users open the empty notebook at once (the floor at that load), then N users open
    Tableau de bord at once and leave; timings, memory and kernel counts of the latter."""
    wait_settled(proc.pid)
    plancher = [v for v, *_ in asyncio.run(open_at_once(base, n, identifiants, "vide", EMPTY_VISIBLE, chart=False))
                if v is not None] or [float("nan")]
    kernels_avant = wait_settled(proc.pid)
    rss_avant, rss_noyau = tree_rss(proc.pid), rss_per_kernel(proc.pid)
    sampler = MemorySampler(proc.pid)
    sampler.start()
    cpu_avant = tree_cpu(proc.pid)
    resultats = asyncio.run(open_at_once(base, n, identifiants))
    time.sleep(after_s)
    sampler.stop()
    cpu_vue = (tree_cpu(proc.pid) - cpu_avant) / n
    vues = [v for v, _, _ in resultats if v is not None] or [float("nan")]
    vivantes = [v for _, v, _ in resultats if v is not None] or [float("nan")]
    graphes = [g for _, _, g in resultats if g is not None] or [float("nan")]
    return {"n": n, "p50": percentile(vues, 50), "p95": percentile(vues, 95), "max": max(vues),
            "timeouts": sum(v is None for v, _, _ in resultats), "chart_p95": percentile(graphes, 95),
            "live_p50": percentile(vivantes, 50), "live_p95": percentile(vivantes, 95),
            "floor_p50": percentile(plancher, 50), "floor_p95": percentile(plancher, 95),
            "rss_before": rss_avant, "rss_peak": sampler.peak, "rss_after": tree_rss(proc.pid),
            "kernels_before": kernels_avant, "kernels_peak": sampler.peak_kernels,
            "kernels_after": len(kernel_pids(proc.pid)), "cpu_per_view": cpu_vue, "rss_per_kernel": rss_noyau}


def format_table(label: str, floor_s: float, results: list[dict]) -> str:
    """Markdown table of one server's rounds."""
    mb = 1024 * 1024
    lignes = [f"**{label}** — empty-notebook floor (1 user): {floor_s:.2f} s", "",
              "| users at once | KPIs painted p50 s | p95 s | max s | timed out | p50 / floor | "
              "controls live p50 / p95 s | chart p95 s | "
              "empty notebook, N at once: p50 / p95 s | RSS before MB | RSS peak MB | "
              "RSS after MB | after / before | kernels before → peak → after | CPU s per view | "
              "RSS per kernel MB |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lignes += [f"| {r['n']} | {r['p50']:.2f} | {r['p95']:.2f} | {r['max']:.2f} | {r['timeouts']} | "
               f"{r['p50'] / floor_s:.2f}× | {r['live_p50']:.2f} / {r['live_p95']:.2f} | {r['chart_p95']:.2f} | "
               f"{r['floor_p50']:.2f} / {r['floor_p95']:.2f} | "
               f"{r['rss_before'] / mb:,.0f} | {r['rss_peak'] / mb:,.0f} | {r['rss_after'] / mb:,.0f} | "
               f"{r['rss_after'] / r['rss_before'] - 1:+.0%} | {r['kernels_before']} → {r['kernels_peak']} → "
               f"{r['kernels_after']} | {r['cpu_per_view']:.1f} | {r['rss_per_kernel'] / mb:,.0f} |"
               for r in results]
    return "\n".join(lignes)


def main(argv: list[str] | None = None) -> int:
    """Run the rounds on one server and print the table."""
    from euralis_lib.bench.volume import write_report
    from euralis_lib.dashboards import page_spec
    from euralis_lib.database.embedded import throwaway_cluster
    from euralis_lib.serving import kernels, serve

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--years", type=int, default=3, help="simulated years in the database")
    parser.add_argument("--after", type=float, default=120, help="seconds to wait after the users left")
    parser.add_argument("--project", type=Path, default=None, help="serve this checkout's code instead")
    parser.add_argument("--label", default=None, help="name of this server in the table")
    parser.add_argument("--pools", default=None, metavar="PAGE=N,…",
                        help="preheated kernels per page (EURALIS_POOLS), e.g. tableau_de_bord=10")
    parser.add_argument("--report", default="bench-serve", help="report name under reports/")
    parser.add_argument("--database-url", default=None,
                        help="use this database, already migrated and loaded (e.g. a previous run's), "
                             "instead of simulating one")
    args = parser.parse_args(argv)
    try:
        chromium()
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from None
    origine = provenance()  # before the run: the code that runs, the load before the bench's own
    label = args.label or (f"code of {args.project}" if args.project else "this checkout")
    pool = kernels.pools_from_env(args.pools or "").get("tableau_de_bord", page_spec("tableau_de_bord").pool)
    pools = ",".join(p for p in (args.pools, f"vide={pool}") if p)
    label += f" (Tableau de bord pool {pool})"
    with contextlib.ExitStack() as pile:
        socket_dir = None if args.database_url else pile.enter_context(throwaway_cluster("eurbs-"))
        work = Path(pile.enter_context(tempfile.TemporaryDirectory(prefix="bench-serve-")))
        print("preparing the database...", flush=True)
        url, identifiants = prepare_database(socket_dir, args.years, args.database_url)
        proc, base = start_server(url, work, args.project, work / "voila.log", pools)
        if args.project and not (args.project / "euralis_lib" / "auth" / "voila.py").exists():
            identifiants = None  # a checkout from before the login
        try:
            wait_settled(proc.pid)
            plancher = floor(base, identifiants)
            results = []
            for n in args.users:
                print(f"{n} user(s) at once...", flush=True)
                results.append(run_one(proc, base, n, args.after, identifiants))
                print(format_table(label, plancher, results[-1:]), flush=True)
        finally:
            serve.stop(proc)
        write_report(f"bench-serve {origine}; RSS after: {args.after:.0f} s after the users left\n\n"
                     + format_table(label, plancher, results), args.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
