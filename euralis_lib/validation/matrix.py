"""The validation matrix (``make validate``): every scorer on seeds × end dates, judged on the worst.

Each data set is simulated in a worker process (``--processes``, 2 by default) and given to every
scorer of :data:`SCORERS` that exists (a missing module is skipped with a warning; a scorer that
raises becomes a failed ``erreur`` row). Written to ``reports/validation/``: ``resultats.csv`` (every
row, with ``jeu`` = seed/end), ``resume.csv`` and ``README.md``/``index.html`` (min / median / max
per model × metric with the baseline's median and the goal). A goal is judged on the minimum over
all rows for ``sens='min'`` (higher is better), on the maximum for ``sens='max'``; metrics named
``part_*`` are 0/1 per cell and judged on their mean (a share of cells). Exit status 1 when a goal
fails.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from euralis_lib import simulator
from euralis_lib.config import REPORTS_DIR
from euralis_lib.presentation.markup import element, html
from euralis_lib.validation import COLONNES, ligne, nom_jeu, tableau

# Planning has no planted truth in the simulator: it is checked against exhaustive search in tests/test_planning.py.
SCORERS = ["simulateur", "regression", "lot_calculator", "anomalies", "clustering", "previsions", "alertes"]
SEEDS = (1, 2, 3, 4, 5, 6, 7, 8)
FINS = (date(2025, 3, 31), date(2025, 8, 31), date(2025, 12, 20))
ANNEES = 3
DOSSIER = REPORTS_DIR / "validation"

log = logging.getLogger(__name__)


def scorers_disponibles(noms: list[str] = SCORERS) -> dict[str, object]:
    """The scorer modules that exist, by name (missing ones are skipped with a warning)."""
    found = {}
    for nom in noms:
        try:
            found[nom] = importlib.import_module(f"euralis_lib.validation.{nom}")
        except ModuleNotFoundError as exc:
            if exc.name != f"euralis_lib.validation.{nom}":
                raise
            log.warning("validation: pas de module euralis_lib.validation.%s, ignoré", nom)
    return found


def score_jeu(donnees: simulator.SimulatedData, noms: list[str] = SCORERS) -> pd.DataFrame:
    """Every available scorer on one data set; rows tagged with the data set and the scorer's time."""
    parts = []
    for nom, module in scorers_disponibles(noms).items():
        t0 = time.perf_counter()
        try:
            rows = module.score(donnees)
        except Exception:  # one broken scorer must not hide the others' results
            rows = tableau([ligne(nom, "-", "erreur", 1.0, objectif=0.0, sens="max")])
            rows["detail"] = traceback.format_exc(limit=3)[-500:]
        parts.append(rows.assign(duree_s=round(time.perf_counter() - t0, 2)))
    out = pd.concat(parts, ignore_index=True) if parts else tableau([])
    return out.assign(jeu=nom_jeu(donnees))


def _un_jeu(seed: int, fin: date, annees: int, noms: list[str]) -> pd.DataFrame:
    # One BLAS/OpenMP thread per worker: the workers are the parallelism (threads on small arrays only
    # contend, ten times slower on a loaded machine).
    with threadpool_limits(limits=1):
        return score_jeu(simulator.simulate(years=annees, seed=seed, end=fin), noms)


def run(seeds: tuple[int, ...] = SEEDS, fins: tuple[date, ...] = FINS, annees: int = ANNEES,
        processes: int = 2, noms: list[str] = SCORERS) -> pd.DataFrame:
    """All rows of the matrix ``seeds × fins`` (data sets of ``annees`` years)."""
    jobs = [(s, f) for s in seeds for f in fins]
    noms = list(scorers_disponibles(noms))  # warn once about missing scorers, here
    if processes <= 1:
        parts = [_un_jeu(s, f, annees, noms) for s, f in jobs]
    else:
        with ProcessPoolExecutor(max_workers=processes) as pool:
            parts = list(pool.map(_un_jeu, *zip(*jobs, strict=True), [annees] * len(jobs), [noms] * len(jobs)))
    return pd.concat(parts, ignore_index=True)


def resume(rows: pd.DataFrame) -> pd.DataFrame:
    """Min / median / max per model × metric, the baseline's min and median, the goal and whether it holds."""
    out = []
    for (modele, metrique), g in rows.groupby(["modele", "metrique"], sort=False):
        sens = g["sens"].iloc[0]
        objectif = g["objectif"].dropna().iloc[0] if g["objectif"].notna().any() else math.nan
        if metrique.startswith("part_"):
            juge, base = g["valeur"].mean(), "moyenne"
        elif sens == "min":
            juge, base = g["valeur"].min(), "min"
        else:
            juge, base = g["valeur"].max(), "max"
        if math.isnan(objectif):
            statut = "-"
        else:
            statut = "ok" if (juge >= objectif if sens == "min" else juge <= objectif) else "ECHEC"
        out.append({"modele": modele, "metrique": metrique, "n": len(g), "jeux": g["jeu"].nunique(),
                    "min": g["valeur"].min(), "mediane": g["valeur"].median(), "max": g["valeur"].max(),
                    "moyenne": g["valeur"].mean(), "reference_min": g["reference"].min(),
                    "reference_mediane": g["reference"].median(),
                    "objectif": objectif, "juge_sur": base, "valeur_jugee": juge, "statut": statut})
    return pd.DataFrame(out)


def _markdown(res: pd.DataFrame, rows: pd.DataFrame, duree_s: float) -> str:
    def fmt(x: float) -> str:
        return "" if pd.isna(x) else f"{x:.4g}"

    lines = ["# Validation matrix", "",
             f"{rows['jeu'].nunique()} data sets (seed/end: {', '.join(sorted(rows['jeu'].unique()))}); "
             f"run time {duree_s:.0f} s. Goal judged on `juge_sur` (min for higher-is-better, max for "
             "lower-is-better, mean for `part_*` shares).", "",
             "| modèle | métrique | n | min | médiane | max | référence (min / médiane) | objectif | jugé sur "
             "| valeur jugée | statut |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in res.itertuples(index=False):
        lines.append(f"| {r.modele} | {r.metrique} | {r.n} | {fmt(r.min)} | {fmt(r.mediane)} | {fmt(r.max)} | "
                     f"{fmt(r.reference_min)} / {fmt(r.reference_mediane)} | {fmt(r.objectif)} | {r.juge_sur} | "
                     f"{fmt(r.valeur_jugee)} | {r.statut} |")
    if "detail" in rows:
        first = rows[(rows["modele"] == "regression") & (rows["metrique"] == "r2_test")]
        if not first.empty:
            lines += ["", "## Regression: retained formulas (first data set), R², best baseline R², noise ceiling",
                      ""]
            ceil = rows[(rows["modele"] == "regression") & (rows["metrique"] == "plafond_bruit_r2")]
            ceil = ceil.set_index(["jeu", "cellule"])["valeur"]
            jeu = first["jeu"].iloc[0]
            for r in first[first["jeu"] == jeu].itertuples(index=False):
                lines.append(f"- {r.cellule}: `{r.detail}` — R² {r.valeur:.4f}, best baseline R² {r.reference:.4f}, "
                             f"noise ceiling {ceil.get((r.jeu, r.cellule), math.nan):.4f}")
    return "\n".join(lines) + "\n"


def write_report(rows: pd.DataFrame, res: pd.DataFrame, dossier: Path, duree_s: float) -> None:
    """Write ``resultats.csv``, ``resume.csv``, ``README.md`` and ``index.html`` into ``dossier``."""
    dossier.mkdir(parents=True, exist_ok=True)
    rows.to_csv(dossier / "resultats.csv", index=False)
    res.to_csv(dossier / "resume.csv", index=False)
    (dossier / "README.md").write_text(_markdown(res, rows, duree_s), encoding="utf-8")

    def cellule(v: object) -> str:
        return "" if pd.isna(v) else f"{v:.4g}" if isinstance(v, float) else str(v)

    tableau = element("table", element("tr", *(element("th", c) for c in res.columns)),
                      *(element("tr", *(element("td", cellule(v)) for v in r)) for r in res.itertuples(index=False)),
                      border="1", class_="dataframe")
    page = html("<html><meta charset='utf-8'><body><h1>Validation matrix</h1><p>Run time {:.0f} s</p>{}"
                "</body></html>", duree_s, tableau)
    (dossier / "index.html").write_text(page, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command line of ``make validate``: run the matrix, write the report, exit 1 if a goal fails."""
    parser = argparse.ArgumentParser(description="Validation matrix: models against planted truths and baselines.")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--fins", type=date.fromisoformat, nargs="+", default=list(FINS))
    parser.add_argument("--annees", type=int, default=ANNEES)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--scorers", nargs="+", default=SCORERS)
    parser.add_argument("--dossier", type=Path, default=DOSSIER)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    t0 = time.perf_counter()
    rows = run(tuple(args.seeds), tuple(args.fins), args.annees, args.processes, args.scorers)
    res = resume(rows)
    duree = time.perf_counter() - t0
    write_report(rows, res, args.dossier, duree)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(res[["modele", "metrique", "min", "mediane", "max", "reference_min", "reference_mediane", "objectif",
                   "juge_sur",
                   "valeur_jugee", "statut"]].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    failed = res[res["statut"] == "ECHEC"]
    print(f"\nValidation matrix: {rows['jeu'].nunique()} data sets, {len(rows)} rows, run time {duree:.0f} s; "
          f"report in {args.dossier}")
    if not failed.empty:
        print("Goals failed: " + ", ".join(f"{m}/{k}" for m, k in zip(failed["modele"], failed["metrique"],
                                                                         strict=True)), file=sys.stderr)
        return 1
    return 0


__all__ = ["COLONNES", "SCORERS", "main", "resume", "run", "score_jeu", "write_report"]

if __name__ == "__main__":
    sys.exit(main())
