"""Read an uploaded file (CSV or .xlsx) into a table of texts indexed by the line number a user sees.

CSV: UTF-8 (with or without BOM), else Windows-1252/Latin-1; separator ``;``, ``,`` or tab sniffed
from the header line; leading lines starting with ``#`` (template documentation) and blank lines are
skipped but keep the numbering. A row with a wrong number of fields (truncated or ragged file)
refuses the whole file. Excel: the sheet named after the kind, else the first one; other sheets are
reported as ignored. Values stay texts here: typing is :mod:`euralis_lib.imports.validate`'s job.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time

import numpy as np
import pandas as pd

from euralis_lib.exceptions import ImportFileError

SEPARATEURS = {";": "point-virgule", ",": "virgule", "\t": "tabulation"}
_MAX_LIGNES_CITEES = 5


@dataclass
class FichierLu:
    """A file read as texts: one column per header (normalised), index = line number in the file."""

    donnees: pd.DataFrame
    entetes: dict[str, str]  # normalised name -> header as written in the file
    format_fichier: str  # "csv" or "xlsx"
    encodage: str | None = None
    separateur: str | None = None
    feuille: str | None = None
    avertissements: list[str] = field(default_factory=list)


def normaliser_entete(entete: str) -> str:
    """``'Date début '`` → ``'date_debut'``: lower case, no accents, ``_`` between words."""
    texte = unicodedata.normalize("NFKD", str(entete).replace("\ufeff", "")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", texte.lower()).strip("_")


def lire(contenu: bytes, nom_fichier: str, genre: str) -> FichierLu:
    """Read ``contenu`` (the bytes of ``nom_fichier``); raises ImportFileError for a whole-file problem."""
    if not contenu or contenu.isspace():
        raise ImportFileError(f"{nom_fichier} : fichier vide (aucun en-tête, aucune ligne).")
    if contenu[:4] == b"PK\x03\x04":
        return _lire_xlsx(contenu, nom_fichier, genre)
    if contenu[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportFileError(f"{nom_fichier} : ancien format Excel .xls non pris en charge : "
                              "enregistrez le classeur au format .xlsx ou CSV.")
    return _lire_csv(contenu, nom_fichier)


def _decoder(contenu: bytes, nom_fichier: str) -> tuple[str, str]:
    if contenu[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise ImportFileError(f"{nom_fichier} : encodage UTF-16 non pris en charge : réenregistrez le fichier "
                              "en « CSV UTF-8 » ou en .xlsx.")
    if b"\x00" in contenu[:65536]:
        raise ImportFileError(f"{nom_fichier} : ce n'est pas un fichier CSV ou Excel (contenu binaire). "
                              "Exportez les données en CSV (UTF-8 ou Latin-1) ou en .xlsx.")
    if contenu.startswith(codecs.BOM_UTF8):
        contenu = contenu[len(codecs.BOM_UTF8):]
    for encodage in ("utf-8", "cp1252", "latin-1"):
        try:
            return contenu.decode(encodage), encodage
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any byte string")  # pragma: no cover


def _lire_csv(contenu: bytes, nom_fichier: str) -> FichierLu:
    texte, encodage = _decoder(contenu, nom_fichier)
    if "\r" in texte:
        texte = texte.replace("\r\n", "\n").replace("\r", "\n")
    debut, position = 0, 0  # the header: first line neither blank nor a # comment (no split of a large file)
    while True:
        fin = texte.find("\n", position)
        entete = texte[position:] if fin < 0 else texte[position:fin]
        if entete.strip() and not entete.lstrip().startswith("#"):
            break
        if fin < 0:
            raise ImportFileError(f"{nom_fichier} : fichier vide (aucun en-tête, aucune ligne).")
        debut, position = debut + 1, fin + 1
    sep = max(SEPARATEURS, key=entete.count)
    noms = next(csv.reader([entete], delimiter=sep))
    if '"' not in texte:
        records = _lire_csv_rapide("" if fin < 0 else texte[fin + 1:], debut, sep, len(noms), nom_fichier)
    else:
        records = _lire_csv_guillemets(texte.split("\n"), debut, sep, len(noms), nom_fichier)
    donnees, entetes = _nommer(records, noms, nom_fichier)
    fichier = FichierLu(donnees, entetes, "csv", encodage=encodage, separateur=sep)
    if encodage != "utf-8":
        fichier.avertissements.append(f"Fichier lu en {'Windows-1252' if encodage == 'cp1252' else 'Latin-1'} "
                                      "(pas en UTF-8) : vérifiez les accents des noms.")
    return fichier


def _premiere_ligne(corps: str, sep: str) -> tuple[int, str] | None:
    """Index and text of the first line of ``corps`` holding a value (None when there is none)."""
    position, numero = 0, 0
    while position <= len(corps):
        fin = corps.find("\n", position)
        ligne = corps[position:] if fin < 0 else corps[position:fin]
        if ligne.replace(sep, "").strip():
            return numero, ligne
        if fin < 0:
            return None
        position, numero = fin + 1, numero + 1
    return None


def _lire_csv_rapide(corps: str, debut: int, sep: str, largeur: int, nom_fichier: str) -> pd.DataFrame:
    """No quote in the file: one record per line, pandas reads the body (the text after the header).

    pandas takes a first row with extra fields as index columns (every column shifted): that row is
    checked first. pandas refuses later lines with too many fields; lines with too few come back with
    empty trailing fields, so only rows whose last field is empty are checked against their raw line.
    """
    noms = [f"c{i}" for i in range(largeur)]
    premiere = _premiere_ligne(corps, sep)
    if premiere is not None and premiere[1].count(sep) + 1 != largeur:
        _refuser_lignes_inegales(nom_fichier, largeur, [(debut + 2 + premiere[0], premiere[1].count(sep) + 1)])
    try:
        brut = pd.read_csv(io.BytesIO(corps.encode()), sep=sep, dtype=str, keep_default_na=False, header=None,
                           names=noms, skip_blank_lines=False)  # bytes: pandas reads them faster than a text
    except pd.errors.ParserError as exc:
        trouve = re.search(r"line (\d+), saw (\d+)", str(exc))
        if not trouve:
            raise ImportFileError(f"{nom_fichier} : CSV illisible ({str(exc).strip()}).") from exc
        _refuser_lignes_inegales(nom_fichier, largeur, [(debut + 1 + int(trouve.group(1)), int(trouve.group(2)))])
    brut.index = pd.RangeIndex(debut + 2, debut + 2 + len(brut))
    candidates = brut.index[(brut[noms[-1]] == "").to_numpy()]
    if not len(candidates):
        return brut
    lignes = np.asarray(corps.split("\n"), dtype=object)
    brutes = pd.Series(lignes[candidates - debut - 2], index=candidates, dtype=object)
    vides = brutes.str.replace(sep, "", regex=False).str.strip() == ""
    nb_champs = brutes.str.count(re.escape(sep)) + 1
    mauvaises = nb_champs[~vides & (nb_champs != largeur)]
    _refuser_lignes_inegales(nom_fichier, largeur, [(int(n), int(k)) for n, k in mauvaises.items()])
    return brut.drop(index=candidates[vides.to_numpy()])


def _lire_csv_guillemets(lignes: list[str], debut: int, sep: str, largeur: int, nom_fichier: str) -> pd.DataFrame:
    """Quoted fields: separators are counted per line with the csv module (exact line numbers)."""
    corps = pd.Series(lignes[debut + 1:], dtype=object)
    numeros = pd.RangeIndex(debut + 2, debut + 2 + len(corps))
    corps.index = numeros
    remplies = corps[corps.str.strip() != ""]
    if (remplies.str.count('"') % 2 == 1).any():
        records = _lire_csv_lent(lignes, debut, sep)  # a quoted field spans several lines
    else:
        nb_sep = remplies.str.count(re.escape(sep))
        suspectes = remplies[nb_sep != largeur - 1]
        mauvaises = [(int(n), len(next(csv.reader([ligne], delimiter=sep)))) for n, ligne in suspectes.items()]
        _refuser_lignes_inegales(nom_fichier, largeur, [m for m in mauvaises if m[1] != largeur])
        brut = pd.read_csv(io.StringIO("\n".join(remplies)), sep=sep, dtype=str, keep_default_na=False,
                           header=None, names=[f"c{i}" for i in range(largeur)], skip_blank_lines=False)
        brut.index = remplies.index
        records = brut
    return records


def _lire_csv_lent(lignes: list[str], debut: int, sep: str) -> pd.DataFrame:
    """csv module path for files whose quoted fields span several lines (line numbers kept exact)."""
    lecteur = csv.reader(io.StringIO("\n".join(lignes[debut:])), delimiter=sep)
    noms = next(lecteur)
    rangs, numeros, mauvaises = [], [], []
    premiere = debut + 1
    while True:
        ligne_avant = lecteur.line_num
        try:
            rang = next(lecteur)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ImportFileError(f"ligne {premiere + ligne_avant} : guillemet non fermé ({exc}) : "
                                  "le fichier est probablement tronqué.") from exc
        if not any(v.strip() for v in rang):
            continue
        numero = premiere + ligne_avant
        if len(rang) != len(noms):
            mauvaises.append((numero, len(rang)))
        rangs.append(rang)
        numeros.append(numero)
    _refuser_lignes_inegales("", len(noms), mauvaises)
    return pd.DataFrame(rangs, columns=[f"c{i}" for i in range(len(noms))], index=numeros, dtype=object)


def _refuser_lignes_inegales(nom_fichier: str, attendu: int, mauvaises: list[tuple[int, int]],
                             unite: str = "champs") -> None:
    if not mauvaises:
        return
    cites = ", ".join(f"ligne {n} ({k} {unite})" for n, k in mauvaises[:_MAX_LIGNES_CITEES])
    suite = f" et {len(mauvaises) - _MAX_LIGNES_CITEES} autre(s)" if len(mauvaises) > _MAX_LIGNES_CITEES else ""
    prefixe = f"{nom_fichier} : " if nom_fichier else ""
    raise ImportFileError(
        f"{prefixe}{len(mauvaises)} ligne(s) n'ont pas {attendu} champs comme l'en-tête : {cites}{suite}. "
        + ("Le fichier est tronqué ou une valeur contient le séparateur sans guillemets : "
           "réexportez le fichier complet." if unite == "champs" else
           "Des cellules sont remplies à droite de la dernière colonne de l'en-tête : donnez-leur un en-tête "
           "ou videz-les.") + " Rien n'a été importé.")


def _nommer(records: pd.DataFrame, noms: list[str], nom_fichier: str) -> tuple[pd.DataFrame, dict[str, str]]:
    normes = [normaliser_entete(n) or f"colonne_{i + 1}" for i, n in enumerate(noms)]
    doubles = sorted({n for n in normes if normes.count(n) > 1})
    if doubles:
        raise ImportFileError(f"{nom_fichier} : colonne(s) en double dans l'en-tête : {', '.join(doubles)}.")
    records.columns = normes
    records.index.name = "ligne"
    if records.empty:
        raise ImportFileError(f"{nom_fichier} : le fichier ne contient qu'un en-tête, aucune ligne de données.")
    return records, dict(zip(normes, (n.strip() for n in noms), strict=True))


def _texte_cellule(valeur: object) -> str:
    if valeur is None:
        return ""
    if isinstance(valeur, bool):
        return "oui" if valeur else "non"
    if isinstance(valeur, datetime):
        return valeur.date().isoformat() if valeur.time() == time(0) else valeur.isoformat(sep=" ")
    if isinstance(valeur, date):
        return valeur.isoformat()
    if isinstance(valeur, float) and valeur.is_integer():
        return str(int(valeur))
    return str(valeur)


def _lire_xlsx(contenu: bytes, nom_fichier: str, genre: str) -> FichierLu:
    import openpyxl

    try:
        classeur = openpyxl.load_workbook(io.BytesIO(contenu), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(f"{nom_fichier} : classeur Excel illisible ({type(exc).__name__}) : "
                              "réenregistrez-le au format .xlsx ou exportez-le en CSV.") from exc
    try:
        feuilles = classeur.sheetnames
        choisie = next((f for f in feuilles if normaliser_entete(f) == genre), feuilles[0])
        rangs = list(classeur[choisie].iter_rows(values_only=True))
    finally:
        classeur.close()
    numeros = [i + 1 for i, r in enumerate(rangs) if any(_texte_cellule(v).strip() for v in r)]
    if not numeros:
        raise ImportFileError(f"{nom_fichier} : la feuille « {choisie} » est vide (aucun en-tête, aucune ligne).")
    ligne_entete = numeros[0]
    entete = [_texte_cellule(v) for v in rangs[ligne_entete - 1]]
    while entete and not entete[-1].strip():
        entete.pop()
    largeur = len(entete)
    debordent = [(n, max(i + 1 for i, v in enumerate(rangs[n - 1]) if _texte_cellule(v).strip()))
                 for n in numeros[1:] if any(_texte_cellule(v).strip() for v in rangs[n - 1][largeur:])]
    _refuser_lignes_inegales(nom_fichier, largeur, debordent, "colonnes remplies")
    valeurs = [[_texte_cellule(v) for v in (list(rangs[n - 1]) + [None] * largeur)[:largeur]] for n in numeros[1:]]
    records = pd.DataFrame(valeurs, columns=[f"c{i}" for i in range(largeur)], index=numeros[1:], dtype=object)
    donnees, entetes = _nommer(records, entete, nom_fichier)
    fichier = FichierLu(donnees, entetes, "xlsx", feuille=choisie)
    autres = [f for f in feuilles if f != choisie]
    if autres:
        fichier.avertissements.append(f"Classeur Excel : feuille « {choisie} » importée ; feuille(s) ignorée(s) : "
                                      + ", ".join(f"« {f} »" for f in autres) + ".")
    return fichier
