"""``python -m euralis_lib users add|list|disable|passwd|role``: manage dashboard users.

Passwords are read from the terminal (twice) or, for scripts, from ``--password-stdin``; never from
the command line, which other users of the machine can see.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from euralis_lib.auth import ROLES, utilisateurs
from euralis_lib.database import db
from euralis_lib.exceptions import AuthError


def _mot_de_passe(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    premier = getpass.getpass("Mot de passe : ")
    if premier != getpass.getpass("Mot de passe (encore) : "):
        raise AuthError("Les deux mots de passe diffèrent.")
    return premier


def _sites(args: argparse.Namespace) -> list[str] | None:
    return [s.strip().upper() for s in args.sites.split(",") if s.strip()] if args.sites else None


def _cmd_users(args: argparse.Namespace) -> int:
    engine = db.get_engine()
    if args.action == "list":
        print(utilisateurs.lister(engine).to_string(index=False))
    elif args.action == "add":
        utilisateurs.create(engine, args.login, args.nom or args.login, args.role, _mot_de_passe(args),
                           gaveur_id=args.gaveur, sites=_sites(args), par="cli")
        print(f"utilisateur {args.login} ({args.role}) créé")
    elif args.action == "disable":
        utilisateurs.desactiver(engine, args.login, par="cli")
        print(f"utilisateur {args.login} désactivé, sessions fermées")
    elif args.action == "passwd":
        utilisateurs.changer_mot_de_passe(engine, args.login, _mot_de_passe(args), par="cli")
        print(f"mot de passe de {args.login} changé, sessions fermées")
    elif args.action == "role":
        utilisateurs.changer_role(engine, args.login, args.role, gaveur_id=args.gaveur, sites=_sites(args),
                                  par="cli")
        print(f"{args.login} est maintenant {args.role}, sessions fermées")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``users add|list|disable|passwd|role`` to the CLI."""
    p = subparsers.add_parser("users", help="manage dashboard users (login, roles)")
    p.add_argument("action", choices=["add", "list", "disable", "passwd", "role"])
    p.add_argument("login", nargs="?", help="user login (lowercase letters, digits, . _ -)")
    p.add_argument("--role", choices=ROLES, help="admin, superviseur or gaveur (add, role)")
    p.add_argument("--nom", help="display name (add)")
    p.add_argument("--gaveur", type=int, help="gaveur_id of a gaveur user")
    p.add_argument("--sites", help="comma-separated site codes a supervisor is limited to (e.g. LL,MT)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    def lancer(args: argparse.Namespace) -> int:
        if args.action != "list" and not args.login:
            raise AuthError(f"« users {args.action} » demande un identifiant.")
        if args.action in {"add", "role"} and not args.role:
            raise AuthError(f"« users {args.action} » demande --role ({', '.join(ROLES)}).")
        return _cmd_users(args)

    p.set_defaults(func=lancer)
