"""Import a file: read, validate, check references against the database, then in ONE transaction write
the valid rows (:mod:`euralis_lib.imports.ecriture`: COPY straight into the table for facts of which
nothing is stored, else a staging table and set-based UPDATE / INSERT), quarantine the rejected rows and
record the import in the history.

Idempotent: only rows whose values differ are written, so re-importing a file reports every row as
unchanged. The same bytes imported again with nothing written since to the tables an import depends
on (write counters, sql/131_imports_versions.sql) are reported unchanged without being read again.
``dry_run`` runs the very same transaction and rolls it back: the counts are exactly what a real import
would do, and nothing is written (not even the history). A whole-file refusal (unreadable, empty,
ragged, required column missing) writes only a history row with status ``refuse`` (none in a dry run)
and raises :class:`ImportFileError`.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from euralis_lib.database.db import connect, copy_dataframe, read_df
from euralis_lib.exceptions import DatabaseUnavailableError, ImportFileError
from euralis_lib.imports import reading, validate
from euralis_lib.imports.ecriture import Ecriture, ecrire
from euralis_lib.imports.formats import FORMATS, GRADES, Format, format_for
from euralis_lib.imports.report import ImportReport
from euralis_lib.imports.validate import FUSEAU, Erreurs

log = logging.getLogger(__name__)


@dataclass
class Preparation:
    """What a kind-specific preparation hands to the loader."""

    ecritures: list[Ecriture]
    copies: pd.Index = field(default_factory=lambda: pd.Index([]))  # exact repeats of earlier file rows
    rafraichir: bool = False  # refresh performances_sites after writing
    avertissements: list[str] = field(default_factory=list)


def import_file(engine: Engine, genre: str, chemin: str | Path, site: str | None = None,
                     dry_run: bool = False, utilisateur: str | None = None) -> ImportReport:
    """Import the file at ``chemin`` (see :func:`import_content`)."""
    chemin = Path(chemin)
    try:
        contenu = chemin.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{chemin} : fichier illisible ({exc.strerror}).") from exc
    return import_content(engine, genre, contenu, chemin.name, site=site, dry_run=dry_run, utilisateur=utilisateur)


def import_content(engine: Engine, genre: str, contenu: bytes, nom_fichier: str, site: str | None = None,
             dry_run: bool = False, utilisateur: str | None = None) -> ImportReport:
    """Import ``contenu`` (bytes of ``nom_fichier``) as ``genre``; the command line and the upload widget
    both call this. Returns the report; raises ImportFileError when the whole file is refused."""
    t0 = time.perf_counter()
    fmt = format_for(genre)
    utilisateur = utilisateur or getpass.getuser()
    empreinte = hashlib.sha256(contenu).hexdigest()
    site = site.strip().upper() if site else None
    deja = _sans_changement(engine, fmt.genre, nom_fichier, empreinte, len(contenu), site, dry_run, utilisateur, t0)
    if deja is not None:
        return deja
    try:
        connus = set(read_df(engine, "SELECT code FROM sites")["code"])
        if site is not None and site not in connus:
            raise ImportFileError(f"site inconnu « {site} » (sites connus : {', '.join(sorted(connus)) or 'aucun'}).")
        fichier = reading.lire(contenu, nom_fichier, genre)
        colonnes = set(fichier.donnees.columns)
        if fmt.genre == "doses" and "dose_jour_g" in colonnes and "dose_g" not in colonnes:
            fmt = FORMATS["doses_jour"]
            fichier.avertissements.append("Colonne dose_jour_g : fichier lu comme doses par jour (deux repas de "
                                          "6 h et 18 h recevant chacun la moitié de la dose).")
        avertissements = fichier.avertissements + validate.verifier_colonnes(fmt, fichier, site is not None)
    except ImportFileError as exc:
        if not dry_run:
            _historiser_refus(engine, genre, nom_fichier, empreinte, len(contenu), site, utilisateur, str(exc),
                              time.perf_counter() - t0)
        raise
    df_attrs = set(fichier.donnees.columns)
    rapport = ImportReport(genre=fmt.genre, fichier=nom_fichier, sha256=empreinte, site=site, dry_run=dry_run,
                           nb_lus=len(fichier.donnees), avertissements=avertissements)
    erreurs = Erreurs()
    df = validate.convertir(fmt, fichier.donnees, erreurs, site_fixe=site is not None)
    df.attrs["colonnes_fichier"] = df_attrs
    if site is not None and "site" in df:
        df["site"] = df["site"].fillna(site)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # NaN / inf are reported per row
        validate.verifier_plages(fmt, df, erreurs)
        validate.verifier_coherence(fmt, df, erreurs)

    with _transaction(engine, dry_run) as conn:
        rapport.avertissements += _deja_importe(conn, empreinte)
        _verrouiller(conn)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            preparation = _PREPARATIONS[fmt.genre](conn, fmt, df, erreurs, site, connus)
        import_id = conn.execute(sa.text(
            "INSERT INTO imports (utilisateur, fichier, sha256, taille_octets, genre, site_code, statut) "
            "VALUES (:u, :f, :h, :t, :g, :s, 'succes') RETURNING import_id"),
            {"u": utilisateur, "f": nom_fichier, "h": empreinte, "t": len(contenu), "g": fmt.genre,
             "s": site}).scalar_one()
        bilan = ecrire(conn, preparation.ecritures)
        _rejeter(preparation.ecritures[0], bilan.rejets, erreurs)
        validate.propager_rejets(fmt, df, erreurs)  # exact repeats of a line refused while writing
        rejetees = erreurs.lignes()
        preparation.copies = preparation.copies.difference(pd.Index(sorted(rejetees)))
        inseres, mis_a_jour = bilan.groupes_inseres, bilan.groupes_modifies
        rapport.nb_inseres, rapport.nb_mis_a_jour = inseres, mis_a_jour
        rapport.nb_doublons = len(preparation.copies)
        rapport.nb_inchanges = rapport.nb_lus - len(rejetees) - inseres - mis_a_jour - rapport.nb_doublons
        rapport.erreurs = [(ligne, erreurs.raison(ligne)) for ligne in sorted(rejetees)]
        rapport.doublons = sorted(int(i) for i in preparation.copies)
        rapport.par_table, rapport.modifications = bilan.par_table, bilan.modifications
        rapport.avertissements += preparation.avertissements
        _quarantaine(conn, import_id, nom_fichier, fichier, rapport.erreurs)
        if preparation.rafraichir and inseres + mis_a_jour:
            conn.execute(sa.text("SELECT refresh_performances_sites()"))
        rapport.duree_s = time.perf_counter() - t0
        conn.execute(sa.text(
            "UPDATE imports SET statut = :st, nb_lus = :lus, nb_inseres = :ins, nb_mis_a_jour = :maj, "
            "nb_inchanges = :inch, nb_rejetes = :rej, nb_doublons = :dbl, duree_s = :d, message = :m, "
            "versions_tables = CAST(:v AS jsonb) WHERE import_id = :id"),
            {"st": rapport.statut, "lus": rapport.nb_lus, "ins": inseres, "maj": mis_a_jour,
             "dbl": rapport.nb_doublons, "v": _versions(conn),
             "inch": rapport.nb_inchanges, "rej": rapport.nb_rejetes, "d": rapport.duree_s,
             "m": "\n".join(rapport.avertissements) or None, "id": import_id})
        rapport.import_id = None if dry_run else int(import_id)
    return rapport


def _historiser_refus(engine: Engine, genre: str, nom_fichier: str, empreinte: str, taille: int, site: str | None,
                      utilisateur: str, message: str, duree: float) -> None:
    """Record a refused file (best effort: a database outage must not hide the file's problem)."""
    try:
        with connect(engine, transaction=True) as conn:
            conn.execute(sa.text(
                "INSERT INTO imports (utilisateur, fichier, sha256, taille_octets, genre, site_code, statut, "
                "message, duree_s) SELECT :u, :f, :h, :t, :g, (SELECT code FROM sites WHERE code = :s), "
                "'refuse', :m, :d"),
                {"u": utilisateur, "f": nom_fichier, "h": empreinte, "t": taille, "g": genre, "s": site,
                 "m": message, "d": duree})
    except (DatabaseUnavailableError, sa.exc.DBAPIError) as exc:
        log.warning("refused import of %s not recorded in the history: %s", nom_fichier, exc)


@contextmanager
def _transaction(engine: Engine, dry_run: bool) -> Iterator[Connection]:
    """One transaction, committed at the end unless ``dry_run`` (rolled back), rolled back on any error."""
    with connect(engine) as conn:
        transaction = conn.begin()
        try:
            yield conn
        except BaseException:
            transaction.rollback()
            raise
        if dry_run:
            transaction.rollback()
        else:
            transaction.commit()


_EMPREINTE_FORMATS = hashlib.sha256(repr(FORMATS).encode()).hexdigest()[:16]  # columns, ranges, patterns


def _verrouiller(conn: Connection) -> None:
    """One import at a time; and the write counters (sql/131_imports_versions.sql) locked until the commit: a
    write by anyone else to the tables an import depends on waits, so the values recorded at the end are
    exactly the state the import saw plus its own writes."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(74201060)"))
    conn.execute(sa.text("SELECT version FROM tables_versions FOR UPDATE"))


def _versions(conn: Connection) -> str:
    """The write counters of the tables an import depends on and the formats' fingerprint, as JSON."""
    versions = dict(conn.execute(sa.text("SELECT nom_table, version FROM tables_versions")).all())
    return json.dumps({"formats": _EMPREINTE_FORMATS, **versions}, sort_keys=True)


def _sans_changement(engine: Engine, genre: str, nom_fichier: str, empreinte: str, taille: int, site: str | None,
                     dry_run: bool, utilisateur: str, t0: float) -> ImportReport | None:
    """The report of a file imported before in full (same bytes, kind, site option and user; no line rejected
    or repeated) when nothing it depends on was written since (same write counters, same formats): the full
    import would find every line unchanged, so nothing is read or written but the history row. None otherwise.
    """
    with _transaction(engine, dry_run) as conn:
        _verrouiller(conn)
        versions = _versions(conn)
        precedent = conn.execute(sa.text(
            "SELECT import_id, horodatage, genre, nb_lus, message FROM imports WHERE sha256 = :h "
            "AND utilisateur = :u AND site_code IS NOT DISTINCT FROM :s "
            "AND (genre = :g OR (:g = 'doses' AND genre = 'doses_jour')) AND statut = 'succes' "
            "AND nb_doublons = 0 AND versions_tables = CAST(:v AS jsonb) ORDER BY import_id DESC LIMIT 1"),
            {"h": empreinte, "u": utilisateur, "s": site, "g": genre, "v": versions}).first()
        if precedent is None:
            return None
        quand = precedent.horodatage.astimezone().strftime("%d/%m/%Y %H:%M")
        anciens = [a for a in (precedent.message or "").split("\n") if a and not a.startswith(_DEJA)]
        rapport = ImportReport(
            genre=precedent.genre, fichier=nom_fichier, sha256=empreinte, site=site, dry_run=dry_run,
            nb_lus=precedent.nb_lus, nb_inchanges=precedent.nb_lus, avertissements=[
                f"{_DEJA} le {quand} (import n° {precedent.import_id}) et rien de ce dont il dépend n'a été "
                "écrit depuis : toutes ses lignes sont inchangées, le fichier n'a pas été relu.", *anciens])
        rapport.duree_s = time.perf_counter() - t0
        import_id = conn.execute(sa.text(
            "INSERT INTO imports (utilisateur, fichier, sha256, taille_octets, genre, site_code, statut, nb_lus, "
            "nb_inchanges, duree_s, message, versions_tables) VALUES (:u, :f, :h, :t, :g, :s, 'succes', :n, :n, "
            ":d, :m, CAST(:v AS jsonb)) RETURNING import_id"),
            {"u": utilisateur, "f": nom_fichier, "h": empreinte, "t": taille, "g": precedent.genre, "s": site,
             "n": precedent.nb_lus, "d": rapport.duree_s, "m": "\n".join(rapport.avertissements),
             "v": versions}).scalar_one()
        rapport.import_id = None if dry_run else int(import_id)
    return rapport


_DEJA = "Ce fichier (même contenu) a déjà été importé"


def _deja_importe(conn: Connection, empreinte: str) -> list[str]:
    precedent = conn.execute(sa.text(
        "SELECT import_id, horodatage FROM imports WHERE sha256 = :h AND statut <> 'refuse' "
        "ORDER BY import_id DESC LIMIT 1"), {"h": empreinte}).first()
    if precedent is None:
        return []
    quand = precedent.horodatage.astimezone().strftime("%d/%m/%Y %H:%M")
    return [f"{_DEJA} le {quand} (import n° {precedent.import_id})."]


def _rejeter(principale: Ecriture, rejets: list[tuple[pd.DataFrame, str]], erreurs: Erreurs) -> None:
    """File lines of the groups refused while writing (checked against stored rows in SQL)."""
    for groupes, raison in rejets:
        cols = list(groupes.columns)
        lignes = principale.df[cols].reset_index().merge(groupes.astype(principale.df[cols].dtypes.to_dict()),
                                                         on=cols)
        erreurs.ajouter(pd.Index(lignes.iloc[:, 0].unique()), raison)


def _quarantaine(conn: Connection, import_id: int, nom_fichier: str, fichier: reading.FichierLu,
                 erreurs: list[tuple[int, str]]) -> None:
    if not erreurs:
        return
    lignes = [ligne for ligne, _ in erreurs]
    brut = fichier.donnees.loc[lignes].rename(columns=fichier.entetes)
    donnees = [json.dumps(r, ensure_ascii=False) for r in brut.to_dict("records")]
    df = pd.DataFrame({"import_id": import_id, "fichier": nom_fichier, "ligne": lignes, "donnees": donnees,
                       "raison": [r for _, r in erreurs]})
    copy_dataframe(conn, "imports_quarantaine", df)


def _nombre(valeurs: pd.Series) -> pd.Series:
    """Numbers as texts for messages (12, 4.5, inf: never fails)."""
    return valeurs.map(lambda x: f"{x:g}")


def _verifier_sites(df: pd.DataFrame, erreurs: Erreurs, site: str | None, connus: set[str]) -> None:
    inconnu = df["site"].notna() & ~df["site"].isin(list(connus))
    erreurs.ajouter_masque(df, inconnu, lambda k: "site inconnu « " + df["site"][k].astype(str) + " » (sites connus : "
                           + ", ".join(sorted(connus)) + ")")
    if site is not None:
        erreurs.ajouter_masque(df, df["site"].notna() & (df["site"] != site),
                               lambda k: "ligne du site " + df["site"][k].astype(str)
                               + f" alors que l'import est limité au site {site}")


def _nouveaux_ids(conn: Connection, table: str, colonne_id: str, existants: pd.Series) -> pd.Series:
    """Existing ids kept, new rows numbered after the current maximum (table locked against writers)."""
    conn.execute(sa.text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
    maximum = conn.execute(sa.text(f"SELECT coalesce(max({colonne_id}), 0) FROM {table}")).scalar_one()
    nouveaux = existants.isna()
    ids = existants.copy()
    ids[nouveaux] = np.arange(maximum + 1, maximum + 1 + int(nouveaux.sum()))
    return ids.astype("int64")


def _sans(fmt: Format, df: pd.DataFrame, erreurs: Erreurs, copies: pd.Index) -> pd.DataFrame:
    """The rows to write: no reason against them, no exact repeat, no key shared with a rejected line."""
    validate.propager_rejets(fmt, df, erreurs)
    return erreurs.garder(df).drop(index=copies, errors="ignore")


def _preparer_gaveurs(conn: Connection, fmt: Format, df: pd.DataFrame, erreurs: Erreurs, site: str | None,
                      connus: set[str]) -> Preparation:
    _verifier_sites(df, erreurs, site, connus)
    copies = validate.doublons(fmt, df, erreurs)
    existants = read_df(conn, "SELECT gaveur_id, code AS code_gaveur, site_code FROM gaveurs WHERE code = ANY(:c)",
                        {"c": df["code_gaveur"].dropna().unique().tolist()})
    m = df.merge(existants, on="code_gaveur", how="left").set_index(df.index)
    erreurs.ajouter_masque(m, m["site_code"].notna() & (m["site_code"] != m["site"]),
                           lambda k: "le gaveur existe déjà sur le site " + m["site_code"][k].astype(str)
                           + " : un import ne change pas un gaveur de site")
    ok = _sans(fmt, m, erreurs, copies)
    sortie = pd.DataFrame({
        "gaveur_id": _nouveaux_ids(conn, "gaveurs", "gaveur_id", ok["gaveur_id"]), "code": ok["code_gaveur"],
        "nom": ok["nom"], "site_code": ok["site"], "distance_km": ok["distance_km"],
        "actif": ok["actif"].fillna(True).astype(bool), "origine": "import"})
    return Preparation([Ecriture("gaveurs", sortie, ("code",), ("nom", "site_code", "distance_km", "actif"),
                                 libelle="x.code")], copies=copies)


def _preparer_lots(conn: Connection, fmt: Format, df: pd.DataFrame, erreurs: Erreurs, site: str | None,
                   connus: set[str]) -> Preparation:
    _verifier_sites(df, erreurs, site, connus)
    souches = set(read_df(conn, "SELECT code FROM souches")["code"])
    erreurs.ajouter_masque(df, df["souche"].notna() & ~df["souche"].str.upper().isin(list(souches)),
                           lambda k: "souche inconnue « " + df["souche"][k].astype(str) + f" » (souches connues : "
                           f"{', '.join(sorted(souches))})")
    copies = validate.doublons(fmt, df, erreurs)
    gaveurs = read_df(conn, "SELECT gaveur_id, code AS code_gaveur, site_code AS site_gaveur FROM gaveurs "
                            "WHERE code = ANY(:c)", {"c": df["code_gaveur"].dropna().unique().tolist()})
    lots = read_df(conn, "SELECT lot_id, code_lot, site_code AS site_lot FROM lots_gavage WHERE code_lot = ANY(:c)",
                   {"c": df["code_lot"].dropna().unique().tolist()})
    m = df.merge(gaveurs, on="code_gaveur", how="left").merge(lots, on="code_lot", how="left").set_index(df.index)
    erreurs.ajouter_masque(m, m["code_gaveur"].notna() & m["gaveur_id"].isna(),
                           lambda k: "gaveur inconnu « " + m["code_gaveur"][k].astype(str) + " »")
    erreurs.ajouter_masque(m, m["site_gaveur"].notna() & (m["site_gaveur"] != m["site"]),
                           lambda k: "le gaveur est rattaché au site " + m["site_gaveur"][k].astype(str)
                           + ", pas " + m["site"][k].astype(str))
    erreurs.ajouter_masque(m, m["site_lot"].notna() & (m["site_lot"] != m["site"]),
                           lambda k: "le lot existe déjà sur le site " + m["site_lot"][k].astype(str))
    _verifier_lots_stockes(conn, m, erreurs)
    ok = _sans(fmt, m, erreurs, copies)
    sortie = pd.DataFrame({
        "lot_id": _nouveaux_ids(conn, "lots_gavage", "lot_id", ok["lot_id"]), "code_lot": ok["code_lot"],
        "site_code": ok["site"], "gaveur_id": ok["gaveur_id"].astype("int64"),
        "souche_code": ok["souche"].str.upper(), "debut": ok["date_debut"].dt.date, "fin": ok["date_fin"].dt.date,
        "nb_canards_entres": ok["nb_canards_entres"].astype("int64"),
        "nb_morts": ok["nb_morts"].fillna(0).astype("int64"),
        "poids_entree_moyen_kg": ok["poids_entree_moyen_kg"], "origine": "import"})
    cols = ("site_code", "gaveur_id", "souche_code", "debut", "fin", "nb_canards_entres", "nb_morts",
            "poids_entree_moyen_kg")
    return Preparation([Ecriture("lots_gavage", sortie, ("code_lot",), cols, libelle="x.code_lot")],
                       copies=copies, rafraichir=True)


def _verifier_lots_stockes(conn: Connection, m: pd.DataFrame, erreurs: Erreurs) -> None:
    """A lot update may not contradict what is stored: its slaughter and its meals."""
    stocke = read_df(conn, """
        SELECT l.lot_id, a.nb_canards_abattus AS abattus, a.date_abattage,
               (SELECT min((d.horodatage AT TIME ZONE :tz)::date) FROM doses_gavage d WHERE d.lot_id = l.lot_id)
                   AS premier_repas,
               (SELECT max((d.horodatage AT TIME ZONE :tz)::date) FROM doses_gavage d WHERE d.lot_id = l.lot_id)
                   AS dernier_repas
        FROM lots_gavage l LEFT JOIN abattages a USING (lot_id) WHERE l.lot_id = ANY(:l)""",
                     {"tz": FUSEAU, "l": [int(v) for v in m["lot_id"].dropna().unique()]})
    if stocke.empty:
        return
    stocke["abattus"] = pd.to_numeric(stocke["abattus"]).astype(float)
    for col in ("premier_repas", "dernier_repas", "date_abattage"):
        stocke[col] = pd.to_datetime(stocke[col])
    s = m[["lot_id"]].merge(stocke, on="lot_id", how="left").set_index(m.index)
    vivants = m["nb_canards_entres"] - m["nb_morts"].fillna(0)
    erreurs.ajouter_masque(m, vivants < s["abattus"],
                           lambda k: _nombre(s["abattus"][k]) + " canards déjà abattus pour ce lot dans la base, "
                           "plus que les " + _nombre(vivants[k]) + " vivants en fin de gavage de cette ligne")
    hors = (s["premier_repas"] < m["date_debut"]) | (s["dernier_repas"] > m["date_fin"])
    erreurs.ajouter_masque(m, hors, lambda k: "la période exclut des repas déjà enregistrés (du "
                           + s["premier_repas"][k].dt.strftime("%d/%m/%Y") + " au "
                           + s["dernier_repas"][k].dt.strftime("%d/%m/%Y") + ")")
    erreurs.ajouter_masque(m, s["date_abattage"] < m["date_debut"],
                           lambda k: "le lot est déjà abattu le " + s["date_abattage"][k].dt.strftime("%d/%m/%Y")
                           + ", avant date_debut")


def _lots_connus(conn: Connection, df: pd.DataFrame, erreurs: Erreurs, site: str | None) -> pd.DataFrame:
    """``df`` joined to its lots (id, site, period, ducks); unknown lots and other sites rejected."""
    lots = read_df(conn, "SELECT lot_id, code_lot, site_code, debut, fin, nb_canards_entres, nb_morts "
                         "FROM lots_gavage WHERE code_lot = ANY(:c)",
                   {"c": df["code_lot"].dropna().unique().tolist()})
    lots["debut"] = pd.to_datetime(lots["debut"])
    lots["fin"] = pd.to_datetime(lots["fin"])
    codes, distincts = pd.factorize(df["code_lot"])  # faster than a merge on 1 M rows
    position = np.append(pd.Index(lots["code_lot"]).get_indexer(distincts), -1)[codes]  # code -1: no lot
    m = df.assign(**{c: pd.api.extensions.take(lots[c].to_numpy(), position, allow_fill=True)
                     for c in lots.columns if c != "code_lot"})
    erreurs.ajouter_masque(m, m["code_lot"].notna() & m["lot_id"].isna(),
                           lambda k: "lot inconnu « " + m["code_lot"][k].astype(str) + " »")
    if site is not None:
        erreurs.ajouter_masque(m, m["site_code"].notna() & (m["site_code"] != site),
                               lambda k: "lot du site " + m["site_code"][k].astype(str)
                               + f" alors que l'import est limité au site {site}")
    return m


def _verifier_jour(m: pd.DataFrame, erreurs: Erreurs) -> None:
    duree = (m["fin"] - m["debut"]).dt.days + 1
    erreurs.ajouter_masque(m, m["jour"] > duree, lambda k: "jour " + _nombre(m["jour"][k])
                           + " au-delà de la durée du lot (" + _nombre(duree[k]) + " jours)")


def _heure_repas(m: pd.DataFrame, repas: pd.Series) -> pd.Series:
    """Paris 06:00 for odd meals, 18:00 for even ones, on day ``jour`` of the lot, in UTC."""
    heures = np.where(repas % 2 == 1, 6, 18)
    local = m["debut"] + pd.to_timedelta(m["jour"] - 1, unit="D") + pd.to_timedelta(heures, unit="h")
    return local.dt.tz_localize(FUSEAU).dt.tz_convert("UTC")


def _verifier_futur(m: pd.DataFrame, erreurs: Erreurs) -> None:
    erreurs.ajouter_masque(m, m["horodatage"] > pd.Timestamp.now(tz="UTC"), "repas dans le futur")


_LIBELLE_REPAS = "(SELECT code_lot FROM lots_gavage l WHERE l.lot_id = x.lot_id) || ' repas ' || x.repas"
_REJET_HEURE = ("t.lot_id = s.lot_id AND t.horodatage = s.horodatage AND t.repas <> s.repas",
                "horodatage déjà pris par un autre repas de ce lot dans la base : corrigez l'heure")
_COLONNES_REPAS = ("horodatage", "jour", "dose_g", "dose_theorique_g")


def _preparer_doses(conn: Connection, fmt: Format, df: pd.DataFrame, erreurs: Erreurs, site: str | None,
                    connus: set[str]) -> Preparation:
    m = _lots_connus(conn, df, erreurs, site)
    _verifier_jour(m, erreurs)
    connu = m["lot_id"].notna() & m["jour"].between(1, 21) & m["repas"].between(1, 42)  # (inf: range error)
    donne = m["horodatage"].notna()
    erreurs.ajouter_masque(m, ~donne & connu & ((m["repas"] + 1) // 2 != m["jour"]),
                           lambda k: "repas " + _nombre(m["repas"][k])
                           + " incompatible avec le jour " + _nombre(m["jour"][k])
                           + " (2 repas par jour) : corrigez-le ou "
                           "donnez l'horodatage du repas")
    a_deriver = connu & ~donne  # the default time, only where the file gives none
    if a_deriver.any():
        m.loc[a_deriver, "horodatage"] = _heure_repas(m[a_deriver], m.loc[a_deriver, "repas"])
    jour_local = m["horodatage"].dt.tz_convert(FUSEAU).dt.tz_localize(None).dt.normalize()
    erreurs.ajouter_masque(m, donne & connu & ((jour_local < m["debut"]) | (jour_local > m["fin"])),
                           "horodatage hors de la période du lot")
    _verifier_futur(m, erreurs)
    copies = validate.doublons(fmt, m[df.columns], erreurs)
    copies = copies.union(validate.doublons(fmt, m[df.columns].drop(index=copies), erreurs,
                                            cle=("code_lot", "horodatage")))
    ok = _sans(fmt, m, erreurs, copies)
    sortie = pd.DataFrame({"horodatage": ok["horodatage"], "lot_id": ok["lot_id"].astype("int64"),
                           "jour": ok["jour"].astype("int64"), "repas": ok["repas"].astype("int64"),
                           "dose_g": ok["dose_g"], "dose_theorique_g": ok["dose_theorique_g"]})
    return Preparation([Ecriture("doses_gavage", sortie, ("lot_id", "repas"), _COLONNES_REPAS,
                                 libelle=_LIBELLE_REPAS, rejet=_REJET_HEURE)], copies=copies)


def _preparer_doses_jour(conn: Connection, fmt: Format, df: pd.DataFrame, erreurs: Erreurs, site: str | None,
                         connus: set[str]) -> Preparation:
    m = _lots_connus(conn, df, erreurs, site)
    _verifier_jour(m, erreurs)
    copies = validate.doublons(fmt, df, erreurs)
    ok = _sans(fmt, m, erreurs, copies)
    parts = []
    for impair in (True, False):
        repas = 2 * ok["jour"] - (1 if impair else 0)
        parts.append(pd.DataFrame({
            "horodatage": _heure_repas(ok, repas) if len(ok) else pd.Series(dtype="datetime64[us, UTC]"),
            "lot_id": ok["lot_id"].astype("int64"), "jour": ok["jour"].astype("int64"),
            "repas": repas.astype("int64"), "dose_g": (ok["dose_jour_g"] / 2).round(1),
            "dose_theorique_g": (ok["dose_theorique_jour_g"] / 2).round(1)}))
    sortie = pd.concat(parts)
    futur = sortie["horodatage"] > pd.Timestamp.now(tz="UTC")
    if futur.any():
        erreurs.ajouter(sortie.index[futur.to_numpy()].unique(), "repas dans le futur")
        sortie = sortie[~sortie.index.isin(list(erreurs.lignes()))]
    return Preparation([Ecriture("doses_gavage", sortie, ("lot_id", "repas"), _COLONNES_REPAS,
                                 groupe=("lot_id", "jour"), libelle=_LIBELLE_REPAS, rejet=_REJET_HEURE)],
                       copies=copies)


def _preparer_abattages(conn: Connection, fmt: Format, df: pd.DataFrame, erreurs: Erreurs, site: str | None,
                        connus: set[str]) -> Preparation:
    m = _lots_connus(conn, df, erreurs, site)
    erreurs.ajouter_masque(m, m["date_abattage"] < m["debut"], "date_abattage avant le début du lot")
    vivants = m["nb_canards_entres"] - m["nb_morts"]
    erreurs.ajouter_masque(m, m["nb_canards_abattus"] > vivants,
                           lambda k: "plus de canards abattus que de canards vivants en fin de gavage ("
                           + _nombre(vivants[k]) + ")")
    avec_grades = bool(set(df.attrs.get("colonnes_fichier", df.columns)) & set(_COLONNES_GRADES))
    if not avec_grades:  # grades kept as stored: the new count must still cover them
        classes = read_df(conn, "SELECT lot_id, sum(nb_foies) AS classes FROM qualite_foies "
                                "WHERE lot_id = ANY(:l) GROUP BY lot_id",
                          {"l": [int(v) for v in m["lot_id"].dropna().unique()]})
        classes = m[["lot_id"]].merge(classes.astype(float), on="lot_id", how="left").set_index(m.index)["classes"]
        erreurs.ajouter_masque(m, m["nb_canards_abattus"] < classes,
                               lambda k: "plus de foies classés dans la base (" + _nombre(classes[k])
                               + ") que de canards abattus : donnez aussi les grades corrigés")
    copies = validate.doublons(fmt, df, erreurs)
    ok = _sans(fmt, m, erreurs, copies)
    abattages = pd.DataFrame({
        "lot_id": ok["lot_id"].astype("int64"), "date_abattage": ok["date_abattage"].dt.date,
        "nb_canards_abattus": ok["nb_canards_abattus"].astype("int64"),
        "poids_foie_moyen_g": ok["poids_foie_moyen_g"], "sigma_g": ok["sigma_g"],
        "mais_total_kg": ok["mais_total_kg"], "taux_fonte_pct": ok["taux_fonte_pct"]})
    grades = pd.concat([pd.DataFrame({"lot_id": ok["lot_id"].astype("int64"), "grade": nom,
                                      "nb_foies": ok[f"nb_{code}"], "poids_kg": ok[f"poids_{code}_kg"]})
                        for code, nom in GRADES.items()])
    grades = grades[grades["nb_foies"].notna()].astype({"nb_foies": "int64"})
    libelle = "(SELECT code_lot FROM lots_gavage l WHERE l.lot_id = x.lot_id)"
    ecritures = [Ecriture("abattages", abattages, ("lot_id",), ("date_abattage", "nb_canards_abattus",
                                                                "poids_foie_moyen_g", "sigma_g", "mais_total_kg",
                                                                "taux_fonte_pct"), libelle=libelle)]
    if avec_grades:  # the file's grades replace the stored set of each slaughter (blank = none)
        ecritures.append(Ecriture("qualite_foies", grades, ("lot_id", "grade"), ("nb_foies", "poids_kg"),
                                  groupe=("lot_id",), perimetre=abattages["lot_id"],
                                  libelle=libelle + " || ' ' || x.grade"))
    return Preparation(ecritures, copies=copies, rafraichir=True)


_COLONNES_GRADES = [f"{p}_{code}{s}" for code in GRADES for p, s in (("nb", ""), ("poids", "_kg"))]


_PREPARATIONS = {"gaveurs": _preparer_gaveurs, "lots": _preparer_lots, "doses": _preparer_doses,
                 "doses_jour": _preparer_doses_jour, "abattages": _preparer_abattages}
