"""``make bench-backup``: backup, verified-restore and restore times and dump sizes at growing scale.

A benchmark, not a test: each scale is simulated into its own database on a throw-away cluster (never
the user's data), then backed up, verified (restore into a scratch database + comparison with the
manifest) and restored (new database, migrations, switch). Prints a table, also written to
``reports/bench-backup-<date>.md``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from euralis_lib import simulator
from euralis_lib.bench.volume import write_report
from euralis_lib.database import backup, db, migrations, restore
from euralis_lib.database.embedded import throwaway_cluster


def bench_scale(socket_dir: Path, years: int, work: Path) -> dict:
    """Load ``years`` of simulated data into a new database, then time backup, verify and restore."""
    name = f"bench_backup_{years}y"
    admin = db.get_engine(f"postgresql+psycopg2://postgres@/postgres?host={socket_dir}").execution_options(
        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg2://postgres@/{name}?host={socket_dir}"
    engine = db.get_engine(url)
    migrations.apply_migrations(engine)
    counts = simulator.load(engine, simulator.simulate(years=years, seed=42, end=date(2026, 11, 1)))
    with engine.connect() as conn:
        db_bytes = conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    t0 = time.perf_counter()
    fait = backup.create_backup(url, work / f"{years}y")
    t1 = time.perf_counter()
    verification = restore.verify(fait.path, url)
    t2 = time.perf_counter()
    if not verification.ok:
        raise RuntimeError(f"verification failed at {years} years: {verification.problems}")
    restored = restore.restore(fait.path, url)
    t3 = time.perf_counter()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{restored.previous}" WITH (FORCE)'))
    return {"years": years, "lots": counts["lots_gavage"], "feeding_rows": counts["doses_gavage"],
            "db_mb": db_bytes / 1e6, "dump_mb": fait.manifest["dump"]["bytes"] / 1e6,
            "backup_s": t1 - t0, "verify_s": t2 - t1, "restore_s": t3 - t2}


def format_table(results: list[dict]) -> str:
    """Markdown table of the results."""
    lines = ["| years | lots | feeding rows | database MB | dump MB | backup s | verify (restore + compare) s | "
             "restore + switch s |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['years']} | {r['lots']:,} | {r['feeding_rows']:,} | {r['db_mb']:.1f} | {r['dump_mb']:.1f} | "
              f"{r['backup_s']:.1f} | {r['verify_s']:.1f} | {r['restore_s']:.1f} |" for r in results]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark at each scale and print the table."""
    parser = argparse.ArgumentParser(prog="python -m euralis_lib.bench.backup", description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, nargs="+", default=[3, 10])
    args = parser.parse_args(argv)
    with throwaway_cluster("eurbb-") as socket_dir, tempfile.TemporaryDirectory(prefix="eurbb-") as work:
        results = []
        for years in args.years:
            print(f"benchmarking backups at {years} simulated year(s)...", flush=True)
            results.append(bench_scale(socket_dir, years, Path(work)))
        write_report(format_table(results), "bench-backup")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
