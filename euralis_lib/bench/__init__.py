"""Every benchmark (`make bench*`): volume, serving, backups, imports, live alerts."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime
from pathlib import Path

from euralis_lib import config


def commit(root: Path = config.PROJECT_ROOT) -> str:
    """The checkout's short commit, « + uncommitted changes » when its tracked files differ from it
    (« unknown » outside git): a report's figure must name the code that measured it."""
    try:
        court = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                               check=True).stdout.strip()
        modifie = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return court + (" + uncommitted changes" if modifie else "")


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what the platform says."""
    try:
        for ligne in Path("/proc/cpuinfo").read_text().splitlines():
            if ligne.startswith("model name"):
                return ligne.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance() -> str:
    """Where a benchmark's figures come from: date and time, commit, machine (cores, CPU model, memory) and
    the load average at the moment of the call (other work on a shared machine slows what is measured)."""
    import psutil

    charge = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, commit {commit()}, {platform.node()}: "
            f"{os.cpu_count()} cores ({cpu_model()}), {psutil.virtual_memory().total / 2**30:.1f} GB RAM, "
            f"load average (1 / 5 / 15 min) {charge}")
