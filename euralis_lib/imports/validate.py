"""Checks that need no database: columns (with suggestions), types, domain ranges (pandera), coherence
between columns, dates in the future and duplicates inside the file.

Row problems are collected in :class:`Erreurs` (line number → reasons), never raised: a bad row is
quarantined, the others go on. Only whole-file problems raise :class:`ImportFileError`.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from datetime import date

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from euralis_lib.exceptions import ImportFileError
from euralis_lib.imports.formats import GRADES, Colonne, Format
from euralis_lib.imports.reading import FichierLu

FUSEAU = "Europe/Paris"
_VRAI = {"oui", "o", "vrai", "true", "1", "yes", "y", "x"}
_FAUX = {"non", "n", "faux", "false", "0", "no"}
# Corn per kg of liver (domain: about 12-16); outside 5-30 the columns are in the wrong units.
ITM_PLAUSIBLE = (5.0, 30.0)


class Erreurs:
    """Reasons per line number (a line with at least one reason is rejected)."""

    def __init__(self) -> None:
        self.par_ligne: dict[int, list[str]] = defaultdict(list)

    def ajouter(self, lignes: pd.Index | list[int], raison: str | pd.Series) -> None:
        """Add ``raison`` (one text, or a Series of texts indexed by line) to each of ``lignes``."""
        for ligne in lignes:
            texte = raison if isinstance(raison, str) else str(raison.loc[ligne])
            if texte not in self.par_ligne[int(ligne)]:
                self.par_ligne[int(ligne)].append(texte)

    def ajouter_masque(self, df: pd.DataFrame, masque: pd.Series, raison: str | pd.Series) -> None:
        """Add ``raison`` to the lines of ``df`` where ``masque`` is true."""
        masque = masque.fillna(False).astype(bool)
        if masque.any():
            self.ajouter(df.index[masque.to_numpy()], raison if isinstance(raison, str) else raison[masque])

    def lignes(self) -> set[int]:
        """Rejected line numbers."""
        return {k for k, v in self.par_ligne.items() if v}

    def garder(self, df: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``df`` without any reason so far."""
        rejetees = self.lignes()
        return df if not rejetees else df[~df.index.isin(list(rejetees))]

    def raison(self, ligne: int) -> str:
        """All reasons of a line, joined."""
        return " ; ".join(self.par_ligne[ligne])


def verifier_colonnes(fmt: Format, fichier: FichierLu, site_fixe: bool) -> list[str]:
    """Refuse a file missing required columns (suggesting the closest headers); warn about ignored columns."""
    presentes = list(fichier.donnees.columns)
    requises = [c for c in fmt.obligatoires if not (site_fixe and c == "site")]
    inconnues = [c for c in presentes if c not in fmt.noms]
    manquantes = [c for c in requises if c not in presentes]
    if manquantes:
        details = []
        for nom in manquantes:
            proche = difflib.get_close_matches(nom, inconnues, n=1, cutoff=0.6)
            conseil = (f" — la colonne « {fichier.entetes[proche[0]]} » du fichier ressemble : "
                       f"vouliez-vous dire « {nom} » ?") if proche else ""
            details.append(f"« {nom} »{conseil}")
        astuce = " (ou précisez --site)" if "site" in manquantes else ""
        raise ImportFileError(
            f"Colonne(s) obligatoire(s) absente(s) pour un import « {fmt.genre} » : " + " ; ".join(details)
            + f"{astuce}. Colonnes attendues : {', '.join(fmt.noms)}. Rien n'a été importé "
            f"(modèle : python -m euralis_lib import template {fmt.genre}).")
    avertissements = []
    for nom in inconnues:
        proche = difflib.get_close_matches(nom, fmt.noms, n=1, cutoff=0.6)
        conseil = f" (vouliez-vous dire « {proche[0]} » ?)" if proche else ""
        avertissements.append(f"Colonne « {fichier.entetes[nom]} » inconnue, ignorée{conseil}.")
    return avertissements


def _nombres(brut: pd.Series) -> pd.Series:
    valeurs = pd.to_numeric(brut, errors="coerce")
    reste = valeurs.isna() & (brut != "")
    if reste.any():
        nettoye = (brut[reste].str.replace(r"[\s\u00a0\u202f]", "", regex=True).str.replace(",", ".", regex=False))
        valeurs = valeurs.astype(float)
        valeurs[reste] = pd.to_numeric(nettoye, errors="coerce")
    return valeurs.astype(float)


def _dates(brut: pd.Series) -> pd.Series:
    valeurs = pd.to_datetime(brut, format="%Y-%m-%d", errors="coerce")
    for fmt_date in ("%d/%m/%Y", "ISO8601"):
        reste = valeurs.isna() & (brut != "")
        if reste.any():
            valeurs[reste] = pd.to_datetime(brut[reste], format=fmt_date, errors="coerce")
    return valeurs.dt.normalize()


def _horodatages(brut: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Timestamps in UTC; naive texts are Paris time. Also returns the lines whose hour does not exist."""
    avec_decalage = brut.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", regex=True)
    naif = pd.Series(pd.NaT, index=brut.index, dtype="datetime64[ns]")
    for fmt_h in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "ISO8601"):
        reste = naif.isna() & (brut != "") & ~avec_decalage
        if reste.any():
            naif[reste] = pd.to_datetime(brut[reste], format=fmt_h, errors="coerce")
    local = naif.dt.tz_localize(FUSEAU, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    inexistante = local.isna() & naif.notna()
    resultat = local
    if avec_decalage.any():
        resultat = resultat.copy()
        resultat[avec_decalage] = pd.to_datetime(brut[avec_decalage], format="ISO8601", utc=True, errors="coerce")
    return resultat, inexistante


def convertir(fmt: Format, brut: pd.DataFrame, erreurs: Erreurs, site_fixe: bool = False) -> pd.DataFrame:
    """Typed columns of the format (missing optional columns added empty); bad values go to ``erreurs``.

    With ``site_fixe`` (option --site) an empty site is allowed: the caller fills it.
    """
    sortie = pd.DataFrame(index=brut.index)
    for col in fmt.colonnes:
        texte = (brut[col.nom].astype(str).str.strip() if col.nom in brut
                 else pd.Series("", index=brut.index, dtype=object))
        vide = texte == ""
        if col.obligatoire and col.nom in brut and not (site_fixe and col.nom == "site"):
            erreurs.ajouter_masque(brut, vide, f"{col.nom} : valeur manquante")
        if col.type == "texte":
            valeurs = texte.where(~vide)
            if col.nom == "site":
                valeurs = valeurs.str.upper()
            mal = pd.Series(False, index=brut.index)
        elif col.type in ("entier", "decimal"):
            valeurs = _nombres(texte.where(~vide, ""))
            mal = valeurs.isna() & ~vide
            if col.type == "entier":
                non_entier = valeurs.notna() & (valeurs != np.floor(valeurs.fillna(0)))
                erreurs.ajouter_masque(brut, non_entier, f"{col.nom} : nombre entier attendu")
            nature = "un nombre entier" if col.type == "entier" else "un nombre"
            erreurs.ajouter_masque(brut, mal, "« " + texte + f" » n'est pas {nature} (colonne {col.nom})")
            mal = pd.Series(False, index=brut.index)
        elif col.type == "date":
            valeurs = _dates(texte)
            mal = valeurs.isna() & ~vide
            erreurs.ajouter_masque(brut, mal, "« " + texte + f" » n'est pas une date AAAA-MM-JJ ou JJ/MM/AAAA "
                                   f"(colonne {col.nom})")
        elif col.type == "horodatage":
            valeurs, inexistante = _horodatages(texte)
            erreurs.ajouter_masque(brut, inexistante, f"{col.nom} : heure inexistante ou ambiguë au changement "
                                   "d'heure : ajoutez le décalage (+01:00 ou +02:00)")
            mal = valeurs.isna() & ~vide & ~inexistante
            erreurs.ajouter_masque(brut, mal, "« " + texte + f" » n'est pas une date et heure "
                                   f"JJ/MM/AAAA HH:MM (colonne {col.nom})")
        else:  # booleen
            bas = texte.str.lower()
            valeurs = pd.Series(np.where(bas.isin(_VRAI), True, np.where(bas.isin(_FAUX), False, None)),
                                index=brut.index, dtype=object)
            mal = valeurs.isna() & ~vide
            erreurs.ajouter_masque(brut, mal, "« " + texte + f" » n'est pas oui/non (colonne {col.nom})")
        sortie[col.nom] = valeurs
    return sortie


def _schema(fmt: Format) -> pa.DataFrameSchema:
    colonnes = {}
    for col in fmt.colonnes:
        checks = []
        if col.mini is not None or col.maxi is not None:
            checks.append(pa.Check.in_range(-np.inf if col.mini is None else col.mini,
                                            np.inf if col.maxi is None else col.maxi))
        if col.motif:
            checks.append(pa.Check.str_matches(col.motif))
        colonnes[col.nom] = pa.Column(checks=checks, nullable=True, required=False)
    return pa.DataFrameSchema(colonnes, name=fmt.genre)


def _message_plage(col: Colonne, valeur: object) -> str:
    if col.motif:
        return f"{col.nom} : « {valeur} » n'est pas un code valide ({col.description})"
    affiche = f"{valeur:g}".replace(".", ",") if isinstance(valeur, int | float) else str(valeur)
    return f"{col.nom} = {affiche} hors de la plage autorisée ({col.plage()}{' ' + col.unite if col.unite else ''})"


def verifier_plages(fmt: Format, df: pd.DataFrame, erreurs: Erreurs) -> None:
    """Domain ranges and code patterns declared in the format, checked with pandera."""
    try:
        _schema(fmt).validate(df, lazy=True)
    except SchemaErrors as exc:
        cas = exc.failure_cases.dropna(subset=["index"])
        for row in cas.itertuples(index=False):
            erreurs.ajouter([int(row.index)], _message_plage(fmt.colonne(row.column), row.failure_case))


def verifier_coherence(fmt: Format, df: pd.DataFrame, erreurs: Erreurs, aujourd_hui: date | None = None) -> None:
    """Checks between columns of one row, and dates in the future."""
    jour = pd.Timestamp(aujourd_hui or date.today())
    if fmt.genre == "lots":
        erreurs.ajouter_masque(df, df["date_fin"] < df["date_debut"],
                               "période inversée : date_fin avant date_debut")
        erreurs.ajouter_masque(df, (df["date_fin"] - df["date_debut"]).dt.days > 20,
                               "gavage de plus de 20 jours entre date_debut et date_fin")
        erreurs.ajouter_masque(df, df["date_debut"] > jour, "date_debut dans le futur")
        erreurs.ajouter_masque(df, df["nb_morts"] > df["nb_canards_entres"],
                               "nb_morts supérieur à nb_canards_entres")
    elif fmt.genre == "abattages":
        erreurs.ajouter_masque(df, df["date_abattage"] > jour, "date_abattage dans le futur")
        foie_kg = df["nb_canards_abattus"] * df["poids_foie_moyen_g"] / 1000.0
        itm = df["mais_total_kg"] / foie_kg.where(foie_kg > 0)
        erreurs.ajouter_masque(
            df, (itm < ITM_PLAUSIBLE[0]) | (itm > ITM_PLAUSIBLE[1]),
            "ITM = " + itm.round(1).astype(str) + f" hors de la plage plausible {ITM_PLAUSIBLE[0]:g}–"
            f"{ITM_PLAUSIBLE[1]:g} : vérifiez mais_total_kg (kg) et poids_foie_moyen_g (g)")
        total = pd.Series(0.0, index=df.index)
        for code in GRADES:
            nb, poids = df[f"nb_{code}"], df[f"poids_{code}_kg"]
            erreurs.ajouter_masque(df, nb.isna() != poids.isna(),
                                   f"grade {code} : nb_{code} et poids_{code}_kg vont ensemble")
            total = total + nb.fillna(0)
        erreurs.ajouter_masque(df, total > df["nb_canards_abattus"],
                               "plus de foies classés que de canards abattus")


def doublons(fmt: Format, df: pd.DataFrame, erreurs: Erreurs, cle: tuple[str, ...] | None = None) -> pd.Index:
    """Rows sharing a natural key inside the file: different values reject them all; identical copies
    after the first are returned (they count as unchanged)."""
    cle = cle or fmt.cle
    valides = erreurs.garder(df)
    groupes = valides[valides.duplicated(subset=list(cle), keep=False)]
    if groupes.empty:
        return pd.Index([])
    copies: list[int] = []
    for _, groupe in groupes.groupby(list(cle), sort=False, dropna=False):
        if len(groupe.astype(str).drop_duplicates()) == 1:
            copies.extend(int(i) for i in groupe.index[1:])
            continue
        valeur = ", ".join(f"{c} {groupe.iloc[0][c]}" for c in cle)
        for ligne in groupe.index:
            autres = ", ".join(str(i) for i in groupe.index if i != ligne)
            erreurs.ajouter([ligne], f"doublon dans le fichier : {valeur} aussi ligne(s) {autres} avec des valeurs "
                                     "différentes")
    return pd.Index(copies)
