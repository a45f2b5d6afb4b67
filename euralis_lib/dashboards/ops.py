"""Ops: the scheduled jobs and their next runs, the last backup and its verification, recent runs with durations
and reports, failures."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as w
from sqlalchemy.engine import Engine

from euralis_lib import config
from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte
from euralis_lib.jobs import results
from euralis_lib.jobs.schedule import load_schedule
from euralis_lib.operations import ops
from euralis_lib.presentation import formatting, plots

FILTERS = None
COLONNES = {"cron": "Cron", "prochain_run": "Prochain run", "dernier_statut": "Dernier statut",
            "dernier_run": "Dernier run"}


def _statuts(df, colonne: str = "statut"):
    return df.assign(**{colonne: df[colonne].map(formatting.statut_run)})


def sauvegardes(engine: Engine, dossier: Path | None = None) -> list[w.Widget]:
    """The newest backup and its verification, then the backups kept (read from the backup folder)."""
    dossier = dossier or config.backup_dir()
    lues = results.sauvegardes(engine, dossier=dossier)
    titre = common.titre("Sauvegardes")
    if lues.data.empty:
        return [titre, common.message(f"Aucune sauvegarde dans {dossier} : le job « backup » du planificateur en fait "
                                      "une chaque nuit (ou « python -m euralis_lib backup --verify »).",
                                      "avertissement")]
    d = lues.data.iloc[0]
    le = "" if formatting.manquant(d["Vérifiée le"]) else f" le {formatting.horodatage(d['Vérifiée le'])}"
    texte = (f"Dernière sauvegarde : {formatting.horodatage(d['Date'])} ({d['Sauvegarde']}, "
             f"{formatting.nombre(d['Taille (Mo)'], 1)} Mo, schéma {d['Schéma']}) — vérification : "
             f"{d['Vérification']}{le}.")
    genre = ("info" if d["Vérification"] == "réussie" else
             "avertissement" if d["Vérification"] == "non vérifiée" else "erreur")
    job = [common.source(f"job backup : {lues.source()}")] if lues.run is not None else []
    return [titre, common.message(texte, genre), *job, common.table_html(lues.data)]


def build(ctx: Contexte) -> list[w.Widget]:
    """Schedule with next runs, failures of the last 7 days, recent runs and their durations."""
    engine = ctx.engine
    recents = ops.recent_runs(engine, limit=200)  # first: it marks the runs whose process is gone
    enfants: list[w.Widget] = []
    try:
        schedule = load_schedule()
    except Exception as exc:  # noqa: BLE001 — an invalid schedule is shown, the rest of the page still works
        enfants.append(common.message(f"Fichier de planification invalide : {exc}", "erreur"))
    else:
        plan = _statuts(ops.schedule_table(schedule, engine, schedule.now()), "dernier_statut")
        enfants += [common.titre(f"Planification (heure de {schedule.timezone})"),
                    common.table_html(plan, colonnes=COLONNES)]
    enfants += sauvegardes(engine)
    echecs = ops.failures(engine, days=7)
    enfants.append(common.titre("Échecs des 7 derniers jours"))
    if echecs.empty:
        enfants.append(common.message("Aucun échec ni run abandonné depuis 7 jours."))
    else:
        enfants.append(common.table_html(_statuts(echecs)))
    if recents.empty:
        enfants.append(common.message("Aucun run enregistré : lancez « make pipeline » ou « make schedule »."))
        return enfants
    enfants += [common.figure(plots.durees_runs(recents[recents["statut"] != "skipped"])),
                common.titre("Runs récents"),
                common.table_html(_statuts(recents.drop(columns=["fin"])), max_lignes=100)]
    return enfants
