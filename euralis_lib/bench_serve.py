"""``make bench-serve``: many supervisors opening Tableau de bord at once on one dashboards server.

Process helpers (kernels and memory of a server's process tree) are shared with the kernel tests.
"""

from __future__ import annotations

import psutil


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
