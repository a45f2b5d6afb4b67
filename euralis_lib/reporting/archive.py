"""Archive a report: the PDF under ``<reports>/rapports/<week end>/rapport-…pdf`` and its row in ``rapports``.

Both or neither: the PDF is first written whole to a hidden temporary file beside its final name
(:func:`preparer`), moved into place inside the transaction that inserts its row (:func:`enregistrer`),
and :meth:`Fichier.abandonner` removes what a failed run left (the temporary file, a new file whose row
was never committed). The ``rapports`` folder is not a dated run folder, so the reports retention of the
scheduler keeps it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from euralis_lib import config
from euralis_lib.database.db import read_df
from euralis_lib.reporting.contenu import Perimetre

DOSSIER = "rapports"
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def chemin(p: Perimetre) -> Path:
    """Where the report of ``p`` is archived (its file name starts with ``rapport``)."""
    gaveur = f"-gaveur-{p.gaveur_id}" if p.gaveur_id is not None else ""
    return config.reports_dir() / DOSSIER / p.fin.isoformat() / f"rapport-hebdo-{p.site}{gaveur}-{p.fin}.pdf"


@dataclass
class Fichier:
    """A rendered report waiting for its row: the temporary file, its final path and what it covers."""

    perimetre: Perimetre
    final: Path
    temporaire: Path
    taille: int
    pages: int
    existait: bool
    publie: bool = False

    def abandonner(self) -> None:
        """Remove what a failed run leaves: the temporary file, and the final file when this run created it."""
        self.temporaire.unlink(missing_ok=True)
        if self.publie and not self.existait:
            self.final.unlink(missing_ok=True)


def preparer(p: Perimetre, contenu: bytes) -> Fichier:
    """Write ``contenu`` (a PDF) whole to a temporary file beside the report's final path."""
    final = chemin(p)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporaire = final.with_name(f".{final.name}.{os.getpid()}.partiel")
    with open(temporaire, "wb") as f:
        f.write(contenu)
        f.flush()
        os.fsync(f.fileno())
    return Fichier(p, final, temporaire, len(contenu), len(_PAGE.findall(contenu)), final.exists())


def enregistrer(conn: Connection, run_id: int | None, f: Fichier) -> int:
    """Insert (or, for the same file, replace) the report's row in the caller's transaction, then move the file
    into place; returns the row's id."""
    p = f.perimetre
    rapport_id = conn.execute(sa.text("""
        INSERT INTO rapports (run_id, site_code, gaveur_id, debut, fin, fichier, taille_octets, pages)
        VALUES (:run_id, :site, :gaveur, :debut, :fin, :fichier, :taille, :pages)
        ON CONFLICT (fichier) DO UPDATE SET run_id = EXCLUDED.run_id, taille_octets = EXCLUDED.taille_octets,
            pages = EXCLUDED.pages, cree_le = now()
        RETURNING rapport_id"""), {"run_id": run_id, "site": p.site, "gaveur": p.gaveur_id, "debut": p.debut,
                                   "fin": p.fin, "fichier": str(f.final), "taille": f.taille,
                                   "pages": f.pages}).scalar_one()
    os.replace(f.temporaire, f.final)
    f.publie = True
    return int(rapport_id)


def lisibles(source: Engine | Connection) -> pd.DataFrame:
    """The archived reports ``source``'s user may read (row-level security), newest week first."""
    return read_df(source, """
        SELECT r.rapport_id, r.run_id, r.site_code, r.gaveur_id, g.nom AS gaveur, r.debut, r.fin, r.pages,
               r.taille_octets, r.fichier, r.cree_le
        FROM rapports r LEFT JOIN gaveurs g USING (gaveur_id)
        ORDER BY r.fin DESC, r.site_code, r.gaveur_id NULLS FIRST""")
