"""A poisoned database for the HTML and export tests: hostile codes and names brought in by the real import.

Gaveurs, lots, doses and slaughters are written as the CSV files a site would send and go through
:func:`euralis_lib.imports.load.import_content` (the function behind the command line and the Import page).
Labels the import cannot create (a souche, a site's name, a user's display name) are written as an
admin would: SQL as the database owner and ``users add``.
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from euralis_lib.auth import utilisateurs
from euralis_lib.database import db
from euralis_lib.imports.formats import format_for, modele_csv
from euralis_lib.imports.load import import_content

SITE = "LL"
# The payload, as a gaveur code (finding 3).
CODE = 'LL-X1"><img src=x onerror=alert(1)>'
NOM = "Dupont '><script>alert(2)</script>"
# Formula injection (finding 6) and a javascript: URL, as the second gaveur's code and name.
CODE_FORMULE = '=HYPERLINK("http://evil.example","x")'
NOM_FORMULE = "@SUM(A1) <a href=\"javascript:alert(3)\">clic</a>"
LOT = 'LOT"><svg onload=alert(4)>'
LOT_FORMULE = "+1+1"
SOUCHE = "'><IMG SRC=X ONERROR=ALERT(5)>"  # the import upper-cases souche codes
NOM_SITE = 'Landes"><img src=x onerror=alert(6)>'
NOM_UTILISATEUR = "<img src=x onerror=alert(7)>"
FICHIER = '"><img src=x onerror=alert(8)>.csv'
# Everything a page may show; what must never reach a page unescaped.
PAYLOADS = (CODE, NOM, CODE_FORMULE, NOM_FORMULE, LOT, LOT_FORMULE, SOUCHE, NOM_SITE, NOM_UTILISATEUR, FICHIER)
GAVEUR_LOGIN = "g-piege"


@dataclass(frozen=True)
class Empoisonnee:
    """The poisoned database: its URL, the poisoned gaveurs' ids and the day their lots were slaughtered."""

    url: str
    gaveur_id: int
    gaveur_formule_id: int
    abattage: date


def fichier_csv(genre: str, lignes: list[list[str]]) -> bytes:
    """The CSV template of ``genre`` with ``lignes`` under the header (optional columns left empty), quoted
    like a spreadsheet writes it."""
    largeur = len(format_for(genre).noms)
    tampon = io.StringIO()
    csv.writer(tampon, delimiter=";", lineterminator="\n").writerows(v + [""] * (largeur - len(v)) for v in lignes)
    return (modele_csv(genre) + tampon.getvalue()).encode("utf-8")


def _importer(engine: sa.Engine, genre: str, lignes: list[list[str]]) -> None:
    rapport = import_content(engine, genre, fichier_csv(genre, lignes), f"{genre}_piege.csv")
    assert rapport.erreurs == [] and rapport.nb_inseres > 0, rapport.texte()


def empoisonner(url: str) -> Empoisonnee:
    """Bring the payloads into the database at ``url`` (which holds the simulated data); their lots end ten
    days before the last slaughter of the data, so every page's default period shows them."""
    engine = db.get_engine(url)
    try:
        with engine.begin() as conn:
            fin_donnees = conn.execute(sa.text("SELECT max(date_abattage) FROM abattages")).scalar_one()
            conn.execute(sa.text("INSERT INTO souches (code, nom) VALUES (:c, :c)"), {"c": SOUCHE})
            conn.execute(sa.text("UPDATE sites SET nom = :n WHERE code = :s"), {"n": NOM_SITE, "s": SITE})
        fin = fin_donnees - timedelta(days=10)
        debut = fin - timedelta(days=11)
        _importer(engine, "gaveurs", [[CODE, NOM, SITE, "12,5", "oui"], [CODE_FORMULE, NOM_FORMULE, SITE, "8", "oui"]])
        lots = [(LOT, CODE, SOUCHE, "1200", "30", "4,2"), (LOT_FORMULE, CODE_FORMULE, "MULARD", "900", "12", "4,1")]
        _importer(engine, "lots", [[code, SITE, gaveur, souche, debut.isoformat(), fin.isoformat(), n, morts, poids]
                                   for code, gaveur, souche, n, morts, poids in lots])
        _importer(engine, "doses", [[code, str((r - 1) // 2 + 1), str(r), "", f"{200 + 11 * r}", f"{200 + 11 * r}"]
                                    for code, *_ in lots for r in range(1, 25)])
        abattage = fin + timedelta(days=1)
        _importer(engine, "abattages", [[LOT, abattage.isoformat(), "1170", "640", "80", "9800", "23"],
                                        [LOT_FORMULE, abattage.isoformat(), "888", "610", "70", "7300", "22"]])
        with engine.connect() as conn:
            ids = dict(conn.execute(sa.text("SELECT code, gaveur_id FROM gaveurs WHERE code IN (:a, :b)"),
                                    {"a": CODE, "b": CODE_FORMULE}).all())
        utilisateurs.create(engine, GAVEUR_LOGIN, NOM_UTILISATEUR, "gaveur", secrets.token_urlsafe(12),
                           gaveur_id=ids[CODE])
    finally:
        engine.dispose()
    return Empoisonnee(url, ids[CODE], ids[CODE_FORMULE], abattage)
