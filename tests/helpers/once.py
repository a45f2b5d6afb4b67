"""Computed once per test run, whatever the number of xdist workers: the first worker to ask computes and
pickles the value under the run's shared temporary folder while the others wait on a file lock and read it."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import TypeVar

import pytest
from filelock import FileLock

T = TypeVar("T")


def computed_once(name: str, compute: Callable[[], T], tmp_path_factory: pytest.TempPathFactory,
                  worker_id: str) -> T:
    """``compute()`` for the whole run: by this process alone without xdist (``worker_id == "master"``), else by
    the first worker that asks, its result shared with the others through the run's temporary root."""
    if worker_id == "master":
        return compute()
    root = tmp_path_factory.getbasetemp().parent  # pytest-N/, shared by this run's workers only
    path = root / f"once-{name}.pickle"
    with FileLock(f"{path}.lock"):
        if path.exists():
            return pickle.loads(path.read_bytes())
        value = compute()
        path.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        return value
