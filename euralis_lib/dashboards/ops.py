"""Ops: the scheduled jobs and their next runs, the last backup and its verification, recent runs with durations,
failures."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as w
import pandas as pd
import plotly.express as px
from IPython.display import display
from sqlalchemy.engine import Engine

from euralis_lib import backup, config, db, exports, ops
from euralis_lib.dashboards import common

STATUTS = {"success": "réussi", "failed": "échec", "abandoned": "abandonné", "skipped": "ignoré (déjà en cours)",
           "running": "en cours"}
COLONNES = {"job": "Job", "cron": "Cron", "prochain_run": "Prochain run", "dernier_statut": "Dernier statut",
            "dernier_run": "Dernier run", "duree_s": "Durée (s)", "run_id": "Run n°", "declencheur": "Déclencheur",
            "statut": "Statut", "debut": "Début", "erreur": "Erreur", "rapport_path": "Rapport", "hote": "Machine"}


def _local(df: pd.DataFrame, tz: str) -> pd.DataFrame:
    out = df.copy()
    for col in ("debut", "fin"):
        if col in out:
            out[col] = pd.to_datetime(out[col], utc=True).dt.tz_convert(tz).dt.strftime("%d/%m/%Y %H:%M:%S")
    if "statut" in out:
        out["statut"] = out["statut"].map(STATUTS).fillna(out["statut"])
    return out


def sauvegardes(tz: str, dossier: Path | None = None) -> list[w.Widget]:
    """The newest backup and its verification, then the backups kept (read from the backup folder)."""
    dossier = dossier or config.backup_dir()
    table = backup.backups_table(dossier)
    titre = w.HTML("<h3>Sauvegardes</h3>")
    if table.empty:
        return [titre, common.message(f"Aucune sauvegarde dans {dossier} : le job « backup » du planificateur en fait "
                                      "une chaque nuit (ou « python -m euralis_lib backup --verify »).",
                                      "avertissement")]
    for col in ("Date", "Vérifiée le"):
        table[col] = pd.to_datetime(table[col], utc=True).dt.tz_convert(tz).dt.strftime("%d/%m/%Y %H:%M")
    d = table.iloc[0]
    verification = d["Vérification"] + (f" le {d['Vérifiée le']}" if isinstance(d["Vérifiée le"], str) else "")
    texte = (f"Dernière sauvegarde : {d['Date']} ({d['Sauvegarde']}, {exports.format_nombre(d['Taille (Mo)'], 1)} Mo, "
             f"schéma {d['Schéma']}) — vérification : {verification}.")
    genre = ("info" if d["Vérification"] == "réussie" else
             "avertissement" if d["Vérification"] == "non vérifiée" else "erreur")
    return [titre, common.message(texte, genre), common.table_html(table)]


def build(engine: Engine) -> list[w.Widget]:
    """Schedule with next runs, failures of the last 7 days, recent runs and their durations."""
    from scheduler.config import load_schedule

    enfants: list[w.Widget] = []
    try:
        schedule = load_schedule()
    except Exception as exc:  # noqa: BLE001 — an invalid schedule is shown, the rest of the page still works
        enfants.append(common.message(f"Fichier de planification invalide : {exc}", "erreur"))
        tz = "Europe/Paris"
    else:
        tz = schedule.timezone
        plan = ops.schedule_table(schedule, engine, schedule.now())
        plan["dernier_statut"] = plan["dernier_statut"].map(STATUTS).fillna(plan["dernier_statut"])
        enfants += [w.HTML(f"<h3>Planification ({schedule.timezone})</h3>"),
                    common.table_html(plan.rename(columns=COLONNES))]
    enfants += sauvegardes(tz)
    echecs = ops.failures(engine, days=7)
    enfants.append(w.HTML("<h3>Échecs des 7 derniers jours</h3>"))
    if echecs.empty:
        enfants.append(common.message("Aucun échec ni run abandonné depuis 7 jours."))
    else:
        enfants.append(common.table_html(_local(echecs, tz).rename(columns=COLONNES)))
    recents = ops.recent_runs(engine, limit=200)
    if recents.empty:
        enfants.append(common.message("Aucun run enregistré : lancez « make pipeline » ou « make schedule »."))
        return enfants
    faits = recents[recents["statut"] != "skipped"].assign(
        debut_local=lambda d: pd.to_datetime(d["debut"], utc=True).dt.tz_convert(tz).dt.tz_localize(None))
    fig = px.scatter(faits, x="debut_local", y="duree_s", color="job", symbol="statut", hover_data=["run_id", "erreur"],
                     labels={"debut_local": "Début", "duree_s": "Durée (s)", "job": "Job", "statut": "Statut"})
    fig.update_layout(title="Durée des runs", template="plotly_white", height=360)
    enfants += [common.figure(fig), w.HTML("<h3>Runs récents</h3>"),
                common.table_html(_local(recents.drop(columns=["fin"]), tz).rename(columns=COLONNES), max_lignes=100)]
    return enfants


def page(engine: Engine | None = None) -> w.VBox:
    """Build and display the Ops page (refresh button; French message when the database is down)."""
    contenu = w.VBox([w.HTML('<div class="euralis-message info euralis-chargement">Chargement…</div>')])
    contenu.add_class("euralis-contenu")
    actualiser = w.Button(description="Actualiser", icon="refresh")
    actualiser.add_class("euralis-actualiser")

    def calculer(_b=None) -> None:
        try:
            contenu.children = build(engine or db.get_engine())
        except Exception as exc:  # noqa: BLE001 — users get a French message, never a traceback
            contenu.children = [common.message(common.french_error(exc), "erreur")]

    actualiser.on_click(calculer)
    widget = w.VBox([common.nav_bar("ops"), actualiser, contenu])
    display(widget)
    calculer()
    return widget
