"""How a client sees the served pages (with the Chromium of :func:`euralis_lib.config.chromium`): the states of a
page it waits for (JavaScript conditions on the DOM), the kernel processes under a server, a free port.

Shared by the serving benchmark (:mod:`euralis_lib.bench.serve`) and the browser tests.
"""

from __future__ import annotations

import re
import socket

import psutil

from euralis_lib.dashboards.tableau_de_bord import KPIS

# What a user sees: a navigation bar and no visible loading message, from the page's snapshot (drawn with
# the first HTML bytes, see dashboards.common.instantane_html) or from the live widgets.
SHOWN = ("document.querySelector('.euralis-nav') && (!document.querySelector('.euralis-chargement')"
         " || document.querySelector('.euralis-chargement').offsetParent === null)")
# A page is loaded (its controls work) when the live widgets have replaced the snapshot.
LOADED = SHOWN + " && !document.querySelector('.euralis-instantane')"
# The page measured shows one card per KPI.
_ALL_KPIS = f" && document.querySelectorAll('.euralis-kpi .valeur').length >= {len(KPIS)}"
KPIS_SHOWN = SHOWN + _ALL_KPIS
# When all the KPI values were painted (epoch ms), from the browser's Element Timing
# entries (``elementtiming`` on each value, common.kpi_card): waiting for a condition in the page polls at
# animation frames, which the page's own long tasks (Voilà's JavaScript application starting) hold back by
# seconds when ten renderers share 2 cores, so a polled time says when the bench looked, not when the user saw.
# Evaluated with the number of KPI values as argument (``page.evaluate(KPIS_PAINTED, len(KPIS))``).
KPIS_PAINTED = ("""n => new Promise(fin => { const vus = [];
  const o = new PerformanceObserver(l => {
    for (const e of l.getEntries()) if (e.identifier === 'euralis-kpi') vus.push(e.renderTime || e.loadTime);
    if (vus.length >= n) { o.disconnect(); fin(performance.timeOrigin + vus.sort((a, b) => a - b)[n - 1]); } });
  o.observe({type: 'element', buffered: true});
  setTimeout(() => fin(null), 60000);
})""")  # entries arrive after the frame is presented: a DOM condition can hold a frame before
# The moment a condition first held (epoch ms), from a DOM observer installed before the page's first byte
# (for the empty notebook, whose text Voilà's application renders: no element to time).
FIRST_TRUE = ("""(() => { const vrai = () => { try { return %s; } catch (e) { return false; } };
  const o = new MutationObserver(() => { if (!window.__euralis_vu && vrai()) {
    window.__euralis_vu = performance.timeOrigin + performance.now(); o.disconnect(); } });
  o.observe(document, {childList: true, subtree: true, attributes: true, characterData: true}); })()""")
KPIS_VISIBLE = LOADED + _ALL_KPIS
CHART_VISIBLE = "document.querySelector('.euralis-contenu svg.main-svg') !== null"
EMPTY_VISIBLE = "document.body !== null && document.body.innerText.includes('Page vide')"


def kernel_pids(server_pid: int) -> list[int]:
    """The kernel processes (``ipykernel_launcher``) under the server process."""
    pids = []
    for child in psutil.Process(server_pid).children(recursive=True):
        try:
            if any("ipykernel" in part for part in child.cmdline()):
                pids.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return pids


def kernel_ids(server_pid: int) -> set[str]:
    """The ids of the kernels running under the server process, from their connection files
    (``kernel-<id>.json`` on their command line)."""
    ids = set()
    for pid in kernel_pids(server_pid):
        try:
            ids |= {m.group(1) for part in psutil.Process(pid).cmdline()
                    if (m := re.search(r"kernel-([0-9a-f-]{36})\.json$", part))}
        except psutil.NoSuchProcess:
            continue
    return ids


def tree_rss(server_pid: int) -> int:
    """Resident memory (bytes) of the server and every process under it (kernels, PostgreSQL excluded)."""
    racine = psutil.Process(server_pid)
    total = 0
    for proc in [racine, *racine.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
