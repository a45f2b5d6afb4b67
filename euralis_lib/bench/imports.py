"""Import throughput: a CSV of ``rows`` feeding records through :func:`import_content` (read, validate, COPY
into the table), its re-import (all unchanged: the same bytes, not read again), the same rows in another
file (one comment line more: read, validated and compared), ``psql \\copy`` of the same file into a similar
staging table, and ``psql \\copy`` of the same rows (lot ids instead of codes) straight into
``doses_gavage`` with its keys and foreign key (rolled back): the floor for the real table.
On a private throw-away cluster (never the user's data).

``python -m euralis_lib.bench.imports [--rows 1000000] [--repeat 2]`` (best time of each measure over the rounds,
on fresh databases, then the ratios against the goals); :func:`bench_import` can be wired into
``make bench``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from euralis_lib.database import db, embedded, migrations
from euralis_lib.imports.load import import_file

REPAS_PAR_LOT = 22
STAGING_PSQL = ("CREATE TEMP TABLE stg_doses (code_lot text, jour smallint, repas smallint, horodatage timestamp, "
                "dose_g numeric(6, 1), dose_theorique_g numeric(6, 1))")


def psql_path() -> Path:
    """The psql client shipped in the pgserver wheel."""
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"


def fichiers_bench(dossier: Path, rows: int) -> tuple[Path, Path, Path]:
    """Write gaveurs, lots and doses CSV files (comma separator, dot decimals: what psql reads too)."""
    nb_lots = -(-rows // REPAS_PAR_LOT)
    (dossier / "gaveurs.csv").write_text("code_gaveur,nom,site,distance_km\nLL-B001,Bench,LL,10\n")
    debut0 = date(2024, 1, 1)
    debuts = [debut0 + timedelta(days=int(i % 600)) for i in range(nb_lots)]
    lots = pd.DataFrame({"code_lot": [f"B{i:07d}" for i in range(nb_lots)], "site": "LL", "code_gaveur": "LL-B001",
                         "souche": "MULARD", "date_debut": debuts, "date_fin": [d + timedelta(days=10) for d in debuts],
                         "nb_canards_entres": 1000, "nb_morts": 20, "poids_entree_moyen_kg": 4.2})
    lots.to_csv(dossier / "lots.csv", index=False)
    lot = np.repeat(np.arange(nb_lots), REPAS_PAR_LOT)[:rows]
    repas = np.tile(np.arange(1, REPAS_PAR_LOT + 1), nb_lots)[:rows]
    jour = (repas - 1) // 2 + 1
    heure = pd.to_timedelta(np.where(repas % 2 == 1, 6, 18), unit="h")
    jour_lot = pd.to_datetime(np.array(debuts, dtype="datetime64[D]")[lot])
    horodatage = jour_lot + pd.to_timedelta(jour - 1, unit="D") + heure
    theorique = np.round(200 + 250 * (repas - 1) / (REPAS_PAR_LOT - 1), 0)
    doses = pd.DataFrame({"code_lot": np.array(lots["code_lot"])[lot], "jour": jour, "repas": repas,
                          "horodatage": horodatage.strftime("%Y-%m-%d %H:%M:%S"),
                          "dose_g": theorique + (np.arange(rows) % 7) - 3, "dose_theorique_g": theorique})
    doses.to_csv(dossier / "doses.csv", index=False)
    return dossier / "gaveurs.csv", dossier / "lots.csv", dossier / "doses.csv"


COLONNES_IDS = "lot_id, jour, repas, horodatage, dose_g, dose_theorique_g"


def _fichier_avec_ids(engine: sa.engine.Engine, doses: Path) -> Path:
    """The feeding file with database lot ids instead of lot codes (what psql can COPY into doses_gavage)."""
    lots = db.read_df(engine, "SELECT code_lot, lot_id FROM lots_gavage")
    df = pd.read_csv(doses).merge(lots, on="code_lot")
    sortie = doses.with_name("doses_ids.csv")
    df[[c.strip() for c in COLONNES_IDS.split(",")]].to_csv(sortie, index=False)
    return sortie


def bench_import(socket_dir: Path, rows: int = 1_000_000, nom: str = "bench_import") -> dict[str, float]:
    """Time the import of ``rows`` feeding records and ``psql \\copy`` of the same file (new database)."""
    engine = db.get_engine(embedded.fresh_database(socket_dir, nom))
    dossier = Path(tempfile.mkdtemp(prefix="eurbi-"))
    try:
        migrations.apply_migrations(engine)  # seeds the sites and souches the files refer to
        gaveurs, lots, doses = fichiers_bench(dossier, rows)
        import_file(engine, "gaveurs", gaveurs)
        rapport_lots = import_file(engine, "lots", lots)
        ids = _fichier_avec_ids(engine, doses)
        psql = [str(psql_path()), "-h", str(socket_dir), "-U", "postgres", "-d", nom, "-q", "-v", "ON_ERROR_STOP=1"]
        t = time.perf_counter()
        subprocess.run([*psql, "-c", "BEGIN", "-c", "SET LOCAL timezone = 'Europe/Paris'", "-c",
                        f"\\copy doses_gavage ({COLONNES_IDS}) FROM '{ids}' WITH (FORMAT csv, HEADER)",
                        "-c", "ROLLBACK"], check=True)
        psql_table_s = time.perf_counter() - t
        # the rolled-back rows are dead tuples in the table and its unique indexes: vacuum them so the
        # import starts, as psql did, from a clean empty table (untimed)
        subprocess.run([*psql, "-c", "VACUUM doses_gavage"], check=True)
        t0 = time.perf_counter()
        premier = import_file(engine, "doses", doses)
        t1 = time.perf_counter()
        second = import_file(engine, "doses", doses)
        t_second = time.perf_counter()
        relu = doses.with_name("doses_relu.csv")
        relu.write_bytes(b"# les memes lignes dans un autre fichier\n" + doses.read_bytes())
        t = time.perf_counter()
        troisieme = import_file(engine, "doses", relu)
        reimport_relu_s = time.perf_counter() - t
        t2 = time.perf_counter()
        subprocess.run([*psql, "-c", STAGING_PSQL, "-c", f"\\copy stg_doses FROM '{doses}' WITH (FORMAT csv, HEADER)"],
                       check=True)
        t3 = time.perf_counter()
        with db.connect(engine) as conn:
            stockes = conn.execute(sa.text("SELECT count(*) FROM doses_gavage")).scalar_one()
        if premier.nb_inseres != rows or stockes != rows or second.nb_inchanges != rows \
                or troisieme.nb_inchanges != rows:
            raise RuntimeError(f"bench import incomplete: {premier.texte()}\n{second.texte()}\n{troisieme.texte()}")
        return {"rows": rows, "lots": rapport_lots.nb_inseres, "taille_mo": doses.stat().st_size / 1e6,
                "import_s": t1 - t0, "reimport_s": t_second - t1, "reimport_relu_s": reimport_relu_s,
                "psql_copy_s": t3 - t2,
                "import_rows_s": rows / (t1 - t0), "reimport_rows_s": rows / (t_second - t1),
                "reimport_relu_rows_s": rows / reimport_relu_s,
                "psql_copy_rows_s": rows / (t3 - t2), "psql_table_s": psql_table_s,
                "psql_table_rows_s": rows / psql_table_s}
    finally:
        engine.dispose()
        shutil.rmtree(dossier, ignore_errors=True)


OBJECTIF_COPY = 0.7  # import throughput ≥ 0.7 × psql \copy into doses_gavage
OBJECTIF_REIMPORT = 3.0  # re-import of an unchanged file ≥ 3 × faster than the first import


def format_result(r: dict[str, float]) -> str:
    """One Markdown table of the figures, then the two ratios against the goals (issue 14)."""
    ratio_copy = r["psql_table_s"] / r["import_s"]
    ratio_reimport = r["import_s"] / r["reimport_s"]
    return ("| feeding rows | file MB | import s (rows/s) | re-import, same file s (rows/s) | "
            "same rows, another file s (rows/s) | "
            "psql \\copy to a staging table s (rows/s) | psql \\copy into doses_gavage (lot ids) s (rows/s) |\n"
            "|---|---|---|---|---|---|---|\n"
            f"| {r['rows']:,} | {r['taille_mo']:.0f} | {r['import_s']:.1f} ({r['import_rows_s']:,.0f}) | "
            f"{r['reimport_s']:.2f} ({r['reimport_rows_s']:,.0f}) | "
            f"{r['reimport_relu_s']:.1f} ({r['reimport_relu_rows_s']:,.0f}) | {r['psql_copy_s']:.2f} "
            f"({r['psql_copy_rows_s']:,.0f}) | {r['psql_table_s']:.2f} ({r['psql_table_rows_s']:,.0f}) |\n\n"
            f"import / psql \\copy into doses_gavage: {ratio_copy:.2f} (goal ≥ {OBJECTIF_COPY}: "
            f"{'met' if ratio_copy >= OBJECTIF_COPY else 'NOT met'})\n"
            f"re-import speed-up: {ratio_reimport:.1f}× (goal ≥ {OBJECTIF_REIMPORT:g}×: "
            f"{'met' if ratio_reimport >= OBJECTIF_REIMPORT else 'NOT met'}); the same rows in another file "
            f"(read and compared): {r['import_s'] / r['reimport_relu_s']:.1f}×")


def main(argv: list[str] | None = None) -> int:
    """Run the import benchmark on a private cluster and print the table."""
    parser = argparse.ArgumentParser(prog="python -m euralis_lib.bench.imports")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2,
                        help="rounds on fresh databases; the best time of each measure is kept (noisy machine)")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="eurb-", dir="/tmp"))
    base.chmod(0o755)
    try:
        embedded.start(base / "pgdata")
        socket_dir = embedded.status(base / "pgdata").socket_dir
        tours = [bench_import(socket_dir, args.rows, f"bench_import_{i}") for i in range(max(1, args.repeat))]
        meilleur = {k: min(t[k] for t in tours) if k.endswith("_s") else tours[0][k] for k in tours[0]}
        for k in ("import", "reimport", "reimport_relu", "psql_copy", "psql_table"):
            meilleur[f"{k}_rows_s"] = args.rows / meilleur[f"{k}_s"]
        print(f"best of {len(tours)} round(s):")
        print(format_result(meilleur))
    finally:
        embedded.stop(base / "pgdata")
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
