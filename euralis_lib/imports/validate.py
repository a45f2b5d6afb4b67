"""Checks that need no database: columns (with suggestions), types, domain ranges (vectorized masks), coherence
between columns, dates in the future and duplicates inside the file.

Row problems are collected in :class:`Erreurs` (line number → reasons), never raised: a bad row is
quarantined, the others go on. Only whole-file problems raise :class:`ImportFileError`.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd

from euralis_lib.exceptions import ImportFileError
from euralis_lib.imports.formats import GRADES, Colonne, Format
from euralis_lib.imports.reading import FichierLu

FUSEAU = "Europe/Paris"
_UNITE = "datetime64[us]"  # microseconds: any year a user can type fits (nanoseconds stop in 2262)
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

    def ajouter_masque(self, df: pd.DataFrame, masque: pd.Series,
                       raison: str | Callable[[pd.Series], pd.Series]) -> None:
        """Add ``raison`` to the lines of ``df`` where ``masque`` is true; a callable ``raison`` builds the
        per-line texts from the mask (called only when some line matches: cheap on large files)."""
        masque = masque.fillna(False).astype(bool)
        if masque.any():
            self.ajouter(df.index[masque.to_numpy()], raison if isinstance(raison, str) else raison(masque))

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


def _vides(brut: pd.Series, echec: pd.Series) -> pd.Series:
    """Blank cells among the ``echec`` ones (only those are stripped: fast on large files)."""
    vide = pd.Series(False, index=brut.index)
    if echec.any():
        vide[echec] = (brut[echec].str.strip() == "").to_numpy()
    return vide


def _nombres(brut: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers (French decimal comma and thousands spaces accepted) and the blank cells; an infinite value
    (« inf », « 1e400 ») is no number: NaN, reported as such."""
    try:  # clean columns (large files): a plain cast, twice as fast as to_numeric
        valeurs = brut.astype("float64")
    except ValueError:
        valeurs = pd.to_numeric(brut, errors="coerce").astype(float)
    vide = _vides(brut, valeurs.isna())
    reste = valeurs.isna() & ~vide
    if reste.any():
        nettoye = brut[reste].str.replace(r"[\s\u00a0\u202f]", "", regex=True).str.replace(",", ".", regex=False)
        valeurs[reste] = pd.to_numeric(nettoye, errors="coerce").astype(float)
    return valeurs.mask(np.isinf(valeurs)), vide


def _essayer(brut: pd.Series, valeurs: pd.Series, reste: pd.Series, formats: tuple[str, ...],
             **options: object) -> None:
    """Parse the ``reste`` cells of ``brut`` into ``valeurs`` with each format in turn."""
    for fmt_date in formats:
        if not reste.any():
            return
        textes = brut[reste].str.strip()
        try:
            essai = pd.to_datetime(textes, format=fmt_date, errors="coerce", **options)
        except ValueError:  # texts with and without offsets mixed: one by one (a few leftover cells)
            essai = pd.Series([_un_instant(t, fmt_date) for t in textes], index=textes.index, dtype=_UNITE)
        if isinstance(essai.dtype, pd.DatetimeTZDtype):  # an offset where none is expected: Paris wall time
            essai = essai.dt.tz_convert(FUSEAU).dt.tz_localize(None)
        valeurs[reste] = essai.astype(_UNITE)
        reste = reste & valeurs.isna()


def _un_instant(texte: str, fmt_date: str) -> pd.Timestamp:
    """One text parsed alone; an offset becomes Paris wall time; NaT when unreadable."""
    instant = pd.to_datetime(texte, format=fmt_date, errors="coerce")
    if instant is not pd.NaT and instant.tzinfo is not None:
        instant = instant.tz_convert(FUSEAU).tz_localize(None)
    return instant


def _dates(brut: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates (AAAA-MM-JJ, JJ/MM/AAAA, ISO with a time) and the blank cells."""
    valeurs = pd.to_datetime(brut, format="%Y-%m-%d", errors="coerce").astype(_UNITE)
    vide = _vides(brut, valeurs.isna())
    _essayer(brut, valeurs, valeurs.isna() & ~vide, ("%Y-%m-%d", "%d/%m/%Y", "ISO8601"))
    return valeurs.dt.normalize(), vide


def _horodatages(brut: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Timestamps in UTC (texts without offset are Paris time), the blank cells and the cells whose
    Paris hour does not exist or is ambiguous (daylight saving change)."""
    naif = pd.to_datetime(brut, format="%Y-%m-%d %H:%M:%S", errors="coerce").astype(_UNITE)
    vide = _vides(brut, naif.isna())
    reste = naif.isna() & ~vide
    avec_decalage = pd.Series(False, index=brut.index)
    if reste.any():
        avec_decalage[reste] = brut[reste].str.strip().str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", regex=True).to_numpy()
    _essayer(brut, naif, reste & ~avec_decalage,
             ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "ISO8601"))
    resultat = naif.dt.tz_localize(FUSEAU, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    inexistante = resultat.isna() & naif.notna()
    if avec_decalage.any():
        resultat[avec_decalage] = pd.to_datetime(brut[avec_decalage].str.strip(), format="ISO8601", utc=True,
                                                 errors="coerce").astype("datetime64[us, UTC]")
    return resultat, vide, inexistante


def _sans_espaces(texte: pd.Series) -> pd.Series:
    """``str.strip``; a column with few distinct values (a lot code repeats on every meal of a large file) is
    stripped once per value and returned as a categorical: later key lookups and duplicate checks work on its
    integer codes instead of hashing a million texts again."""
    codes, distincts = pd.factorize(texte, use_na_sentinel=False)
    if len(distincts) > len(texte) // 4:
        return texte.str.strip()
    vers, propres = pd.factorize(pd.Index(distincts).str.strip())
    return pd.Series(pd.Categorical.from_codes(vers[codes], categories=propres), index=texte.index)


def convertir(fmt: Format, brut: pd.DataFrame, erreurs: Erreurs, site_fixe: bool = False) -> pd.DataFrame:
    """Typed columns of the format (missing optional columns added empty); bad values go to ``erreurs``.

    With ``site_fixe`` (option --site) an empty site is allowed: the caller fills it.
    """
    sortie = pd.DataFrame(index=brut.index)
    for col in fmt.colonnes:
        texte = brut[col.nom] if col.nom in brut else pd.Series("", index=brut.index, dtype=object)

        def cite(masque: pd.Series, attendu: str, texte: pd.Series = texte, nom: str = col.nom) -> pd.Series:
            return "« " + texte[masque].astype(str) + f" » n'est pas {attendu} (colonne {nom})"

        inexistante = pd.Series(False, index=brut.index)
        if col.type in ("texte", "booleen"):
            texte = _sans_espaces(texte)
            vide = texte == ""
            if col.type == "texte":
                valeurs = texte.where(~vide)
                attendu = ""
                if col.nom == "site":
                    valeurs = valeurs.str.upper()
            else:
                bas = texte.str.lower()
                valeurs = pd.Series(np.where(bas.isin(_VRAI), True, np.where(bas.isin(_FAUX), False, None)),
                                    index=brut.index, dtype=object)
                attendu = "oui/non"
        elif col.type in ("entier", "decimal"):
            valeurs, vide = _nombres(texte)
            if col.type == "entier":
                non_entier = valeurs.notna() & (valeurs != np.floor(valeurs.fillna(0)))
                erreurs.ajouter_masque(brut, non_entier, f"{col.nom} : nombre entier attendu")
            attendu = "un nombre entier" if col.type == "entier" else "un nombre"
        elif col.type == "date":
            valeurs, vide = _dates(texte)
            attendu = "une date AAAA-MM-JJ ou JJ/MM/AAAA"
        else:  # horodatage
            valeurs, vide, inexistante = _horodatages(texte)
            erreurs.ajouter_masque(brut, inexistante, f"{col.nom} : heure inexistante ou ambiguë au changement "
                                   "d'heure : ajoutez le décalage (+01:00 ou +02:00)")
            attendu = "une date et heure JJ/MM/AAAA HH:MM"
        if col.obligatoire and col.nom in brut and not (site_fixe and col.nom == "site"):
            erreurs.ajouter_masque(brut, vide, f"{col.nom} : valeur manquante")
        if attendu:
            erreurs.ajouter_masque(brut, valeurs.isna() & ~vide & ~inexistante,
                                   lambda m, attendu=attendu, cite=cite: cite(m, attendu))
        sortie[col.nom] = valeurs
    return sortie


def _message_plage(col: Colonne, valeur: object) -> str:
    if col.motif:
        return f"{col.nom} : « {valeur} » n'est pas un code valide ({col.description})"
    affiche = f"{valeur:g}".replace(".", ",") if isinstance(valeur, int | float) else str(valeur)
    return f"{col.nom} = {affiche} hors de la plage autorisée ({col.plage()}{' ' + col.unite if col.unite else ''})"


def verifier_plages(fmt: Format, df: pd.DataFrame, erreurs: Erreurs) -> None:
    """Domain ranges and code patterns declared in the format (vectorized: one mask per column)."""
    for col in fmt.colonnes:
        if col.nom not in df or (col.mini is None and col.maxi is None and not col.motif):
            continue
        valeurs = df[col.nom]
        if col.motif:
            hors = valeurs.notna() & ~valeurs.astype(str).str.match(col.motif)
        else:
            hors = valeurs.notna() & ((valeurs < (-np.inf if col.mini is None else col.mini))
                                      | (valeurs > (np.inf if col.maxi is None else col.maxi)))
        erreurs.ajouter_masque(df, hors, lambda k, col=col, valeurs=valeurs: valeurs[k].map(
            lambda v: _message_plage(col, v)))


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
            lambda m: "ITM = " + itm[m].round(1).astype(str) + f" hors de la plage plausible {ITM_PLAUSIBLE[0]:g}–"
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


def propager_rejets(fmt: Format, df: pd.DataFrame, erreurs: Erreurs) -> None:
    """Reject every line sharing its key with a rejected line: a fact is stored or quarantined, never
    both (a valid line and a bad line for the same lot and meal are two versions of one fact)."""
    rejetees = erreurs.lignes()
    if not rejetees:
        return
    cle = list(fmt.cle)
    est_rejetee = df.index.isin(list(rejetees))
    rej = df.loc[est_rejetee, cle].dropna().drop_duplicates()
    if rej.empty:
        return
    numeros = pd.Series(df.index[est_rejetee], index=df.index[est_rejetee])
    rej = rej.assign(_ligne=numeros.loc[rej.index].to_numpy())
    touche = df[cle].merge(rej, on=cle, how="left").set_index(df.index)["_ligne"]
    masque = touche.notna() & ~est_rejetee
    erreurs.ajouter_masque(df, masque, lambda k: "même clé (" + ", ".join(cle) + ") que la ligne "
                           + touche[k].astype("int64").astype(str) + ", rejetée : corrigez les deux lignes")
