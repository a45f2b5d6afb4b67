"""Set-based writing of validated rows. Rows of which nothing is stored (no stored row shares the first
key column: a first import) are COPYed straight into the table. Otherwise: COPY into a temporary staging
table, then per table one ``UPDATE … FROM`` of the rows whose values differ (old values kept for the
report), one ``INSERT`` of the new facts and, for tables replaced as a set (liver grades of a
slaughter), one ``DELETE`` of the stored rows the file no longer has. An unchanged re-import writes
nothing (no statement either).

Facts are matched on their key (a meal is (lot_id, repas), whatever its time), which the database
enforces too (sql/130_imports_cles.sql): a correction replaces, never adds. No ``ON CONFLICT``: the
same statements work with the real unique constraint (PostgreSQL) and with its trigger stand-in
(TimescaleDB, where a unique index must contain the time column).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from euralis_lib.database.db import copy_dataframe
from euralis_lib.imports.copie import copy_binaire

MAX_MODIFICATIONS = 20  # updated rows described old → new in the report


@dataclass
class Ecriture:
    """Rows to write into one table, matched on ``cle``; ``colonnes`` are what a correction may change.

    ``groupe``: columns grouping table rows into file rows (default: the key). ``perimetre``: for a
    table replaced as a set, the column whose values present in the file delimit the set (stored rows
    of that scope missing from the file are deleted). ``libelle``: SQL giving a readable name of a
    row from alias ``x`` (codes instead of ids) for the report.
    """

    table: str
    df: pd.DataFrame
    cle: tuple[str, ...]
    colonnes: tuple[str, ...]
    groupe: tuple[str, ...] | None = None
    perimetre: pd.Series | None = None
    libelle: str = "''"
    rejet: tuple[str, str] | None = None  # (SQL condition on staging s and stored t, reason): rows refused




@dataclass
class Bilan:
    """What the writes did: file rows inserted / updated, table rows per table, old → new samples."""

    groupes_inseres: int = 0
    groupes_modifies: int = 0
    par_table: dict[str, dict[str, int]] = field(default_factory=dict)
    modifications: list[str] = field(default_factory=list)
    rejets: list[tuple[pd.DataFrame, str]] = field(default_factory=list)  # (groups refused, reason)


def _pour_copy(df: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as UTC texts formatted by numpy (pandas' CSV writer is slow on them); the session
    time zone is UTC during the writes."""
    sortie = df
    for col in df.columns:
        if isinstance(df[col].dtype, pd.DatetimeTZDtype):
            naif = df[col].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
            texte = np.datetime_as_string(naif, unit="us")
            sortie = sortie.assign(**{col: np.where(texte == "NaT", "", texte)})
    return sortie


def copier(conn: Connection, table: str, df: pd.DataFrame) -> None:
    """COPY ``df`` into ``table``: numbers and timestamps (feeding records) through a binary COPY built by
    numpy, frames with texts or dates through a text COPY."""
    if df.empty:
        return
    types = dict(conn.execute(sa.text(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
        "AND attnum > 0 AND NOT attisdropped"), {"t": table}).all())
    if not copy_binaire(conn, table, df, types):
        copy_dataframe(conn, table, _pour_copy(df), list(df.columns))


def mettre_en_attente(conn: Connection, e: Ecriture) -> str:
    """COPY ``e.df`` into a temporary staging table shaped like ``e.table``; its name."""
    stg = f"import_stg_{e.table}"
    cols = list(e.df.columns)
    conn.execute(sa.text(f"DROP TABLE IF EXISTS pg_temp.{stg}"))
    conn.execute(sa.text(f"CREATE TEMP TABLE {stg} ON COMMIT DROP AS SELECT {', '.join(cols)} FROM {e.table} "
                         "WITH NO DATA"))
    copier(conn, stg, e.df)
    conn.execute(sa.text(f"ANALYZE {stg}"))
    return stg


def _rien_de_stocke(conn: Connection, e: Ecriture) -> bool:
    """True when no stored row shares a value of the first key column with ``e.df``, nor lies in the scope
    of ``e.perimetre`` (so no stored row can conflict or be deleted), and COPY may write into the table
    itself (COPY FROM refuses a table whose row-level security applies to the current role)."""
    dans = f"{e.cle[0]} = ANY(:v)" + (f" OR {e.perimetre.name} = ANY(:p)" if e.perimetre is not None else "")
    return bool(conn.execute(sa.text(
        f"SELECT NOT row_security_active(CAST(:t AS regclass)) AND NOT EXISTS (SELECT 1 FROM {e.table} WHERE {dans})"),
        {"t": e.table, "v": pd.unique(e.df[e.cle[0]]).tolist(),
         "p": [] if e.perimetre is None else pd.unique(e.perimetre).tolist()}).scalar_one())


def _egal(a: str, b: str, cols: tuple[str, ...]) -> str:
    return " AND ".join(f"{a}.{c} = {b}.{c}" for c in cols)


def _texte(valeur: object) -> str:
    if valeur is None or (isinstance(valeur, float) and np.isnan(valeur)):
        return "vide"
    if getattr(valeur, "tzinfo", None) is not None:  # instants in Paris time, as in the files
        valeur = valeur.astimezone(ZoneInfo("Europe/Paris"))
    if hasattr(valeur, "strftime"):
        return valeur.strftime("%Y-%m-%d %H:%M") if hasattr(valeur, "hour") else valeur.strftime("%Y-%m-%d")
    return f"{valeur:g}" if isinstance(valeur, float) else str(valeur)


def _decrire(conn: Connection, e: Ecriture, source: str, prefixe_ancien: str, nb: int, verbe: str) -> list[str]:
    """Readable old → new lines of the first ``nb`` changed rows of ``source`` (alias x)."""
    if nb <= 0:
        return []
    cols = ", ".join(f"x.{c}, x.{prefixe_ancien}{c}" if prefixe_ancien else f"x.{c}" for c in e.colonnes)
    rows = conn.execute(sa.text(f"SELECT {e.libelle} AS libelle, {cols} FROM {source} x "
                                f"ORDER BY 1 LIMIT {nb}")).mappings().all()
    lignes = []
    for r in rows:
        if prefixe_ancien:
            diffs = [f"{c} {_texte(r[prefixe_ancien + c])} → {_texte(r[c])}" for c in e.colonnes
                     if r[prefixe_ancien + c] != r[c]]
            lignes.append(f"{e.table} {r['libelle']} : " + " ; ".join(diffs))
        else:
            lignes.append(f"{e.table} {r['libelle']} : {verbe} ("
                          + ", ".join(f"{c} {_texte(r[c])}" for c in e.colonnes) + ")")
    return lignes


def ecrire(conn: Connection, ecritures: list[Ecriture]) -> Bilan:
    """Write every table's rows (the first Ecriture is the main table, whose groups are the file rows);
    a change in a later table (grades) turns an unchanged file row into an updated one."""
    bilan = Bilan()
    conn.execute(sa.text("SET LOCAL timezone = 'UTC'"))
    inseres: set = set()
    modifies: set = set()
    plusieurs = len(ecritures) > 1
    for e in ecritures:
        groupe = e.groupe or e.cle
        if _rien_de_stocke(conn, e):  # only new facts (a first import): straight into the table
            copier(conn, e.table, e.df)
            groupes = e.df[list(groupe)].drop_duplicates()
            if plusieurs:
                ins = set(groupes.itertuples(index=False, name=None))
                if e is ecritures[0]:
                    inseres |= ins
                modifies |= ins
            else:
                bilan.groupes_inseres, bilan.groupes_modifies = len(groupes), 0
            bilan.par_table[e.table] = {"insérées": len(e.df), "mises à jour": 0, "supprimées": 0}
            continue
        stg = mettre_en_attente(conn, e)
        g = ", ".join(groupe)
        chg = f"import_chg_{e.table}"
        conn.execute(sa.text(f"DROP TABLE IF EXISTS pg_temp.{chg}"))
        existe = conn.execute(sa.text(
            f"SELECT EXISTS (SELECT 1 FROM {stg} s JOIN {e.table} t ON {_egal('t', 's', e.cle)})")).scalar_one()
        if existe:
            conn.execute(sa.text(  # one join: new facts and changed ones (an unchanged file keeps nothing)
                f"CREATE TEMP TABLE {chg} ON COMMIT DROP AS SELECT s.*, t.{e.cle[0]} IS NULL AS nouveau, "
                + ", ".join(f"t.{c} AS ancien_{c}" for c in e.colonnes)
                + f" FROM {stg} s LEFT JOIN {e.table} t ON {_egal('t', 's', e.cle)} WHERE t.{e.cle[0]} IS NULL OR "
                + " IS DISTINCT FROM ".join("(" + ", ".join(f"{x}.{c}" for c in e.colonnes) + ")" for x in "ts")))
            conn.execute(sa.text(f"ANALYZE {chg}"))
        else:  # only new facts (a first import): the staging table itself, without copying it again
            chg = stg
            conn.execute(sa.text(f"ALTER TABLE {stg} ADD COLUMN nouveau boolean NOT NULL DEFAULT true"))
        if e.rejet is not None:
            refuses = conn.execute(sa.text(
                f"DELETE FROM {chg} WHERE ({g}) IN (SELECT {', '.join('s.' + c for c in groupe)} FROM {chg} s "
                f"JOIN {e.table} t ON {e.rejet[0]}) RETURNING {g}")).all()
            if refuses:
                bilan.rejets.append((pd.DataFrame(refuses, columns=list(groupe)).drop_duplicates(), e.rejet[1]))
        nb_nouveaux, nb_changes = conn.execute(sa.text(  # no statement when nothing to do: no write counted
            f"SELECT count(*) FILTER (WHERE nouveau), count(*) FILTER (WHERE NOT nouveau) FROM {chg}")).one()
        nb_maj = 0
        if nb_changes:
            nb_maj = conn.execute(sa.text(
                f"UPDATE {e.table} t SET {', '.join(f'{c} = c.{c}' for c in e.colonnes)} FROM {chg} c "
                f"WHERE NOT c.nouveau AND {_egal('t', 'c', e.cle)}")).rowcount
            bilan.modifications += _decrire(conn, e, f"(SELECT * FROM {chg} WHERE NOT nouveau)", "ancien_",
                                            MAX_MODIFICATIONS - len(bilan.modifications), "")
        liste = ", ".join(e.df.columns)
        inserer = f"INSERT INTO {e.table} ({liste}) SELECT {liste} FROM {chg} WHERE nouveau RETURNING {g}"
        nb_sup = 0
        if plusieurs:
            ins = {tuple(r) for r in conn.execute(sa.text(inserer))} if nb_nouveaux else set()
            maj = {tuple(r) for r in conn.execute(sa.text(f"SELECT DISTINCT {g} FROM {chg} WHERE NOT nouveau"))}
            if e is ecritures[0]:
                inseres |= ins
            modifies |= ins | maj
            nb_ins = len(ins)
        else:
            if not nb_nouveaux:
                nb_ins = groupes_ins = 0
            elif groupe == e.cle:  # one table row per file row: no need to return the rows
                nb_ins = groupes_ins = conn.execute(sa.text(inserer.rsplit(" RETURNING ", 1)[0])).rowcount
            else:
                nb_ins, groupes_ins = conn.execute(sa.text(
                    f"WITH i AS ({inserer}) SELECT count(*), count(DISTINCT ({g})) FROM i")).one()
            bilan.groupes_inseres = groupes_ins
            bilan.groupes_modifies = conn.execute(sa.text(
                f"SELECT count(DISTINCT ({g})) FROM {chg} WHERE NOT nouveau AND ({g}) NOT IN "
                f"(SELECT {g} FROM {chg} WHERE nouveau)")).scalar_one()
        if e.perimetre is not None:
            supprimes = conn.execute(sa.text(
                f"DELETE FROM {e.table} t WHERE t.{e.perimetre.name} = ANY(:p) AND NOT EXISTS "
                f"(SELECT 1 FROM {stg} s WHERE {_egal('t', 's', e.cle)}) RETURNING t.*"),
                {"p": [int(v) for v in e.perimetre.unique()]}).mappings().all()
            nb_sup = len(supprimes)
            modifies |= {tuple(r[c] for c in groupe) for r in supprimes}
            if supprimes:
                noms = _noms(conn, e, supprimes)
                bilan.modifications += [
                    f"{e.table} {nom} : supprimé (" + ", ".join(f"{c} {_texte(r[c])}" for c in e.colonnes) + ")"
                    for nom, r in zip(noms, supprimes, strict=True)][:MAX_MODIFICATIONS - len(bilan.modifications)]
        bilan.par_table[e.table] = {"insérées": nb_ins, "mises à jour": nb_maj, "supprimées": nb_sup}
    if plusieurs:
        bilan.groupes_inseres, bilan.groupes_modifies = len(inseres), len(modifies - inseres)
    return bilan


def _noms(conn: Connection, e: Ecriture, rows: list) -> list[str]:
    """Readable names of deleted rows (few: grades), their keys put back through ``e.libelle``."""
    noms = []
    for r in rows:
        choix = ", ".join(f":{c} AS {c}" for c in e.cle)
        noms.append(conn.execute(sa.text(f"SELECT {e.libelle} FROM (SELECT {choix}) x"),
                                 {c: r[c] for c in e.cle}).scalar_one())
    return noms
