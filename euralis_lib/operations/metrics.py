"""Prometheus metrics of the workbench, served by the scheduler daemon on 127.0.0.1 (``EURALIS_METRICS_PORT``,
default 9466; 0 turns them off; ``EURALIS_METRICS_ADDR`` to bind elsewhere).

Read from ``job_runs`` and the backup folder at each scrape, so they count every run (the daemon's,
manual ones, another scheduler's) and survive restarts: runs by job and status, durations (histogram),
last success per job, and the newest backup, its verification and the age of the newest verified one.
``euralis_database_up`` is 0 when the database cannot be reached; the run metrics are then absent.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy.engine import Engine

from euralis_lib import config
from euralis_lib.database import backup, db
from euralis_lib.exceptions import EuralisError

DEFAULT_PORT = 9466
BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
log = logging.getLogger("euralis.metrics")


class MetricsError(EuralisError):
    """The metrics setting is invalid."""


class WorkbenchCollector(Collector):
    """Collects the workbench's metrics at scrape time (see the module docstring)."""

    def __init__(self, engine: Engine, backup_dir: Path | None = None) -> None:
        self.engine = engine
        self.backup_dir = backup_dir

    def collect(self) -> Iterator[Metric]:
        """Every metric; the database ones only when it answers."""
        up = GaugeMetricFamily("euralis_database_up", "1 when the workbench database answers, else 0")
        try:
            with db.connect(self.engine) as conn:
                found = list(self._runs(conn))
            up.add_metric([], 1)
        except (EuralisError, sa.exc.DBAPIError) as exc:
            log.warning("metrics: database unreachable: %s", str(exc).splitlines()[0])
            found = []
            up.add_metric([], 0)
        yield up
        yield from found
        yield from self._backups()

    def _runs(self, conn: sa.Connection) -> Iterator[Metric]:
        total = CounterMetricFamily("euralis_job_runs", "Job runs recorded in job_runs, by job and status",
                                    labels=["job", "status"])
        for job, statut, n in conn.execute(sa.text("SELECT job, statut, count(*) FROM job_runs GROUP BY 1, 2")):
            total.add_metric([job, statut], n)
        yield total
        duree = HistogramMetricFamily("euralis_job_duration_seconds", "Duration of finished job runs",
                                      labels=["job", "status"])
        finished = ("WITH d AS (SELECT job, statut, extract(epoch FROM fin - debut)::float8 AS s FROM job_runs "
                    "WHERE fin IS NOT NULL AND statut IN ('success', 'failed')) ")
        cumulative: dict[tuple[str, str], dict[float, int]] = {}
        for job, statut, le, c in conn.execute(sa.text(
                finished + "SELECT job, statut, b.le, count(*) FILTER (WHERE s <= b.le) FROM d "
                "CROSS JOIN unnest(CAST(:b AS float8[])) AS b(le) GROUP BY 1, 2, 3"), {"b": list(BUCKETS)}):
            cumulative.setdefault((job, statut), {})[le] = c
        for job, statut, n, total in conn.execute(sa.text(
                finished + "SELECT job, statut, count(*), sum(s) FROM d GROUP BY 1, 2")):
            per_le = cumulative[(job, statut)]
            buckets = [(floatToGoString(le), per_le[le]) for le in BUCKETS] + [("+Inf", n)]
            duree.add_metric([job, statut], buckets, total)
        yield duree
        succes = GaugeMetricFamily("euralis_job_last_success_timestamp_seconds",
                                   "End of the last successful run of each job (Unix time)", labels=["job"])
        for job, t in conn.execute(sa.text(
                "SELECT job, extract(epoch FROM max(fin))::float8 FROM job_runs WHERE statut = 'success' GROUP BY 1")):
            succes.add_metric([job], t)
        yield succes

    def _backups(self) -> Iterator[Metric]:
        backups = backup.list_backups(self.backup_dir or config.backup_dir())
        yield GaugeMetricFamily("euralis_backups", "Complete backups in the backup folder", value=len(backups))
        if backups:
            last = backups[0]
            yield GaugeMetricFamily("euralis_backup_last_timestamp_seconds", "When the newest backup was taken",
                                    value=last.created_at.timestamp())
            yield GaugeMetricFamily("euralis_backup_last_size_bytes", "Size of the newest backup's dump",
                                    value=last.manifest["dump"]["bytes"])
            yield GaugeMetricFamily("euralis_backup_last_verified", "1 when the newest backup passed its "
                                    "verification, 0 when it failed or was not verified", value=int(last.verified))
        verified = next((b for b in backups if b.verified), None)
        if verified is not None:
            yield GaugeMetricFamily("euralis_backup_verified_age_seconds", "Age of the newest verified backup",
                                    value=time.time() - verified.created_at.timestamp())


def serve(engine: Engine, port: int | None = None, addr: str | None = None,
          backup_dir: Path | None = None) -> WSGIServer | None:
    """Start the metrics endpoint in a thread; None when turned off (port 0) or when the port is taken (logged)."""
    try:
        port = int(os.environ.get("EURALIS_METRICS_PORT", DEFAULT_PORT)) if port is None else port
    except ValueError as exc:
        raise MetricsError(f"EURALIS_METRICS_PORT must be a port number (0 = off): {exc}") from exc
    if port == 0:
        return None
    addr = addr or os.environ.get("EURALIS_METRICS_ADDR", "127.0.0.1")
    registry = CollectorRegistry()
    registry.register(WorkbenchCollector(engine, backup_dir))
    try:
        server, _thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:  # e.g. a second scheduler on this machine: it runs on, without metrics
        log.error("metrics NOT served: cannot listen on %s:%d (%s); set EURALIS_METRICS_PORT to a free port "
                  "(0 turns metrics off)", addr, port, exc.strerror)
        return None
    log.info("Prometheus metrics on http://%s:%d/metrics", addr, server.server_port)
    return server
