"""Tables a supervisor can print or open in a spreadsheet: the Excel and PDF exports behind every dashboard table.

Both carry the export's context (filters, period, user — whatever the page gives — and the time of export),
the page's French headers and numbers formatted the French way.

- Excel (:func:`excel`): the table on a first sheet with number and date formats, column widths, a frozen
  header row and an autofilter, then a « Filtres » sheet. Written row by row (openpyxl's write-only mode),
  so memory stays flat in the row count. Every text cell is stored as a string, never as a formula.
- PDF (:func:`pdf`): a real table — the header row repeated on every page, numbers right-aligned, column
  widths from the text's widths, landscape when the table is wide, the context line under the title, pages
  numbered. reportlab's canvas with the core fonts (Helvetica, nothing embedded): one text object per page
  holds its rows, written row by row (a text extractor reads the table in order); text outside the fonts'
  WinAnsi encoding is replaced (:func:`winansi_text`), never a failed export.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime

import numpy as np
import pandas as pd

from euralis_lib.presentation import formatting

LIGNES_PAR_PAGE = 32


def contexte_complet(contexte: Mapping[str, object] | None) -> dict[str, str]:
    """The export's context as French labels and texts, with the time of export added."""
    lignes = {str(k): str(v) for k, v in (contexte or {}).items() if not formatting.manquant(v)}
    lignes.setdefault("Exporté le", formatting.horodatage(pd.Timestamp.now(tz=formatting.FUSEAU)))
    return lignes


# --- Excel -------------------------------------------------------------------------------------------------

def _format_excel(serie: pd.Series) -> str | None:
    if pd.api.types.is_bool_dtype(serie):
        return None
    if pd.api.types.is_integer_dtype(serie):
        return "#,##0"
    if pd.api.types.is_float_dtype(serie):
        return "#,##0.00"
    if pd.api.types.is_datetime64_any_dtype(serie):
        valeurs = serie.dropna()
        heures = bool(len(valeurs)) and bool((valeurs != valeurs.dt.normalize()).any())
        return "DD/MM/YYYY HH:MM" if heures else "DD/MM/YYYY"
    if len(serie.dropna()) and all(isinstance(v, date) for v in serie.dropna().head(50)):
        return "DD/MM/YYYY"
    return None


def _valeur_excel(v: object) -> object:
    if formatting.manquant(v):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, pd.Timestamp | datetime):
        ts = pd.Timestamp(v)
        return (formatting.heure_locale(ts).tz_localize(None) if ts.tzinfo else ts).to_pydatetime()
    return v


def _largeur(serie: pd.Series, entete: str) -> float:
    echantillon = serie.head(500)
    longueurs = [len(formatting.valeur(v)) for v in echantillon]
    return min(60, max([len(entete), *longueurs]) + 2)


def excel(df: pd.DataFrame, contexte: Mapping[str, object] | None = None) -> bytes:
    """The table as an .xlsx workbook (see module docstring)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    classeur = Workbook(write_only=True)
    feuille = classeur.create_sheet("Tableau")
    gras, fond = Font(bold=True), PatternFill("solid", fgColor="F1E6E6")
    formats = [_format_excel(df[c]) for c in df.columns]
    for i, c in enumerate(df.columns, 1):
        feuille.column_dimensions[get_column_letter(i)].width = _largeur(df[c], str(c))
    feuille.freeze_panes = "A2"
    if len(df.columns):
        feuille.auto_filter.ref = f"A1:{get_column_letter(len(df.columns))}{len(df) + 1}"

    def cellule(valeur: object, format_: str | None = None, entete: bool = False) -> WriteOnlyCell:
        c = WriteOnlyCell(feuille, value=valeur)
        if isinstance(valeur, str):
            c.data_type = "s"  # shown as typed, never run as a formula
        if format_:
            c.number_format = format_
        if entete:
            c.font, c.fill = gras, fond
        return c

    feuille.append([cellule(str(c), entete=True) for c in df.columns])
    for ligne in df.itertuples(index=False, name=None):
        feuille.append([cellule(_valeur_excel(v), f) for v, f in zip(ligne, formats, strict=True)])
    filtres = classeur.create_sheet("Filtres")
    filtres.column_dimensions["A"].width, filtres.column_dimensions["B"].width = 22, 70
    filtres.append([cellule("Filtre", entete=True), cellule("Valeur", entete=True)])
    for cle, valeur in contexte_complet(contexte).items():
        filtres.append([cellule(cle), cellule(valeur)])
    buf = io.BytesIO()
    classeur.save(buf)
    return buf.getvalue()


# --- PDF ---------------------------------------------------------------------------------------------------

_LARGEUR_MAX = 48  # characters of a cell shown in the PDF (longer text ends with « … »)
_POLICE, _POLICE_GRASSE = "Helvetica", "Helvetica-Bold"
_MARGE = 36.0  # points (half an inch)
_TAILLE_MAX, _TAILLE_MIN = 9.0, 4.0  # table font size, points
_BORD = 0.5  # space between a column's edge and its text, in ems
_PIED = 43.0  # points kept at the bottom of the page for the page number
_CONTROLES = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Look-alikes for characters the core fonts lack (their WinAnsi encoding is Windows-1252's).
_EQUIVALENTS = {"\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2044": "/", "\u2192": "->", "Ł": "L", "ł": "l",
                "Đ": "D", "đ": "d", "ı": "i"}
_CHASSES: dict[str, dict[str, float]] = {}  # font -> character -> width of 1 pt text, in points
# A PDF string literal's escapes for Windows-1252 bytes read as Latin-1 characters: \, ( and ), and the bytes
# above ASCII in octal (reportlab writes a page's content as UTF-8: raw bytes would not survive).
_ECHAPPEMENTS = {**{b: f"\\{b:03o}" for b in range(128, 256)}, **{ord(c): "\\" + c for c in "\\()"}}


def _caractere_winansi(ch: str) -> str:
    if ch in _EQUIVALENTS:
        return _EQUIVALENTS[ch]
    if unicodedata.category(ch) == "Zs":
        return " "
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    try:
        return base.encode("cp1252").decode("cp1252") if base else "?"
    except UnicodeEncodeError:
        return "?"


def winansi_text(texte: str) -> str:
    """``texte`` as the PDF core fonts can show it: control characters as spaces, characters outside their
    WinAnsi (Windows-1252) encoding replaced by a look-alike (``ă`` → ``a``, narrow no-break space → space)
    or ``?``; French accents, « », œ, € and … are kept."""
    try:
        texte.encode("cp1252")
    except UnicodeEncodeError:
        texte = "".join(ch if ch.encode("cp1252", "ignore") else _caractere_winansi(ch) for ch in texte)
    return _CONTROLES.sub(" ", texte)


def _largeur_texte(texte: str, police: str) -> float:
    """Width of ``texte`` (WinAnsi, see :func:`winansi_text`) set in ``police`` at 1 pt: the sum of its
    characters' widths (no kerning is drawn), cached by character — much faster than stringWidth per cell."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    chasses = _CHASSES.setdefault(police, {})
    try:
        return sum(map(chasses.__getitem__, texte))
    except KeyError:
        for ch in set(texte) - chasses.keys():
            chasses[ch] = stringWidth(ch, police, 1)
        return sum(map(chasses.__getitem__, texte))


def _textes_pdf(serie: pd.Series) -> list[str]:
    textes = formatting.format_column(serie, milliers=" ")  # the core fonts have no narrow no-break space
    return [t if len(t) <= _LARGEUR_MAX else t[:_LARGEUR_MAX - 1] + "…" for t in map(winansi_text, textes)]


def _ajuste(texte: str, police: str, taille: float, largeur: float) -> str:
    """``texte`` cut with « … » to fit ``largeur`` points."""
    if _largeur_texte(texte, police) * taille <= largeur:
        return texte
    while texte and _largeur_texte(texte + "…", police) * taille > largeur:
        texte = texte[:-1]
    return texte + "…"


def _lignes_contexte(contexte: dict[str, str], taille: float, largeur: float) -> list[str]:
    """The context's « clé : valeur » items joined by « · » into lines of at most ``largeur`` points, a line
    broken between items where it can."""
    from reportlab.lib.utils import simpleSplit

    lignes: list[str] = []
    for item in (winansi_text(f"{k} : {v}") for k, v in contexte.items()):
        essai = f"{lignes[-1]} · {item}" if lignes else item
        if lignes and _largeur_texte(essai, _POLICE) * taille <= largeur:
            lignes[-1] = essai
        else:
            lignes.extend(simpleSplit(item, _POLICE, taille, largeur) or [""])
    return lignes


def _numerique(serie: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(serie) and not pd.api.types.is_bool_dtype(serie)


def pdf(df: pd.DataFrame, titre: str, contexte: Mapping[str, object] | None = None,
        lignes_par_page: int = LIGNES_PAR_PAGE) -> bytes:
    """The table as an A4 PDF (see module docstring), ``lignes_par_page`` rows per page."""
    from reportlab import rl_config
    from reportlab.lib.colors import HexColor
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen.canvas import Canvas

    entetes = [winansi_text(str(c)) for c in df.columns]
    colonnes = [_textes_pdf(df[c]) for c in df.columns]
    largeurs = [[_largeur_texte(v, _POLICE) for v in colonne] for colonne in colonnes]  # at 1 pt
    a_droite = [_numerique(df[c]) for c in df.columns]
    naturelles = [max([_largeur_texte(e, _POLICE_GRASSE), *w]) + 2 * _BORD
                  for e, w in zip(entetes, largeurs, strict=True)]  # column widths at 1 pt
    total = max(sum(naturelles), 1.0)
    paysage = total * _TAILLE_MAX > A4[0] - 2 * _MARGE
    largeur_page, hauteur_page = landscape(A4) if paysage else A4
    x0, x1 = _MARGE, largeur_page - _MARGE
    utile = x1 - x0
    taille = max(_TAILLE_MIN, min(_TAILLE_MAX, utile / total))
    echelle = min(1.0, utile / (total * taille))  # < 1 only when even the smallest font overflows: squeeze
    bords = [x0 + echelle * taille * b for b in np.concatenate([[0], np.cumsum(naturelles)])]
    retrait = echelle * taille * _BORD
    lignes_contexte = _lignes_contexte(contexte_complet(contexte), 7.5, utile)
    haut = hauteur_page - 82.8 - 9 * (len(lignes_contexte) - 1)  # top of the header band
    pas = min(taille * 1.9, (haut - _PIED) / (lignes_par_page + 1))  # row height
    taille = min(taille, pas / 1.2)  # many rows per page: a smaller font rather than overlapping rows
    nb_pages = max(1, math.ceil(len(df) / lignes_par_page))

    buf = io.BytesIO()
    toile = Canvas(buf, pagesize=(largeur_page, hauteur_page), pageCompression=1)
    toile.setTitle(titre)
    toile.setCreator("Euralis Workbench")
    titre_affiche = _ajuste(winansi_text(titre), _POLICE_GRASSE, 13, utile)
    gris, bande, filet = HexColor("#555555"), HexColor("#f1e6e6"), HexColor("#bb9999")
    # The rows are written as raw text operators, one « Tm … Tj » per cell: reportlab's drawString costs
    # ~25 µs a cell (font fallback, escaping, width), as long as the rest of the export for 10 years of lots.
    police, police_grasse = (toile._doc.getInternalFontName(p) for p in (_POLICE, _POLICE_GRASSE))
    largeurs_entetes = [_largeur_texte(e, _POLICE_GRASSE) for e in entetes]

    def ecrire(operateurs: list[str], textes: list[str], largeurs_1pt: list[float], y: float) -> None:
        for i, texte in enumerate(textes):
            x = bords[i + 1] - retrait - largeurs_1pt[i] * taille if a_droite[i] else bords[i] + retrait
            echappe = texte.encode("cp1252").decode("latin-1").translate(_ECHAPPEMENTS)
            operateurs.append(f"1 0 0 1 {x:.2f} {y:.2f} Tm ({echappe}) Tj")

    for numero in range(nb_pages):
        debut, fin = numero * lignes_par_page, min(len(df), (numero + 1) * lignes_par_page)
        toile.setFillColor(HexColor("#000000"))
        toile.setFont(_POLICE_GRASSE, 13)
        toile.drawString(x0, hauteur_page - 42, titre_affiche)
        toile.setFillColor(gris)
        toile.setFont(_POLICE, 7.5)
        for i, ligne in enumerate(lignes_contexte):
            toile.drawString(x0, hauteur_page - 60 - 9 * i, ligne)
        toile.setFont(_POLICE, 8)
        toile.drawRightString(x1, 25.2, f"page {numero + 1}/{nb_pages}")
        toile.setFillColor(HexColor("#000000"))
        if df.empty:
            toile.setFont(_POLICE, 12)
            toile.drawCentredString(largeur_page / 2, hauteur_page / 2, "Aucune ligne")
            toile.showPage()
            continue
        toile.setFillColor(bande)
        toile.rect(x0, haut - pas, utile, pas, stroke=0, fill=1)
        toile.setFillColor(HexColor("#000000"))
        y = haut - pas / 2 - 0.35 * taille  # baseline of a row's text, centred in its row
        operateurs = [f"BT {police_grasse} {taille:.2f} Tf"]
        ecrire(operateurs, entetes, largeurs_entetes, y)
        operateurs.append(f"{police} {taille:.2f} Tf")
        for r in range(debut, fin):  # row by row, so a text extractor reads the table in order
            y -= pas
            ecrire(operateurs, [colonne[r] for colonne in colonnes], [largeur[r] for largeur in largeurs], y)
        operateurs.append("ET")
        toile.addLiteral("\n".join(operateurs))
        toile.setStrokeColor(filet)
        toile.setLineWidth(0.6)
        bas = haut - pas * (fin - debut + 1) - 0.3 * pas
        toile.line(x0, bas, x1, bas)
        toile.showPage()
    a85 = rl_config.useA85
    rl_config.useA85 = 0  # page streams deflated only: reportlab's pure-Python ASCII85 took 1/5 of the time
    try:
        toile.save()
    finally:
        rl_config.useA85 = a85
    return buf.getvalue()
