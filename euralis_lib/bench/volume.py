"""``make bench``: simulate+load time and dashboard query latency (p50/p95) at growing scale.

A benchmark, not a test: it prints a table (and writes it to reports/bench-<date>.md). Each scale
runs in its own throw-away database on a private cluster, never the user's data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from euralis_lib import config, jobs, simulator
from euralis_lib.bench import provenance
from euralis_lib.dashboards import previsions as previsions_page
from euralis_lib.database import db, embedded, migrations, queries
from euralis_lib.database.embedded import throwaway_cluster
from euralis_lib.presentation import exports


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


def time_calls(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """p50 and p95 wall time (ms) of ``repeat`` calls after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(1000 * (time.perf_counter() - t0))
    return _percentiles(samples)


def bench_jobs(engine) -> dict[str, float]:
    """Wall time (s) of each registered job run in-process (no notebook overhead) on the loaded database."""
    timings = {}
    for name in jobs.JOBS:
        t0 = time.perf_counter()
        jobs.run_job(name, engine, declencheur="bench")
        timings[name] = time.perf_counter() - t0
    return timings


def bench_scheduler_overhead(engine, url: str, repeat: int = 3) -> dict[str, tuple[float, float]]:
    """Median wall time (s) of the ``finance`` notebook run by papermill directly vs through the runner the
    scheduler uses (advisory lock, job_runs rows, report + HTML export); reports go to a temporary folder."""

    import papermill

    from euralis_lib.jobs import pipeline

    notebook = jobs.get("finance").notebook
    saved = {k: os.environ.get(k) for k in ("EURALIS_DATABASE_URL", "EURALIS_REPORTS_DIR")}
    tmp = Path(tempfile.mkdtemp(prefix="eurb-reports-"))
    os.environ.update(EURALIS_DATABASE_URL=url, EURALIS_REPORTS_DIR=str(tmp))
    try:
        direct, planifie = [], []
        for i in range(repeat + 1):  # the first round warms the caches and is not counted
            t0 = time.perf_counter()
            papermill.execute_notebook(str(notebook), str(tmp / f"direct-{i}.ipynb"), kernel_name="python3",
                                       progress_bar=False, cwd=str(notebook.parent), parameters={"database_url": url})
            t1 = time.perf_counter()
            pipeline.execute_job("finance", engine=engine, declencheur="bench", progress=False)
            t2 = time.perf_counter()
            if i:
                direct.append(t1 - t0)
                planifie.append(t2 - t1)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)
    return {"papermill direct": (statistics.median(direct), max(direct)),
            "scheduled run": (statistics.median(planifie), max(planifie))}


def bench_scale(cluster_socket: Path, years: int, repeat: int, with_jobs: bool = False) -> dict:
    """Simulate and load ``years`` of data into a new database, then time the data-layer queries."""
    url = embedded.fresh_database(cluster_socket, f"bench_{years}y")
    engine = db.get_engine(url)
    migrations.apply_migrations(engine)
    t0 = time.perf_counter()
    data = simulator.simulate(years=years, seed=42, end=date(2026, 11, 1))
    t1 = time.perf_counter()
    counts = simulator.load(engine, data)
    t2 = time.perf_counter()
    d0, d1 = queries.default_period(engine)
    sites = queries.site_codes(engine)
    debut_previsions = pd.DataFrame({"date_prevision": [d1 + timedelta(days=1)]})  # forecasts start after the data
    result = {"years": years, "lots": counts["lots_gavage"], "feeding_rows": counts["doses_gavage"],
              "simulate_s": t1 - t0, "load_s": t2 - t1}
    calls = {
        "dashboard_kpis": lambda: queries.dashboard_kpis(engine, debut=d0, fin=d1),
        "kpis_one_site": lambda: queries.dashboard_kpis(engine, sites=["LL"], debut=d0, fin=d1),
        "production_journaliere": lambda: queries.production_journaliere(engine),
        "forecast_history": lambda: previsions_page.history(engine, sites, debut_previsions),
        "gaveur_performances": lambda: queries.gaveur_performances(engine),
        "finance_indicateurs": lambda: queries.finance_indicateurs(engine),
        "lot_features": lambda: queries.lot_features(engine),
    }
    lots = queries.lot_features(engine)
    calls["pdf_export_all_lots"] = lambda: exports.pdf_bytes(lots, "Lots de gavage")
    for label, fn in calls.items():
        result[label] = time_calls(fn, repeat if label.startswith(("dashboard", "kpis")) else max(3, repeat // 6))
    if with_jobs:
        result["jobs_s"] = bench_jobs(engine)
        result["scheduler_s"] = bench_scheduler_overhead(engine, url)
    engine.dispose()
    return result


# Issue 25's goals: every query a page runs at most PAGE_QUERY_P95_MS p95 at the largest scale over the whole
# period; none growing faster than the data (p50 ratio between the largest and smallest scales at most
# GROWTH_SLACK times the ratio of their lots). Not a page's: lot_features (three jobs), production_journaliere
# over the whole history (the forecasting job; the Prévisions page reads its last year, forecast_history), the
# PDF export (not a query).
PAGE_QUERY_P95_MS = 50.0
GROWTH_SLACK = 1.5
NOT_PAGE_QUERIES = ("lot_features", "production_journaliere", "pdf_export_all_lots")


def verdicts(results: list[dict]) -> list[str]:
    """PASS or FAIL per timed call: the p95 goal for the pages' queries at the largest scale, and the growth
    against the data's between the smallest and largest scales (needs two scales)."""
    petit, grand = min(results, key=lambda r: r["lots"]), max(results, key=lambda r: r["lots"])
    lignes = []
    for cle in (k for k in grand if isinstance(grand[k], tuple)):
        p50, p95 = grand[cle]
        if cle not in NOT_PAGE_QUERIES:
            ok = p95 <= PAGE_QUERY_P95_MS
            lignes.append(f"- {'PASS' if ok else 'FAIL'} {cle}: p95 {p95:.1f} ms at {grand['years']} year(s) "
                          f"(goal ≤ {PAGE_QUERY_P95_MS:g} ms)")
        if grand is not petit:
            donnees, cout = grand["lots"] / petit["lots"], p50 / max(petit[cle][0], 1e-9)
            ok = cout <= GROWTH_SLACK * donnees
            lignes.append(f"- {'PASS' if ok else 'FAIL'} {cle}: p50 ×{cout:.1f} for ×{donnees:.1f} lots "
                          f"({petit['years']} → {grand['years']} years; goal ≤ ×{GROWTH_SLACK * donnees:.1f})")
    return lignes


def format_table(results: list[dict]) -> str:
    """Markdown report of the results: provenance, the table, the goals' verdicts, the jobs' times."""
    query_cols = [k for k in results[0] if isinstance(results[0][k], tuple)]
    head = "| years | lots | feeding rows | simulate s | load (COPY) s | " + " | ".join(
        f"{c} p50/p95 ms" for c in query_cols) + " |"
    lines = [f"Measured {provenance()} by `python -m euralis_lib bench` (`make bench`).", "", head,
             "|" + "---|" * (5 + len(query_cols))]
    for r in results:
        cells = [str(r["years"]), f"{r['lots']:,}", f"{r['feeding_rows']:,}", f"{r['simulate_s']:.1f}",
                 f"{r['load_s']:.2f}"] + [f"{r[c][0]:.1f} / {r[c][1]:.1f}" for c in query_cols]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *verdicts(results)]
    for r in results:
        if "jobs_s" in r:
            parts = ", ".join(f"{job} {sec:.1f} s" for job, sec in r["jobs_s"].items())
            lines.append(f"\njob wall time at {r['years']} year(s): {parts} (total {sum(r['jobs_s'].values()):.1f} s)")
        if "scheduler_s" in r:
            (d, dmax), (p, pmax) = r["scheduler_s"]["papermill direct"], r["scheduler_s"]["scheduled run"]
            lines.append(f"\nfinance notebook at {r['years']} year(s): papermill directly {d:.1f} s (max {dmax:.1f}), "
                         f"as a scheduled run {p:.1f} s (max {pmax:.1f}): overhead {p - d:+.1f} s "
                         "(lock, job_runs rows, report and HTML export)")
    return "\n".join(lines)


def write_report(table: str, name: str) -> Path:
    """Print a result table and write it to ``reports/<name>-<date>.md``."""
    print(table)
    out = config.reports_dir() / f"{name}-{date.today().isoformat()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")
    print(f"written to {out}")
    return out


def main(args: argparse.Namespace) -> int:
    """Run the benchmark at each scale and print the table."""
    with throwaway_cluster() as socket:
        results = []
        for years in args.years:
            print(f"benchmarking {years} simulated year(s)...", flush=True)
            results.append(bench_scale(socket, years, args.repeat, with_jobs=years in args.jobs_at))
        write_report(format_table(results), "bench")
    return 0
