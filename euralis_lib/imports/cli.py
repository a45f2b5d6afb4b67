"""``python -m euralis_lib import KIND FILE [--site LL] [--dry-run]`` and ``import template KIND``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from euralis_lib.imports.formats import GENRES, format_for, modele_csv, modele_xlsx

IMPORT_ROLE = "euralis_import"


def _cmd_import(args: argparse.Namespace) -> int:
    if args.genre == "template":
        format_for(args.cible)
        if args.output is None:
            sys.stdout.write(modele_csv(args.cible))
            return 0
        sortie = Path(args.output)
        if sortie.suffix.lower() == ".xlsx":
            sortie.write_bytes(modele_xlsx(args.cible))
        else:
            sortie.write_text(modele_csv(args.cible), encoding="utf-8-sig")
        print(f"modèle « {args.cible} » écrit dans {sortie}")
        return 0
    from euralis_lib.database import db, migrations
    from euralis_lib.imports.load import import_file

    format_for(args.genre)
    url = db.database_url()
    migrations.apply_migrations(db.get_engine(url))
    engine = db.get_engine(db.url_en_role(url, IMPORT_ROLE))  # never the owner: sql/110_roles.sql
    rapport = import_file(engine, args.genre, args.cible, site=args.site, dry_run=args.dry_run)
    print(rapport.texte())
    return rapport.code_sortie


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``import`` to the command line."""
    p = subparsers.add_parser(
        "import", help="import a CSV/xlsx file of real data, or write a template",
        description="Import a file: python -m euralis_lib import KIND FILE [--site LL] [--dry-run]; "
                    "or write a template: python -m euralis_lib import template KIND [--output F.csv|F.xlsx]. "
                    f"KIND: {', '.join(GENRES)}. Exit code 0 = every row imported, 1 = rows rejected "
                    "(kept in quarantine), 2 = file refused.")
    p.add_argument("genre", metavar="KIND", choices=[*GENRES, "template"], help=f"{', '.join(GENRES)} or template")
    p.add_argument("cible", metavar="FILE", help="file to import (or, after 'template', the kind)")
    p.add_argument("--site", help="site code: rows must belong to it (fills a missing site column)")
    p.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
    p.add_argument("--output", help="template: file to write (.csv or .xlsx; default: CSV on stdout)")
    p.set_defaults(func=_cmd_import)
