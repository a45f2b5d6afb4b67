"""A small real filesystem for tests that need a full or read-only disk."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_filesystem(tmp_path: Path, size_kb: int) -> Iterator[Path]:
    """A real filesystem of ``size_kb`` KiB: a tmpfs mounted for the test. Mounting needs root (CAP_SYS_ADMIN),
    as CI runs; elsewhere the test fails saying so (a disk-full error cannot be had honestly without a real
    filesystem that fills up)."""
    mount = tmp_path / "petit_disque"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.fail("a full and a read-only disk need a small tmpfs, which only root may mount: run this test as "
                    "root (CI does)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (needs CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)
