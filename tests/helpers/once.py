"""Computed once per test run, whatever the number of xdist workers: the first worker to ask computes and
pickles the value under the run's shared temporary folder while the others wait on a file lock and read it."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from filelock import FileLock, Timeout

T = TypeVar("T")


def _shared_path(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp().parent / f"once-{name}.pickle"  # pytest-N/, this run's workers only


def _read_or_compute(path: Path, compute: Callable[[], T]) -> T:
    """The value pickled at ``path``, else ``compute()`` pickled there; the caller holds the path's lock."""
    if path.exists():
        return pickle.loads(path.read_bytes())
    value = compute()
    path.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return value


def computed_once(name: str, compute: Callable[[], T], tmp_path_factory: pytest.TempPathFactory,
                  worker_id: str) -> T:
    """``compute()`` for the whole run: by this process alone without xdist (``worker_id == "master"``), else by
    the first worker that asks, its result shared with the others through the run's temporary root."""
    if worker_id == "master":
        return compute()
    path = _shared_path(name, tmp_path_factory)
    with FileLock(f"{path}.lock"):
        return _read_or_compute(path, compute)


def computed_in_parts(name: str, parts: Sequence[Callable[[], T]], tmp_path_factory: pytest.TempPathFactory,
                      worker_id: str) -> list[T]:
    """Each of ``parts`` computed once for the whole run, the results in order: a worker that asks computes every
    part nobody has claimed yet (``gw0`` from the first, the others from the last, so two workers asking at once
    share the work instead of one waiting on the other), then waits for the parts another worker is computing."""
    if worker_id == "master":
        return [part() for part in parts]
    order = list(range(len(parts)))
    if worker_id != "gw0":
        order.reverse()
    results: dict[int, T] = {}
    for i in order:  # the parts free now; one being computed by another worker is left for later
        lock = FileLock(f"{_shared_path(f'{name}-{i}', tmp_path_factory)}.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        try:
            results[i] = _read_or_compute(_shared_path(f"{name}-{i}", tmp_path_factory), parts[i])
        finally:
            lock.release()
    for i in order:
        if i not in results:
            results[i] = computed_once(f"{name}-{i}", parts[i], tmp_path_factory, worker_id)
    return [results[i] for i in range(len(parts))]
