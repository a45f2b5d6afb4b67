"""Shared dashboard pieces: the one page class, navigation bar, KPI cards, filter bar, tables, French messages.

Every page is a :class:`Page`: navigation, an optional filter bar (``FILTERS`` of the page module),
a loading state and the content its ``build(ctx)`` returns. Every error raised while building is
turned into a French message (never a traceback); the traceback goes to the server log only.
Everything a supervisor reads is formatted by :mod:`euralis_lib.presentation.formatting`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import ipywidgets as w
import pandas as pd
import plotly.graph_objects as go
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib.auth.acces import Utilisateur
from euralis_lib.auth.page import lien_deconnexion
from euralis_lib.dashboards import page_report
from euralis_lib.dashboards.page_report import marquer
from euralis_lib.dashboards.registry import PAGES, PageSpec
from euralis_lib.database import db, queries
from euralis_lib.exceptions import DatabaseUnavailableError, EuralisError
from euralis_lib.presentation import exports, formatting, plotly_bundle, plots
from euralis_lib.presentation.markup import Markup, download_link, element, join, link, literal, safe_filename

log = logging.getLogger(__name__)

# French column headers for tables and exports (columns not listed keep their name).
COLONNES = {
    "site_code": "Site", "souche_code": "Souche", "code_lot": "Lot", "gaveur": "Gaveur", "nb_lots": "Lots",
    "itm_moyen": "ITM moyen", "itm_p10": "ITM p10", "itm_p50": "ITM médian", "itm_p90": "ITM p90",
    "sigma_moyen_g": "Sigma moyen (g)", "sigma_p50": "Sigma médian (g)", "sigma_p90": "Sigma p90 (g)",
    "poids_foie_moyen_g": "Poids de foie moyen (g)", "mortalite_pct": "Mortalité (%)", "itm": "ITM",
    "sigma_g": "Sigma (g)", "debut": "Début", "fin": "Fin", "score": "Score", "critique": "Critique",
    "explication": "Explication", "date_abattage": "Jour d'abattage", "nb_canards": "Canards", "cout": "Coût (€)",
    "place": "Placé", "chargement": "Chargement", "raison": "Raison", "site_lot": "Site du lot", "lot_id": "N° lot",
    "mois": "Mois", "nb_canards_abattus": "Canards abattus", "revenu_eur": "Chiffre d'affaires (€)",
    "couts_eur": "Coûts (€)", "marge_eur": "Marge (€)", "production_kg": "Production (kg)", "date": "Date",
    "code": "Code", "nom": "Nom", "formule": "Formule", "r2_test": "R² (lots de test)",
    "mae_test": "Erreur moyenne (g)", "complexite": "Complexité", "engine": "Moteur", "n_train": "Lots d'apprentissage",
    "n_test": "Lots de test", "job": "Job", "rapport_path": "Rapport", "run_id": "Run n°", "statut": "Statut",
    "erreur": "Erreur", "hote": "Machine", "declencheur": "Déclencheur", "duree_s": "Durée (s)", "etape": "Étape",
    "parametres": "Paramètres (autres que par défaut)",
    "pct_extra": "Extra (%)", "taux_fonte_pct": "Taux de fonte (%)",
    "meilleure_reference": "Meilleure référence", "r2_meilleure_reference": "R² meilleure référence (mêmes lots)",
    "ecart_r2": "Écart de R² (formule − référence)", "nb_termes_polynomiale": "Termes de la référence polynomiale",
    "residu_p10_g": "Résidu p10 (g, lots de test)", "residu_p90_g": "Résidu p90 (g, lots de test)",
}
# How a PostgreSQL permission error's object is named to a user.
GENRES_OBJETS = {"table": "la table", "view": "la vue", "materialized view": "la vue", "function": "la fonction",
                 "sequence": "la séquence", "schema": "le schéma"}
AUCUN_LOT = "Aucun lot abattu sur la période et les sites choisis : élargissez la période."
DB_DOWN = ("Base de données injoignable : vérifiez que PostgreSQL est démarré "
           "(« python -m euralis_lib db start ») puis cliquez sur « Actualiser ».")

_CSS = literal("""<style>
.euralis-nav a {margin-right:14px; text-decoration:none; color:#1f4e79; font-weight:600;}
.euralis-nav a.actif {color:#c0504d; border-bottom:2px solid #c0504d;}
.euralis-nav .euralis-utilisateur {margin-left:24px; color:#555;}
.euralis-nav a.euralis-badge-alertes {background:#c0504d; color:#fff; border-radius:10px; padding:1px 8px;
                                      font-size:12px;}
.euralis-nav a.euralis-badge-alertes.zero {background:#9aa5b1;}
.euralis-kpi {border:1px solid #d0d7de; border-radius:8px; padding:10px 16px; min-width:190px;
              background:#f8fafc; margin:4px;}
.euralis-kpi .label {font-size:13px; color:#555;} .euralis-kpi .valeur {font-size:26px; font-weight:700;}
.euralis-kpi .hausse {color:#2e7d32;} .euralis-kpi .baisse {color:#c62828;} .euralis-kpi .stable {color:#777;}
.euralis-message {padding:10px 14px; border-radius:6px; margin:6px 0; font-size:14px;}
.euralis-message.erreur {background:#fdecea; color:#8a1c1c; border:1px solid #f5c2c0;}
.euralis-message.info {background:#eef4fb; color:#1f4e79; border:1px solid #c6dbef;}
.euralis-message.avertissement {background:#fff8e1; color:#7a5a00; border:1px solid #f3d98b;}
.euralis-source {font-size:12px; color:#666; font-style:italic;}
.euralis-filtres-instantane {min-height:76px; padding:6px 0; color:#555; font-size:14px;}
table.euralis {border-collapse:collapse; font-size:13px;}
table.euralis th, table.euralis td {border-bottom:1px solid #e5e5e5; padding:3px 8px; text-align:left;}
table.euralis td.nombre {text-align:right; font-variant-numeric:tabular-nums;}
table.euralis th {background:#f2f4f7;}
.euralis-page .widget-hbox {flex-wrap:wrap;}
.euralis-page .jupyter-widgets {max-width:100%;}
.euralis-page .js-plotly-plot {width:100%; min-width:0; overflow:hidden;}
</style>""")


class EmptySelectionError(EuralisError):
    """A filter selects nothing (no site, no gaveur, empty period)."""


# The comparisons a page may offer in its filter bar (FilterSpec.comparaisons), as the « Comparer » list reads them.
COMPARAISONS = {"aucune": "Aucune", "annee": "Même période il y a un an", "site": "Site contre site",
                "moyenne_site": "Gaveur contre moyenne du site", "groupe": "Gaveur contre son groupe (cluster)"}
MODES_GAVEUR = ("moyenne_site", "groupe")


@dataclass(frozen=True)
class Comparaison:
    """The comparison chosen in a filter bar: its mode (a key of :data:`COMPARAISONS`), the two sites of « Site
    contre site », the gaveur of the gaveur modes. Drawn by :mod:`euralis_lib.dashboards.comparaison`."""

    mode: str = "aucune"
    site: str | None = None
    autre_site: str | None = None
    gaveur_id: int | None = None


@dataclass
class Filters:
    """The values of a filter bar."""

    debut: date
    fin: date
    sites: list[str]
    gaveurs: list[int] | None = None
    comparaison: Comparaison = Comparaison()

    def precedent(self) -> Filters:
        """The previous period of the same length (for trends)."""
        jours = (self.fin - self.debut).days + 1
        return Filters(self.debut - timedelta(days=jours), self.debut - timedelta(days=1), self.sites, self.gaveurs)


def _refus_postgresql(exc: BaseException) -> str | None:
    """The object named by a PostgreSQL permission error (SQLSTATE 42501) in ``exc`` or its causes, « ces
    données » when it names none; None when ``exc`` is no permission error."""
    vus: set[int] = set()
    while exc is not None and id(exc) not in vus:
        vus.add(id(exc))
        if getattr(exc, "pgcode", None) == "42501":
            texte = str(getattr(exc, "pgerror", None) or exc)
            objet = re.search(r'for (materialized view|table|view|function|sequence|schema) "?(\w+)', texte)
            return f"{GENRES_OBJETS.get(objet.group(1), objet.group(1))} {objet.group(2)}" if objet else "ces données"
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return None


def french_error(exc: BaseException) -> str:
    """The French message shown to a user for an error raised while building a page."""
    refus = _refus_postgresql(exc)
    if refus is not None:
        return f"Votre rôle ne donne pas accès à {refus} : demandez à un administrateur si vous en avez besoin."
    if isinstance(exc, DatabaseUnavailableError | sa.exc.OperationalError | sa.exc.InterfaceError):
        return DB_DOWN
    if isinstance(exc, EmptySelectionError):
        return str(exc)
    if isinstance(exc, ValueError):
        return f"Filtre invalide : {exc}"
    if isinstance(exc, EuralisError):
        return f"Erreur : {exc}"
    return (f"Erreur inattendue ({type(exc).__name__}) : la page n'a pas pu être calculée. "
            "Le détail est dans le journal du serveur.")


def message_html(texte: str, genre: str = "info") -> Markup:
    """The HTML of a French message box (``genre`` 'info', 'avertissement' or 'erreur'), ``texte`` escaped."""
    return element("div", texte, class_=f"euralis-message {genre}")


def message(texte: str, genre: str = "info") -> w.HTML:
    """A French message box (``genre`` 'info', 'avertissement' or 'erreur')."""
    contenu = message_html(texte, genre)
    return marquer(w.HTML(contenu), contenu)


def titre(texte: str, niveau: int = 3) -> w.HTML:
    """A section title (``<h3>`` by default), ``texte`` escaped; a ``<h2>`` in the page's printed report."""
    return marquer(w.HTML(element(f"h{niveau}", texte)), element("h2", texte))


def source(texte: str) -> w.HTML:
    """The caption naming the run a figure comes from, e.g. 'source : run n° 3 du 25/11/2026 02:00'."""
    contenu = element("div", f"source : {texte}", class_="euralis-source")
    return marquer(w.HTML(contenu), contenu)


def nav_bar(actuelle: str, utilisateur: Utilisateur | None = None) -> w.HTML:
    """Links to every page the user may open, the current one highlighted (relative links: all apps share
    one folder); with login, who is connected and a logout link."""
    liens = [link(f"{p.slug}.ipynb", p.titre, class_="actif" if p.slug == actuelle else None)
             for p in PAGES if utilisateur is None or utilisateur.role in p.roles]
    # Unread alerts, filled and kept live by the page template's script (euralis_lib.alerts.live).
    liens.append(link("alertes.ipynb", "…", class_="euralis-badge-alertes", data_testid="alertes-non-lues",
                      title="Alertes non lues"))
    if utilisateur is not None:
        liens += [element("span", f"{utilisateur.login} ({utilisateur.role})", class_="euralis-utilisateur"),
                  link(lien_deconnexion(), "Se déconnecter", class_="euralis-deconnexion")]
    return w.HTML(_CSS + element("div", join(liens, " "), class_="euralis-nav"))


def tendance(actuel: float, precedent: float) -> float | None:
    """Change in percent vs the previous period (None when the previous value is zero)."""
    if not precedent:
        return None
    return 100.0 * (actuel - precedent) / precedent


def kpi_card(label: str, valeur: float, precedent: float | None = None, unite: str = "",
             decimales: int = 0, hausse_favorable: bool = True, versus: str = "période précédente") -> w.HTML:
    """A KPI card: label, value and the trend vs the previous period of the same length (or vs what
    ``versus`` names: « il y a un an », another site)."""
    t = tendance(valeur, precedent) if precedent is not None else None
    if t is None:
        texte_t, classe = f"{versus} : n/d", "stable"
    else:
        fleche = "▲" if t > 0 else ("▼" if t < 0 else "■")
        bon = (t > 0) == hausse_favorable
        classe = "stable" if t == 0 else ("hausse" if bon else "baisse")
        signe = "+" if t > 0 else ""
        texte_t = f"{fleche} {signe}{formatting.nombre(t, 1)} % vs {versus}"
    texte_v = formatting.nombre(valeur, decimales) + (f" {unite}" if unite else "")
    return carte(label, texte_v, texte_t, classe)


def carte(label: str, valeur: str, detail: str, classe: str = "stable") -> w.HTML:
    """A card of the KPI row: ``label``, a formatted ``valeur`` and a ``detail`` line (class 'hausse', 'baisse'
    or 'stable' colours it)."""
    html = element("div", element("div", label, class_="label"),
                   element("div", valeur, class_="valeur", elementtiming="euralis-kpi"),  # read by make bench-serve
                   element("div", detail, class_=classe), class_="euralis-kpi")
    return marquer(w.HTML(html), html)


def table_html(df: pd.DataFrame, max_lignes: int = 200, colonnes: dict[str, str] | None = None) -> w.HTML:
    """A compact HTML table (first ``max_lignes`` rows), every cell formatted for people, French headers."""
    entetes = {**COLONNES, **(colonnes or {})}
    extrait = df.head(max_lignes)
    cellules = formatting.tableau(extrait)
    nombres = [pd.api.types.is_numeric_dtype(extrait[c]) and not pd.api.types.is_bool_dtype(extrait[c])
               for c in extrait.columns]
    tete = element("tr", *(element("th", str(entetes.get(c, c))) for c in extrait.columns))
    lignes = (element("tr", *(element("td", v, class_="nombre" if n else "texte")
                              for v, n in zip(row, nombres, strict=True)))
              for row in cellules.itertuples(index=False))
    corps = element("table", element("thead", tete), element("tbody", *lignes), class_="euralis")
    suite = (element("div", f"{len(df)} lignes, {max_lignes} affichées", class_="euralis-source")
             if len(df) > max_lignes else Markup())
    # In the printed report: the same rows, not clipped by the scrolling box.
    return marquer(w.HTML(element("div", corps, style="max-height:420px; overflow:auto") + suite), corps + suite)


# Where the tables of the page being built come from (page, filters, user): printed on their Excel and PDF
# exports. One kernel serves one page to one user; Page.refresh sets it before building.
_CONTEXTE_EXPORT: dict[str, str] = {}


def contexte_export(page: str, filtres: Filters | None, utilisateur: Utilisateur | None,
                    noms_gaveurs: Sequence[str] | None = None) -> dict[str, str]:
    """What an export says about its table: the page, the sites, the period, the gaveurs chosen (their
    ``noms_gaveurs`` when given, else their numbers) and the user."""
    contexte = {"Page": page}
    if filtres is not None:
        contexte["Sites"] = ", ".join(filtres.sites)
        contexte["Période"] = f"du {formatting.jour(filtres.debut)} au {formatting.jour(filtres.fin)}"
        if filtres.gaveurs:
            contexte["Gaveurs"] = ", ".join(noms_gaveurs or [str(g) for g in filtres.gaveurs])
    if utilisateur is not None:
        contexte["Utilisateur"] = f"{utilisateur.login} ({utilisateur.role})"
    return contexte


def export_links(df: pd.DataFrame, nom: str, colonnes: dict[str, str] | None = None) -> w.HBox:
    """A CSV download link (embedded as a data URI) and Excel and PDF files built only when asked for; ``nom``
    (which may hold a gaveur's code) becomes a safe file name. Excel and PDF carry the page's context
    (:func:`contexte_export`) and the time they are made."""
    df = df.rename(columns={**COLONNES, **(colonnes or {})})
    contexte = dict(_CONTEXTE_EXPORT)
    fichier = safe_filename(nom)
    lien = w.HTML(download_link(f"{fichier}.csv", "text/csv", exports.csv_bytes(df), "⬇ CSV") + literal(" &nbsp;"))
    excel = _a_la_demande("Excel", "file-excel", f"{fichier}.xlsx",
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          lambda: exports.excel_bytes(df, contexte))
    pdf = _a_la_demande("PDF", "file-pdf", f"{fichier}.pdf", "application/pdf",
                        lambda: exports.pdf_bytes(df, nom.replace("_", " ").capitalize(), contexte=contexte))
    return w.HBox([lien, *excel, *pdf], layout=w.Layout(align_items="center"))


def _a_la_demande(format_: str, icone: str, fichier: str | Callable[[], str], mime: str,
                  fabriquer: Callable[[], bytes], une_fois: bool = True,
                  aide: str | None = None) -> list[w.Widget]:
    """A button that builds a file (Excel, PDF) when clicked, then shows its download link: in its place when
    ``une_fois``, else next to it (a click builds the file again, of what is shown then). ``fichier`` is the
    file's name, or a function giving it when the file is built."""
    bouton = w.Button(description=format_, icon=icone, tooltip=aide or f"Préparer le fichier {format_} du tableau",
                      layout=w.Layout(width="auto"))
    lien = w.HTML()

    def preparer(_b: w.Button) -> None:
        bouton.disabled = True
        nom = fichier() if callable(fichier) else fichier
        lien.value = element("span", f"{format_} en préparation…", class_="euralis-source")
        try:
            contenu = fabriquer()
        except Exception as exc:  # noqa: BLE001 — a French message, the traceback in the server log
            log.warning("%s export %s failed", format_, nom, exc_info=True)
            lien.value = message_html(f"Le fichier {format_} n'a pas pu être préparé : {exc}", "erreur")
            bouton.disabled = False
            return
        lien.value = download_link(nom, mime, contenu, f"⬇ {format_}") + literal(" &nbsp;")
        if une_fois:
            bouton.layout.display = "none"
        else:
            bouton.disabled = False

    bouton.on_click(preparer)
    return [bouton, lien]


class FigureWidget(go.FigureWidget):
    """plotly's figure widget loading its JavaScript from the server (cached) instead of carrying it."""

    _esm = plotly_bundle.ESM


def figure(fig: go.Figure) -> go.FigureWidget:
    """An interactive plotly widget (zoom, pan, tooltips, click events), French numbers and dates, as wide as its
    column at any window width (no fixed width; its module redraws it when the column's width changes and wraps its
    title to it); WebGL scatters drawn in SVG (the served plotly.js has cartesian traces only,
    :mod:`euralis_lib.presentation.plotly_bundle`)."""
    fig = plots.francais(plotly_bundle.svg_traces(fig))
    fig.update_layout(autosize=True, width=None)
    return FigureWidget(fig)


def differe(construire: Callable[[], list[w.Widget]], attente: str = "Chargement du graphique…") -> w.VBox:
    """A box saying ``attente`` now, filled with what ``construire`` returns right after the running cell: in a
    kernel the page (its KPIs) reaches the browser first, the slower part follows. An error becomes a French
    message in the box. Without a running event loop (scripts, tests) it is filled at once."""
    boite = w.VBox([w.HTML(element("div", attente, class_="euralis-message info euralis-differe"))])

    def remplir() -> None:
        try:
            boite.children = construire()
        except Exception as exc:  # noqa: BLE001 — users get a French message, the log gets the traceback
            log.warning("deferred content: %s", exc, exc_info=not isinstance(exc, EuralisError | ValueError))
            boite.children = [message(french_error(exc), "erreur")]

    try:
        asyncio.get_running_loop().call_soon(remplir)
    except RuntimeError:
        remplir()
    return boite


# The snapshot (:func:`instantane_html`) arrives inside Voilà's cells, hidden until its JavaScript
# application has loaded: moved to the top of the page at once (the loading spinner hidden), it is
# removed when the live page's navigation bar is drawn by the widgets.
_RELEVE = literal(
    "<script>(() => { const s = document.currentScript.previousElementSibling;"
    " const cellules = document.getElementById('rendered_cells');"
    " if (cellules && cellules.style.display === 'none' && cellules.contains(s)) {"
    " const attente = document.getElementById('loading'); if (attente) attente.style.display = 'none';"
    " document.body.insertBefore(s, attente || cellules); }"
    " const o = new MutationObserver(() => { if ([...document.querySelectorAll('.euralis-nav')]"
    ".some(e => !s.contains(e))) { s.remove(); o.disconnect(); } });"
    " o.observe(document.body, {childList: true, subtree: true}); })();</script>")


def instantane(widget: w.Widget) -> Markup:
    """HTML of what ``widget`` shows now, controls left out: the navigation bar, KPI cards, tables and
    messages as they are; a filter bar as one line stating its values; hidden widgets, buttons and
    figures omitted. An HTML widget's value not built by :mod:`euralis_lib.presentation.markup` is shown escaped."""
    if not isinstance(getattr(widget, "layout", None), w.Layout) or widget.layout.display == "none":
        return Markup()  # a figure's ``layout`` is plotly's
    if isinstance(widget, FilterBar):
        try:
            f = widget.valeurs()
        except EmptySelectionError:
            return Markup()
        comparer = (f" · Comparer : {COMPARAISONS[f.comparaison.mode]}" if f.comparaison.mode != "aucune" else "")
        return element("div", f"Période du {formatting.jour(f.debut)} au {formatting.jour(f.fin)} · "
                              f"Sites : {', '.join(f.sites)}{comparer}", class_="euralis-filtres-instantane")
    if isinstance(widget, w.HTML):
        return join([widget.value])
    if isinstance(widget, w.Box):
        sens = "row" if isinstance(widget, w.HBox) else "column"
        return element("div", *(instantane(c) for c in widget.children),
                       style=f"display:flex; flex-direction:{sens}; flex-wrap:wrap")
    return Markup()


def instantane_html(widget: w.Widget) -> Markup:
    """The page's snapshot for Voilà's first HTML bytes: its figures are visible before the browser has
    loaded the widget code and connected to the kernel (about half of a view's time); a script removes it
    when the live page (same figures, with its controls) is drawn."""
    return element("div", instantane(widget), class_="euralis-instantane", style="padding:6px 12px") + _RELEVE


def prechauffer() -> None:
    """In a preheated kernel, before its request: pay once what every page's first figure costs (plotly's
    lazy imports and validators, ~0.3 s) and the engine's creation, then move every object made so far out
    of the garbage collector's reach (``gc.freeze``) so that later collections stay short."""
    jours = pd.DataFrame({"date": pd.to_datetime(["2026-01-05", "2026-01-12"]), "site_code": ["LL", "LL"],
                          "production_kg": [1.0, 2.0]})
    figure(plots.production(jours))
    with contextlib.suppress(Exception):  # no database configured: the page itself will say so
        db.get_engine()
    gc.collect()
    gc.freeze()


def require_sites(filtres: Filters) -> None:
    """Raise :class:`EmptySelectionError` when the filter selects no site."""
    if not filtres.sites:
        raise EmptySelectionError("Aucun site sélectionné : choisissez au moins un site dans le filtre.")


class ComparisonControl(w.HBox):
    """The « Comparer » list of a filter bar with the modes a page offers (``defaut`` chosen first when offered),
    and what the chosen mode needs: two sites (« Site contre site ») or one gaveur (the gaveur modes, the first
    of the list at first), shown only for that mode."""

    def __init__(self, modes: Sequence[str], sites: Sequence[str], gaveurs: pd.DataFrame | None = None,
                 defaut: str = "aucune") -> None:
        self.mode = w.Dropdown(options=[(COMPARAISONS[m], m) for m in ("aucune", *modes)],
                               value=defaut if defaut in modes else "aucune",
                               description="Comparer", layout=w.Layout(width="390px"))
        self.mode.add_class("euralis-comparer")
        self.site = w.Dropdown(options=list(sites), description="Site", layout=w.Layout(width="160px"))
        self.autre_site = w.Dropdown(options=list(sites), value=sites[1] if len(sites) > 1 else sites[0],
                                     description="contre", layout=w.Layout(width="160px"))
        options = ([(f"{r.code} – {r.nom} ({r.site_code})", int(r.gaveur_id)) for r in gaveurs.itertuples()]
                   if gaveurs is not None else [])
        self.gaveur = w.Dropdown(options=options, description="Gaveur", layout=w.Layout(width="360px"))
        self.mode.observe(lambda _c: self._montrer(), names="value")
        super().__init__([self.mode, self.site, self.autre_site, self.gaveur])
        self._montrer()

    def _montrer(self) -> None:
        mode = self.mode.value
        for champ, visible in ((self.site, mode == "site"), (self.autre_site, mode == "site"),
                               (self.gaveur, mode in MODES_GAVEUR)):
            champ.layout.display = None if visible else "none"

    def champs(self) -> list[w.Dropdown]:
        """The lists whose change recomputes the page."""
        return [self.mode, self.site, self.autre_site, self.gaveur]

    def valeur(self) -> Comparaison:
        """The comparison chosen."""
        mode = self.mode.value
        if mode == "site":
            return Comparaison(mode, site=self.site.value, autre_site=self.autre_site.value)
        if mode in MODES_GAVEUR:
            return Comparaison(mode, gaveur_id=self.gaveur.value)
        return Comparaison(mode)


class FilterBar(w.VBox):
    """Period date pickers, site multi-select, optional gaveur multi-select, a refresh button and, on pages
    offering comparisons, the « Comparer » control."""

    def __init__(self, debut: date, fin: date, sites: Sequence[str], gaveurs: pd.DataFrame | None = None,
                 comparaisons: Sequence[str] = (), gaveurs_compares: pd.DataFrame | None = None,
                 actions: Sequence[w.Widget] = (), comparaison_defaut: str = "aucune") -> None:
        self.debut = w.DatePicker(description="Du", value=debut, layout=w.Layout(width="210px"))
        self.fin = w.DatePicker(description="Au", value=fin, layout=w.Layout(width="210px"))
        self.sites = w.SelectMultiple(options=list(sites), value=list(sites), description="Sites",
                                      rows=min(len(sites), 4), layout=w.Layout(width="200px"))
        self.sites.add_class("euralis-filtre-sites")
        self.gaveurs: w.SelectMultiple | None = None
        self.comparaison = (ComparisonControl(comparaisons, sites, gaveurs_compares, comparaison_defaut)
                            if comparaisons else None)
        champs: list[w.Widget] = [self.debut, self.fin, self.sites]
        if gaveurs is not None:
            options = [(f"{r.code} – {r.nom} ({r.site_code})", int(r.gaveur_id)) for r in gaveurs.itertuples()]
            self.gaveurs = w.SelectMultiple(options=options, value=[], description="Gaveurs", rows=4,
                                            layout=w.Layout(width="330px"))
            champs.append(self.gaveurs)
        self.actualiser = w.Button(description="Actualiser", icon="refresh")
        self.actualiser.add_class("euralis-actualiser")
        champs += [self.actualiser, *actions]
        aide = ([w.HTML(element("span", "Gaveurs : aucune sélection = tous.", class_="euralis-source"))]
                if gaveurs is not None else [])
        comparer = [self.comparaison] if self.comparaison is not None else []
        super().__init__([w.HBox(champs), *comparer, *aide])

    def valeurs(self) -> Filters:
        """The current filter values; raises EmptySelectionError on an empty or inverted period."""
        if self.debut.value is None or self.fin.value is None:
            raise EmptySelectionError("Période incomplète : choisissez une date de début et une date de fin.")
        if self.debut.value > self.fin.value:
            raise EmptySelectionError("Période vide : la date de début est après la date de fin.")
        gaveurs = list(self.gaveurs.value) if self.gaveurs is not None and self.gaveurs.value else None
        comparaison = self.comparaison.valeur() if self.comparaison is not None else Comparaison()
        return Filters(self.debut.value, self.fin.value, list(self.sites.value), gaveurs, comparaison)

    def noms_gaveurs(self) -> list[str]:
        """The chosen gaveurs as the list shows them (« code – nom (site) »); empty when none is chosen."""
        if self.gaveurs is None:
            return []
        noms = dict((v, libelle) for libelle, v in self.gaveurs.options)
        return [noms[g] for g in self.gaveurs.value]

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever a filter changes or « Actualiser » is clicked."""
        comparer = self.comparaison.champs() if self.comparaison is not None else []
        for champ in (self.debut, self.fin, self.sites, self.gaveurs, *comparer):
            if champ is not None:
                champ.observe(lambda _change: callback(), names="value")
        self.actualiser.on_click(lambda _b: callback())


@dataclass(frozen=True)
class FilterSpec:
    """A page's filter bar: default period length (or a function giving the period), gaveur choice, the
    comparisons offered (keys of :data:`COMPARAISONS`; « Site contre site » is not offered to a gaveur, who
    reads only his site) and the one shown when the page opens."""

    periode_jours: int = 90
    avec_gaveurs: bool = False
    periode_defaut: Callable[[Engine], tuple[date, date] | None] | None = None
    comparaisons: tuple[str, ...] = ()
    comparaison_defaut: str = "aucune"


@dataclass
class Contexte:
    """What a page's ``build`` receives: the engine, the filter values (None without a filter bar) and a way
    to recompute the page (after a button changed the data)."""

    engine: Engine
    filtres: Filters | None
    rafraichir: Callable[[], None]
    utilisateur: Utilisateur | None = None

    @property
    def est_admin(self) -> bool:
        """True for an admin, or when there is no login (one person on this machine)."""
        return self.utilisateur is None or self.utilisateur.est_admin

    def require_filters(self) -> Filters:
        """The filter values, with at least one site selected."""
        if self.filtres is None:
            raise EuralisError("cette page n'a pas de filtres")
        require_sites(self.filtres)
        return self.filtres


def run_action(etat: w.HTML, ctx: Contexte, faire: Callable[[], object], reussite: str) -> None:
    """What a page's write button does: ``faire()`` (one transaction), then ``reussite`` in ``etat`` and the page
    recomputed; a refusal (PostgreSQL's, or a checked error) shown in French, nothing half-written."""
    try:
        faire()
    except Exception as exc:  # noqa: BLE001 — shown in French, nothing half-written (one transaction)
        etat.value = message(french_error(exc), "erreur").value
        return
    etat.value = message(reussite, "info").value
    ctx.rafraichir()


class Page:
    """A dashboard page: navigation bar, filters (or an « Actualiser » button), loading state, guarded content."""

    def __init__(self, spec: PageSpec, build: Callable[[Contexte], list[w.Widget]], filtrage: FilterSpec | None,
                 engine: Engine | None = None, utilisateur: Utilisateur | None = None) -> None:
        self.spec, self.build, self.filtrage, self.engine = spec, build, filtrage, engine
        self.utilisateur = utilisateur
        self.chargement = w.HTML(message_html("Chargement…", "info euralis-chargement"))
        self.contenu = w.VBox([], layout=w.Layout(width="100%"))
        self.contenu.add_class("euralis-contenu")
        self.filtres: FilterBar | None = None
        # « Rapport PDF de cette page », next to « Actualiser »: a click prints what the page shows then.
        rapport = (_a_la_demande(page_report.LIBELLE, "file-pdf", self._nom_rapport, "application/pdf",
                                 self.rapport_pdf, une_fois=False,
                                 aide="Imprimer en PDF ce que la page affiche, avec ses filtres")
                   if spec.rapport else [])
        for r in rapport:
            r.add_class("euralis-rapport-page")
        barre: list[w.Widget] = []
        if filtrage is None:
            actualiser = w.Button(description="Actualiser", icon="refresh")
            actualiser.add_class("euralis-actualiser")
            actualiser.on_click(lambda _b: self.refresh())
            barre = [w.HBox([actualiser, *rapport], layout=w.Layout(align_items="center"))]
        self.widget = w.VBox([nav_bar(spec.slug, utilisateur), *barre, self.chargement, self.contenu])
        self.widget.add_class("euralis-page")  # rows wrap and charts follow the width on a phone (_CSS)
        try:
            self.engine = self.engine or db.get_engine()
            if filtrage is not None:
                periode = filtrage.periode_defaut(self.engine) if filtrage.periode_defaut else None
                debut, fin = periode or queries.default_period(self.engine, days=filtrage.periode_jours)
                modes = [m for m in filtrage.comparaisons
                         if not (m == "site" and utilisateur is not None and utilisateur.role == "gaveur")]
                compare_gaveurs = any(m in MODES_GAVEUR for m in modes)
                gaveurs = (queries.gaveur_options(self.engine) if filtrage.avec_gaveurs or compare_gaveurs
                           else None)
                self.filtres = FilterBar(debut, fin, queries.site_codes(self.engine),
                                         gaveurs=gaveurs if filtrage.avec_gaveurs else None, comparaisons=modes,
                                         gaveurs_compares=gaveurs if compare_gaveurs else None, actions=rapport,
                                         comparaison_defaut=filtrage.comparaison_defaut)
                self.filtres.on_change(self.refresh)
                self.widget.children = (self.widget.children[0], self.filtres, self.chargement, self.contenu)
        except Exception as exc:  # noqa: BLE001 — users get a French message, the log gets the traceback
            self._erreur(exc)
            return
        self.refresh()

    @property
    def slug(self) -> str:
        """The page's slug in the registry."""
        return self.spec.slug

    def contexte(self) -> dict[str, str]:
        """The page, its current filters (gaveurs by name) and its user, as exports and its report print them."""
        try:
            filtres = self.filtres.valeurs() if self.filtres is not None else None
        except EmptySelectionError:
            filtres = None
        noms = self.filtres.noms_gaveurs() if self.filtres is not None else None
        return contexte_export(self.spec.titre, filtres, self.utilisateur, noms)

    def rapport_pdf(self, genere_le: datetime | None = None) -> bytes:
        """« Rapport PDF de cette page »: the page's title, filters, user and time, then its KPIs, charts and
        tables as shown now (:mod:`.page_report`); nothing is read again from the database."""
        genere_le = genere_le or datetime.now(ZoneInfo(formatting.FUSEAU))
        return page_report.pdf_bytes(self.spec.titre, self.contexte(), self.contenu, genere_le)

    def _nom_rapport(self) -> str:
        return page_report.nom_fichier(self.slug, datetime.now(ZoneInfo(formatting.FUSEAU)))

    def _erreur(self, exc: BaseException) -> None:
        log.warning("page %s: %s", self.slug, exc, exc_info=not isinstance(exc, EuralisError | ValueError))
        self.chargement.layout.display = "none"
        self.contenu.children = [message(french_error(exc), "erreur")]

    def refresh(self) -> None:
        """Recompute the content for the current filters (loading state meanwhile)."""
        self.chargement.layout.display = None
        try:
            if self.engine is None:
                raise DatabaseUnavailableError("no engine")
            filtres = self.filtres.valeurs() if self.filtres is not None else None
            _CONTEXTE_EXPORT.clear()
            _CONTEXTE_EXPORT.update(self.contexte())
            enfants = self.build(Contexte(self.engine, filtres, self.refresh, self.utilisateur))
        except Exception as exc:  # noqa: BLE001
            self._erreur(exc)
            return
        self.contenu.children = enfants
        self.chargement.layout.display = "none"
