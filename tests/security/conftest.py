"""Fixtures of the security suite; the helpers they use live in :mod:`tests.helpers.security`."""

from tests.helpers.security import base_securite  # noqa: F401  (a fixture, found by pytest here)
