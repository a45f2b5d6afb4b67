"""A pytest plugin for CI: with ``EURALIS_SKIP_IS_FAILURE=1`` (set by ``.ci/run``) a skipped test is reported failed,
so that a test CI is meant to run cannot pass unseen because something it needs is missing. Expected failures
(xfail) are left as they are. Loaded by ``tests/conftest.py``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

VARIABLE = "EURALIS_SKIP_IS_FAILURE"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Turn a skip into a failure naming its reason when :data:`VARIABLE` is set."""
    outcome = yield
    rapport = outcome.get_result()
    if os.environ.get(VARIABLE) != "1" or not rapport.skipped or hasattr(rapport, "wasxfail"):
        return
    raison = rapport.longrepr[2] if isinstance(rapport.longrepr, tuple) else str(rapport.longrepr)
    rapport.outcome = "failed"
    rapport.longrepr = f"skipped under {VARIABLE}=1 (CI runs every test): {raison}"
