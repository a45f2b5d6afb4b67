"""``python -m euralis_lib runs list|promote RUN_ID|rollback JOB``: the runs with their stage, and the admin's
publication of an exploratory run or return to the previous published run (sql/202_runs_etapes.sql).

The database decides who may publish: the command runs as the configured database user, which must be
its owner (or a superuser); a pipeline or web role is refused by PostgreSQL.
"""

from __future__ import annotations

import argparse

from euralis_lib import jobs
from euralis_lib.database import db
from euralis_lib.jobs import runs
from euralis_lib.operations import ops
from euralis_lib.presentation import formatting


def _cmd_runs(args: argparse.Namespace) -> int:
    engine = db.get_engine()
    if args.action == "list":
        table = ops.recent_runs(engine, limit=args.limit, job=args.job)
        colonnes = ["run_id", "job", "declencheur", "statut", "etape", "debut", "duree_s", "parametres"]
        print(formatting.tableau(table[colonnes]).to_string(index=False) if not table.empty else "no run recorded")
    elif args.action == "promote":
        avant = runs.promote(engine, int(args.cible))
        run = runs.get_run(engine, int(args.cible))
        print(f"run {args.cible} ({run.job}) published: pages show it now (before: "
              f"{f'run {avant}' if avant else 'no published run'})")
    else:
        jobs.get(args.cible)
        apres = runs.rollback(engine, args.cible)
        print(f"{args.cible}: back to run {apres}, the previous published run (pages show it now)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``runs list [--job JOB] [--limit N]``, ``runs promote RUN_ID`` and ``runs rollback JOB`` to the CLI."""
    p = subparsers.add_parser("runs", help="job runs and their stage; promote a run, roll a job back (admin)")
    p.add_argument("action", choices=["list", "promote", "rollback"])
    p.add_argument("cible", nargs="?", help="RUN_ID (promote) or JOB (rollback)")
    p.add_argument("--job", help="only this job's runs (list)")
    p.add_argument("--limit", type=int, default=30, help="how many runs (list, newest first)")

    def lancer(args: argparse.Namespace) -> int:
        if args.action == "promote" and not (args.cible or "").isdigit():
            raise runs.PublicationError("« runs promote » demande le numéro du run (RUN_ID).")
        if args.action == "rollback" and not args.cible:
            raise runs.PublicationError("« runs rollback » demande le nom du job.")
        return _cmd_runs(args)

    p.set_defaults(func=lancer)
