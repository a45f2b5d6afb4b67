"""Command line: ``python -m euralis_lib <command>``. Parses arguments and calls the library.

Modules contribute subcommands through ``register(subparsers)``; user errors (``EuralisError``,
``ValueError`` from filters) are printed as one clear message with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from datetime import date
from typing import TYPE_CHECKING

from euralis_lib import config
from euralis_lib.exceptions import EuralisError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# Modules adding their own subcommands with ``register(subparsers)``.
COMMAND_MODULES: list[str] = ["euralis_lib.jobs.pipeline", "euralis_lib.serving.serve", "euralis_lib.imports.cli",
                               "euralis_lib.database.safeguard", "euralis_lib.operations.deploy",
                               "euralis_lib.operations.health", "euralis_lib.auth.cli",
                               "euralis_lib.operations.runs_cli"]


def _cmd_db(args: argparse.Namespace) -> int:
    from euralis_lib.database import db, embedded

    pgdata = config.pgdata_dir()
    external = config.external_database_url()
    if external and args.action in {"start", "stop", "reset"}:
        raise EuralisError(f"EURALIS_DATABASE_URL is set ({db.describe_url(external)}): the embedded server is "
                           "not used. Unset it to manage the embedded PostgreSQL.")
    if args.action == "start":
        url = embedded.start(pgdata)
        print(f"embedded PostgreSQL running: {embedded.status(pgdata).describe()}")
        print(url)
    elif args.action == "stop":
        print("stopped" if embedded.stop(pgdata) else f"not running ({embedded.status(pgdata).state})")
    elif args.action == "status":
        if external:
            engine = db.get_engine()
            print(f"external database {db.describe_url(external)}: PostgreSQL {db.check_connection(engine)}")
        else:
            current = embedded.status(pgdata)
            print(f"embedded PostgreSQL: {current.describe()}")
            return 0 if current.state == "running" else 1
    elif args.action == "url":
        print(db.database_url(start_embedded=False))
    elif args.action == "reset":
        if not args.yes:
            raise EuralisError(f"'db reset' deletes every row of the embedded database in {pgdata}. "
                               "Add --yes to confirm.")
        embedded.reset(pgdata)
        print(f"deleted {pgdata}")
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    from euralis_lib.database import db, migrations

    applied = migrations.apply_migrations(db.get_engine())
    print("applied: " + ", ".join(applied) if applied else "schema up to date")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from euralis_lib import simulator
    from euralis_lib.database import db, migrations

    engine = db.get_engine()
    migrations.apply_migrations(engine)
    if args.if_empty and not simulator.database_is_empty(engine):
        print("database already holds data: simulation skipped")
        return 0
    t0 = time.perf_counter()
    data = simulator.simulate(years=args.years, seed=args.seed, end=args.end)
    t1 = time.perf_counter()
    counts = simulator.load(engine, data, replace=args.replace)
    t2 = time.perf_counter()
    print(f"simulated {args.years} year(s), seed {args.seed}, ending {data.parametres['end']}: "
          f"generated in {t1 - t0:.1f} s, loaded with COPY in {t2 - t1:.1f} s")
    for table, n in counts.items():
        print(f"  {table:<20} {n:>9,} rows")
    return 0


def _cmd_kpis(args: argparse.Namespace) -> int:
    from euralis_lib.database import db, queries

    engine = db.get_engine()
    debut, fin = args.debut, args.fin
    if debut is None or fin is None:
        d0, d1 = queries.default_period(engine)
        debut, fin = debut or d0, fin or d1
    kpis = queries.dashboard_kpis(engine, sites=args.site, debut=debut, fin=fin)
    print(f"KPIs du {debut:%d/%m/%Y} au {fin:%d/%m/%Y}")
    labels = {"production_totale_kg": "Production Totale (kg)", "nb_lots_actifs": "Lots Actifs",
              "nb_gaveurs_actifs": "Gaveurs Actifs", "nb_alertes_critiques": "Alertes Critiques"}
    print(kpis.rename(columns={"site_code": "Site", **labels}).to_string(index=False))
    return 0


def _premier_admin(engine: Engine) -> None:
    """Without any user: create the first admin and print its random password, once."""
    from euralis_lib.auth import utilisateurs

    cree = utilisateurs.premier_admin(engine)
    if cree:
        login, mot_de_passe = cree
        print(f"premier administrateur créé — identifiant : {login}  mot de passe : {mot_de_passe}\n"
              f"  (affiché une seule fois, gardé dans {config.home_dir() / 'premier_admin.txt'} (0600) : "
              "changez-le avec « python -m euralis_lib users passwd admin », puis supprimez ce fichier)")


def _cmd_run(args: argparse.Namespace) -> int:
    """The main job on the configured database: schema, data if empty, pipeline, dashboards."""
    from euralis_lib import simulator
    from euralis_lib.database import db, migrations

    engine = db.get_engine()
    print(f"database: {db.describe_url(engine.url.render_as_string(hide_password=True))} "
          f"(PostgreSQL {db.check_connection(engine)})")
    applied = migrations.apply_migrations(engine)
    print("schema: " + (f"applied {', '.join(applied)}" if applied else "up to date"))
    _premier_admin(engine)
    if simulator.database_is_empty(engine):
        _cmd_simulate(argparse.Namespace(years=args.years, seed=args.seed, end=None, replace=False, if_empty=True))
    else:
        print("data: already loaded (reused)")
    _cmd_kpis(argparse.Namespace(site=None, debut=None, fin=None))
    code = 0
    if args.pipeline:
        from euralis_lib import jobs
        from euralis_lib.jobs import pipeline, runs

        # Once after loading data: jobs that never succeeded on this database. Refreshing is the
        # scheduler's work (or `make pipeline`), so a second `make run` stays fast.
        missing = [job for job in jobs.JOBS if runs.latest_run(engine, job) is None]
        if missing:
            try:
                pipeline.run_pipeline(only=missing)
            except pipeline.JobFailedError as exc:
                # The dashboards still open on the results that exist; the failed reports explain why.
                print(f"warning: {exc}", file=sys.stderr)
                code = 1
        else:
            print("job results: present (refresh with 'make pipeline' or the scheduler)")
    if args.serve:
        from euralis_lib.serving import serve

        serve.serve(port=args.port)
    return code


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m euralis_lib", description="Euralis Workbench")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logs and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("db", help="manage the embedded PostgreSQL")
    p.add_argument("action", choices=["start", "stop", "status", "url", "reset"])
    p.add_argument("--yes", action="store_true", help="confirm 'reset'")
    p.set_defaults(func=_cmd_db)

    p = sub.add_parser("migrate", help="apply pending sql/ migrations")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("simulate", help="generate and load simulated data")
    p.add_argument("--years", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--end", type=_date, default=None, help="last simulated day (default today)")
    p.add_argument("--replace", action="store_true", help="replace existing production data")
    p.add_argument("--if-empty", action="store_true", help="do nothing when data is already loaded")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("kpis", help="print the dashboard KPIs per site")
    p.add_argument("--site", action="append", help="site code (repeatable)")
    p.add_argument("--debut", type=_date)
    p.add_argument("--fin", type=_date)
    p.set_defaults(func=_cmd_kpis)

    p = sub.add_parser("run", help="set up and run everything on the configured database")
    p.add_argument("--years", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-pipeline", dest="pipeline", action="store_false")
    p.add_argument("--no-serve", dest="serve", action="store_false")
    p.add_argument("--port", type=int, default=int(os.environ.get("EURALIS_PORT", "8866")))
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("bench", help="benchmark: load and query timings at growing scale")
    p.add_argument("--years", type=int, nargs="+", default=[1, 3, 10])
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--jobs-at", type=int, nargs="*", default=[3], help="also time the six jobs at these scales")
    p.set_defaults(func=lambda a: importlib.import_module("euralis_lib.bench.volume").main(a))

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (EuralisError, ValueError) as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
