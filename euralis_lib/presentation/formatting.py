"""One formatter for everything supervisors read: numbers, dates, times, booleans, missing values, reports.

French conventions through Babel (``fr_FR``): decimal comma and narrow no-break space between
thousands, dates ``dd/mm/yyyy``, month names (« nov. 2025 »), times in Europe/Paris whatever the
server's time zone, « Oui »/« Non », « — » for a missing value, and a link to a run's HTML report
(served by the dashboards under ``/voila/rapports/``) instead of a path on the server. Used by the
dashboard tables, KPI cards, captions, the landing and Ops pages and the PDF export.
"""

from __future__ import annotations

import decimal
import math
import numbers
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from babel.dates import format_date
from babel.numbers import format_decimal

from euralis_lib import config
from euralis_lib.presentation.markup import Markup, escape, link

LOCALE = "fr_FR"
FUSEAU = "Europe/Paris"
VIDE = "—"
STATUTS_RUN = {"success": "réussi", "failed": "échec", "abandoned": "abandonné", "skipped": "ignoré (déjà en cours)",
               "running": "en cours"}
# A run's stage (sql/202); « affiche »: the published run that pages show (euralis_lib.operations.ops).
ETAPES_RUN = {"affiche": "publié, affiché par les pages", "publie": "publié", "exploratoire": "exploratoire",
              "retire": "retiré"}


def manquant(valeur: object) -> bool:
    """True for None, NaN, NaT and pandas' NA."""
    if valeur is None:
        return True
    try:
        return bool(pd.isna(valeur))
    except (TypeError, ValueError):
        return False


_CHIFFRES_MAX = 340  # digits of the largest float (1.8e308) with its decimals: no number fails to format


def nombre(valeur: float | None, decimales: int = 0, milliers: str = "\u202f") -> str:
    """A number the French way (``1 234,5``); ``milliers`` replaces the narrow no-break space when a
    font lacks it (PDF core fonts)."""
    if manquant(valeur) or (isinstance(valeur, float) and math.isinf(valeur)):
        return VIDE
    motif = "#,##0" + ("." + "0" * decimales if decimales > 0 else "")
    with decimal.localcontext() as contexte:  # Babel rounds in the current context: 28 digits failed from 1e26
        contexte.prec = _CHIFFRES_MAX
        texte = format_decimal(valeur, format=motif, locale=LOCALE)
    return texte.replace("\u202f", milliers) if milliers != "\u202f" else texte


def jour(valeur: date | datetime | pd.Timestamp | None) -> str:
    """A day as ``dd/mm/yyyy``."""
    if manquant(valeur):
        return VIDE
    return pd.Timestamp(valeur).strftime("%d/%m/%Y")


def heure_locale(valeur: datetime | pd.Timestamp) -> pd.Timestamp:
    """An instant in Europe/Paris (a naive value is taken as already local)."""
    ts = pd.Timestamp(valeur)
    return ts.tz_localize(FUSEAU) if ts.tzinfo is None else ts.tz_convert(FUSEAU)


def horodatage(valeur: datetime | pd.Timestamp | None, secondes: bool = False) -> str:
    """An instant as ``dd/mm/yyyy HH:MM`` in Europe/Paris, whatever the time zone it comes in."""
    if manquant(valeur):
        return VIDE
    return heure_locale(valeur).strftime("%d/%m/%Y %H:%M:%S" if secondes else "%d/%m/%Y %H:%M")


def mois(valeur: date | datetime | pd.Timestamp | None) -> str:
    """A month with its French name, e.g. « nov. 2025 »."""
    if manquant(valeur):
        return VIDE
    return format_date(pd.Timestamp(valeur).date(), "MMM y", locale=LOCALE)


def booleen(valeur: bool | None) -> str:
    """« Oui » / « Non »."""
    return VIDE if manquant(valeur) else ("Oui" if valeur else "Non")


def statut_run(statut: str | None) -> str:
    """A job run's status in French (« réussi », « échec »…); unknown values as they are."""
    return VIDE if manquant(statut) else STATUTS_RUN.get(str(statut), str(statut))


def etape_run(etape: str | None) -> str:
    """A job run's stage in French (« exploratoire », « publié, affiché par les pages »…)."""
    return VIDE if manquant(etape) else ETAPES_RUN.get(str(etape), str(etape))


def lien_rapport(chemin: str | Path | None, texte: str = "rapport") -> Markup:
    """HTML link to a run's HTML report (relative to the dashboard pages), never the server path;
    « — » when there is no report or it lies outside the reports folder."""
    if manquant(chemin) or not chemin:
        return escape(VIDE)
    page = Path(str(chemin)).with_suffix(".html")
    try:
        relatif = page.resolve().relative_to(config.reports_dir())
    except ValueError:
        return escape(VIDE)
    return link(f"../rapports/{relatif.as_posix()}", texte, target="_blank")


def valeur(v: object, decimales: int = 2, milliers: str = "\u202f") -> str:
    """Any cell value as text: numbers, days, instants, booleans, missing values."""
    if manquant(v):
        return VIDE
    if isinstance(v, Decimal):
        v = float(v)
    if isinstance(v, bool | np.bool_):
        return booleen(bool(v))
    if isinstance(v, numbers.Integral):
        return nombre(int(v), milliers=milliers)
    if isinstance(v, numbers.Real):
        return nombre(float(v), decimales, milliers)
    if isinstance(v, pd.Timestamp | datetime):
        ts = pd.Timestamp(v)
        if ts.tzinfo is not None:
            return horodatage(ts)
        return jour(ts) if (ts.hour, ts.minute, ts.second) == (0, 0, 0) else ts.strftime("%d/%m/%Y %H:%M")
    if isinstance(v, date):
        return jour(v)
    return str(v)


_RAPIDE_MAX = 1e15  # below it a float's shortest repr has few enough digits for Decimal's default context


def format_column(valeurs: Iterable[object], decimales: int = 2, milliers: str = "\u202f") -> list[str]:
    """``[valeur(v, decimales, milliers) for v in valeurs]``, the same texts ~20 times faster for numbers (the
    PDF export of 10 years of lots formats 280,000 cells): Python's formatting of the Decimal Babel builds
    (``Decimal(str(v))``, rounded half to even), the French separators swapped in; anything else through
    :func:`valeur`."""
    separateurs = {ord(","): milliers, ord("."): ","}
    textes = []
    for v in valeurs:
        if type(v) is float and math.isfinite(v) and abs(v) < _RAPIDE_MAX:
            textes.append(f"{Decimal(repr(v)):,.{decimales}f}".translate(separateurs) if decimales > 0
                          else valeur(v, decimales, milliers))
        elif type(v) is int and abs(v) < _RAPIDE_MAX:
            textes.append(f"{v:,}".translate(separateurs))
        else:
            textes.append(valeur(v, decimales, milliers))
    return textes


def tableau(df: pd.DataFrame, decimales: int = 2, liens: tuple[str, ...] = ("rapport_path",)) -> pd.DataFrame:
    """A copy of ``df`` with every cell as display HTML (:class:`~markupsafe.Markup`, text escaped); ``liens``
    columns become report links, a ``mois`` column shows month names."""
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        if col in liens:
            out[col] = [lien_rapport(v) for v in df[col]]
        elif col == "mois":
            out[col] = [escape(mois(v)) for v in df[col]]
        elif pd.api.types.is_bool_dtype(df[col]):
            out[col] = [escape(booleen(v)) for v in df[col]]
        else:
            out[col] = [escape(valeur(v, decimales)) for v in df[col]]
    return out
