"""A database of its own for one test module, cloned from a template of the suite (``CREATE DATABASE …
TEMPLATE``, well under a second) and dropped after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib.database import db


@dataclass(frozen=True)
class ModuleDatabase:
    """A cloned database: its name, its URL and an engine of its owner (superuser of the test cluster)."""

    name: str
    url: str
    owner: Engine

    def rows(self, query: str, **params: Any) -> list[sa.Row]:
        """The rows of a read (e.g. the gaveurs a module's users act as), with bound parameters."""
        with self.owner.connect() as conn:
            return conn.execute(sa.text(query), params).all()


@contextmanager
def module_database(pg_cluster: Any, template: str) -> Iterator[ModuleDatabase]:
    """Clone ``template`` on the suite's cluster (fixture ``pg_cluster``); the clone is dropped on exit."""
    name = pg_cluster.clone(template)
    url = pg_cluster.url(name)
    owner = db.get_engine(url)
    try:
        yield ModuleDatabase(name, url, owner)
    finally:
        owner.dispose()
        pg_cluster.drop(name)
