"""``make bench`` (reports part, also ``make bench-reports``): PDF reports and table exports, timed and weighed.

- the weekly report of one site-week (job ``rapport_hebdo``, site LL, the last full week of a simulated year, after
  the ``planning`` and ``finance`` jobs it reads): wall time to the archived PDF and its size;
- « Rapport PDF de cette page » (:meth:`euralis_lib.dashboards.common.Page.rapport_pdf`) of Tableau de bord and
  Finance built on the same database: wall time of each click, median and max of ``--repeat``;
- the Excel and PDF exports (:mod:`euralis_lib.presentation.exports`, what the buttons under a table call; no row
  cap) of the feeding rows (``doses``) of 1, 3 and 10 simulated years (~258 k rows at 10): wall time and peak
  memory, each export in a fresh process whose resident memory is sampled every 20 ms (peak minus the process's
  memory before the export, the table already loaded), so one export's freed memory never hides the next's.

Goals (issue 23, 2 cores): a site-week report < 20 s; a page PDF < 5 s; exports stream: memory flat in the row
count, judged as the peak memory increase of the largest table at most 2 × the smallest's.
The Markdown report goes to ``reports/bench-reports-<date>.md`` with its provenance (commit, machine, load).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from euralis_lib import jobs, simulator
from euralis_lib.bench import provenance
from euralis_lib.database import db, embedded, migrations

FIN_DONNEES = date(2026, 11, 1)
GOAL_REPORT_S = 20.0
GOAL_PAGE_S = 5.0
GOAL_FLAT = 2.0


def _export(format_: str, df: pd.DataFrame) -> tuple[float, float, int]:
    """In a fresh process: seconds, peak resident memory increase (MB) and size (bytes) of one export of ``df``."""
    import openpyxl  # noqa: F401
    import psutil
    import reportlab.pdfgen.canvas  # noqa: F401 — imported before the baseline: a library, not the rows

    from euralis_lib.presentation import exports

    processus = psutil.Process()
    gc.collect()
    avant = pic = processus.memory_info().rss
    fini = threading.Event()

    def echantillonner() -> None:
        nonlocal pic
        while not fini.wait(0.02):
            pic = max(pic, processus.memory_info().rss)

    sonde = threading.Thread(target=echantillonner, daemon=True)
    sonde.start()
    t0 = time.perf_counter()
    contenu = exports.excel_bytes(df) if format_ == "Excel" else exports.pdf_bytes(df, "Doses de gavage")
    secondes = time.perf_counter() - t0
    fini.set()
    sonde.join()
    pic = max(pic, processus.memory_info().rss)
    return secondes, (pic - avant) / 2**20, len(contenu)


def _tables(annees: list[int], nb_lignes: list[int] | None) -> list[tuple[str, pd.DataFrame]]:
    """The feeding rows of the last ``n`` years of one simulation for each ``n`` of ``annees``, or, with
    ``nb_lignes``, the first rows of one simulated year (a quicker run on a busy machine)."""
    if nb_lignes:
        doses = simulator.simulate(years=1, seed=42, end=FIN_DONNEES).doses
        return [("—", doses.head(n).reset_index(drop=True)) for n in sorted(nb_lignes)]
    doses = simulator.simulate(years=max(annees), seed=42, end=FIN_DONNEES).doses
    tables = []
    for n in sorted(annees):
        depuis = pd.Timestamp(FIN_DONNEES - timedelta(days=round(365.25 * n)), tz=doses["horodatage"].dt.tz)
        tables.append((str(n), doses[doses["horodatage"] >= depuis].reset_index(drop=True)))
    return tables


def bench_exports(annees: list[int], nb_lignes: list[int] | None = None) -> list[dict]:
    """Excel and PDF exports of each table of :func:`_tables`, each in a fresh process."""
    lignes = []
    for n, table in _tables(annees, nb_lignes):
        for format_ in ("Excel", "PDF"):
            print(f"  {format_} export of {len(table):,} rows...", flush=True)
            with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
                secondes, memoire, taille = pool.submit(_export, format_, table).result()
            lignes.append({"annees": n, "lignes": len(table), "format": format_, "s": secondes, "mo": memoire,
                           "octets": taille})
    return lignes


def bench_pdf(socket: Path, repeat: int) -> dict:
    """One simulated year: the weekly report of site LL for its last full week, then the page PDFs."""
    from euralis_lib.dashboards import common, finance, page_spec, tableau_de_bord

    url = embedded.fresh_database(socket, "bench_rapports")
    engine = db.get_engine(url)
    migrations.apply_migrations(engine)
    simulator.load(engine, simulator.simulate(years=1, seed=42, end=FIN_DONNEES))
    fin = FIN_DONNEES - timedelta(days=(FIN_DONNEES.weekday() + 1) % 7)  # the last Sunday of the data
    jobs.run_job("finance", engine, declencheur="bench")
    jobs.run_job("planning", engine, declencheur="bench", publier=True, debut=(fin + timedelta(days=1)).isoformat(),
                 fin=(fin + timedelta(days=7)).isoformat())
    dossier = tempfile.mkdtemp(prefix="eurb-rapports-")
    ancien = os.environ.get("EURALIS_REPORTS_DIR")
    os.environ["EURALIS_REPORTS_DIR"] = dossier
    try:
        t0 = time.perf_counter()
        resultat = jobs.run_job("rapport_hebdo", engine, declencheur="bench", publier=True, site="LL",
                                fin=fin.isoformat())
        rapport_s = time.perf_counter() - t0
    finally:
        os.environ.pop("EURALIS_REPORTS_DIR") if ancien is None else os.environ.update(EURALIS_REPORTS_DIR=ancien)
    pages = {}
    for module in (tableau_de_bord, finance):
        spec = page_spec(module.__name__.rpartition(".")[2])
        page = common.Page(spec, module.build, module.FILTERS, engine=engine)
        durees, taille = [], 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            taille = len(page.rapport_pdf())
            durees.append(time.perf_counter() - t0)
        pages[spec.titre] = (statistics.median(durees), max(durees), taille)
    engine.dispose()
    return {"semaine": fin, "rapport_s": rapport_s, "rapport_octets": resultat["octets"][0],
            "rapport_pages": resultat["pages"][0], "pages": pages}


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def format_report(debut: str, pdf: dict, exports_: list[dict], repeat: int) -> str:
    """The Markdown report: provenance, the PDF timings, the exports and the goals' verdicts."""
    charge = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lignes = [f"# bench-reports — {debut}", "", f"Load average at the end: {charge}.", "",
              "| measure | value | goal | verdict |", "|---|---|---|---|",
              f"| weekly report, site LL, week ending {pdf['semaine']:%d/%m/%Y} (job run to archived PDF), s | "
              f"{pdf['rapport_s']:.1f} | < {GOAL_REPORT_S:.0f} s | {_verdict(pdf['rapport_s'] < GOAL_REPORT_S)} |",
              f"| weekly report size, KB / pages | {pdf['rapport_octets'] / 1024:,.0f} / {pdf['rapport_pages']} | | |"]
    for titre, (mediane, pire, taille) in pdf["pages"].items():
        lignes.append(f"| page PDF « {titre} », median / max of {repeat}, s (size KB) | {mediane:.1f} / {pire:.1f} "
                      f"({taille / 1024:,.0f}) | < {GOAL_PAGE_S:.0f} s | {_verdict(pire < GOAL_PAGE_S)} |")
    lignes += ["", "Exports of the feeding rows (`doses`), each in a fresh process (no row cap in either format):", "",
               "| years | rows | format | time s | peak memory increase MB | file MB |", "|---|---|---|---|---|---|"]
    for e in exports_:
        lignes.append(f"| {e['annees']} | {e['lignes']:,} | {e['format']} | {e['s']:.1f} | {e['mo']:.0f} | "
                      f"{e['octets'] / 2**20:.1f} |")
    for format_ in ("Excel", "PDF"):
        serie = [e for e in exports_ if e["format"] == format_]
        if len(serie) > 1:
            petit, grand = serie[0], serie[-1]
            rapport = grand["mo"] / max(petit["mo"], 1.0)
            lignes.append(f"\n{format_}: ×{grand['lignes'] / petit['lignes']:.1f} rows → ×{rapport:.1f} peak memory "
                          f"increase (goal: flat, ≤ ×{GOAL_FLAT:.0f}): {_verdict(rapport <= GOAL_FLAT)}")
    return "\n".join(lignes)


def main(argv: list[str] | None = None) -> int:
    """Run the report and export benchmarks, print and write the report."""
    from euralis_lib.bench.volume import throwaway_cluster, write_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--export-years", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--export-rows", type=int, nargs="+", default=None,
                        help="instead of --export-years: the first N rows of one simulated year, for each N")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--report", default="bench-reports")
    args = parser.parse_args(argv)
    debut = provenance()
    with throwaway_cluster() as socket:
        print("weekly report and page PDFs on one simulated year...", flush=True)
        pdf = bench_pdf(socket, args.repeat)
    print("table exports...", flush=True)
    exports_ = bench_exports(args.export_years, args.export_rows)
    write_report(format_report(debut, pdf, exports_, args.repeat), args.report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
