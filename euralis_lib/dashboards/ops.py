"""Ops: the scheduled jobs and their next runs, recent runs with durations and reports, failures."""

from __future__ import annotations

import ipywidgets as w

from euralis_lib import formatting, ops, plots
from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte
from euralis_lib.schedule import load_schedule

FILTRES = None
COLONNES = {"cron": "Cron", "prochain_run": "Prochain run", "dernier_statut": "Dernier statut",
            "dernier_run": "Dernier run"}


def _statuts(df, colonne: str = "statut"):
    return df.assign(**{colonne: df[colonne].map(formatting.statut_run)})


def build(ctx: Contexte) -> list[w.Widget]:
    """Schedule with next runs, failures of the last 7 days, recent runs and their durations."""
    engine = ctx.engine
    enfants: list[w.Widget] = []
    try:
        schedule = load_schedule()
    except Exception as exc:  # noqa: BLE001 — an invalid schedule is shown, the rest of the page still works
        enfants.append(common.message(f"Fichier de planification invalide : {exc}", "erreur"))
    else:
        plan = _statuts(ops.schedule_table(schedule, engine, schedule.now()), "dernier_statut")
        enfants += [w.HTML(f"<h3>Planification (heure de {schedule.timezone})</h3>"),
                    common.table_html(plan, colonnes=COLONNES)]
    echecs = ops.failures(engine, days=7)
    enfants.append(w.HTML("<h3>Échecs des 7 derniers jours</h3>"))
    if echecs.empty:
        enfants.append(common.message("Aucun échec ni run abandonné depuis 7 jours."))
    else:
        enfants.append(common.table_html(_statuts(echecs)))
    recents = ops.recent_runs(engine, limit=200)
    if recents.empty:
        enfants.append(common.message("Aucun run enregistré : lancez « make pipeline » ou « make schedule »."))
        return enfants
    enfants += [common.figure(plots.durees_runs(recents[recents["statut"] != "skipped"])),
                w.HTML("<h3>Runs récents</h3>"),
                common.table_html(_statuts(recents.drop(columns=["fin"])), max_lignes=100)]
    return enfants
