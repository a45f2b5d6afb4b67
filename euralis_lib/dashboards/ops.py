"""Ops: the scheduled jobs and their next runs, the last backup and its verification, recent runs with durations,
stages and reports, failures; an admin publishes an exploratory run or goes back to the previous published one."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as w
import pandas as pd
from sqlalchemy.engine import Engine

from euralis_lib import config, jobs
from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte
from euralis_lib.jobs import results, runs
from euralis_lib.jobs.schedule import load_schedule
from euralis_lib.operations import ops
from euralis_lib.presentation import formatting, plots

FILTERS = None
COLONNES = {"cron": "Cron", "prochain_run": "Prochain run", "dernier_statut": "Dernier statut",
            "dernier_run": "Dernier run"}


def _statuts(df, colonne: str = "statut"):
    return df.assign(**{colonne: df[colonne].map(formatting.statut_run)})


def parametres_choisis(job: str, parametres: dict) -> str:
    """A run's parameters that differ from its notebook's defaults (« par défaut » when none), e.g. « sites = LL »."""
    declares = jobs.JOBS[job].parametres() if job in jobs.JOBS else {}
    autres = {k: v for k, v in (parametres or {}).items() if k not in declares or declares[k].defaut != v}
    return ", ".join(f"{k} = {', '.join(map(str, v)) if isinstance(v, list) else v}"
                     for k, v in autres.items()) or "par défaut"


def publication(ctx: Contexte, recents: pd.DataFrame) -> list[w.Widget]:
    """Which run each page shows, and for an admin: publish an exploratory (or retired) successful run, or go
    back to the job's previous published run. PostgreSQL refuses both to anyone else (sql/202)."""
    enfants: list[w.Widget] = [common.titre("Publication des runs"), common.message(
        "Les pages montrent le dernier run publié de chaque job : planifié, lancé par le pipeline, ou promu par "
        "un administrateur. Un run lancé à la main (JupyterLab, papermill, autres paramètres) est exploratoire : "
        "son rapport reste consultable ci-dessous, les pages ne le montrent pas.")]
    if not ctx.est_admin:
        return [*enfants, common.message("Seul un administrateur publie un run ou revient au run publié précédent.")]
    reussis = recents[recents["statut"] == "success"]
    candidats = reussis[reussis["etape"].isin(["exploratoire", "retire"])]
    affiches = sorted(set(reussis.loc[reussis["etape"] == "affiche", "job"]))
    choix_run = w.Dropdown(options=[(f"run n° {r.run_id} — {r.job} ({formatting.etape_run(r.etape)}, "
                                     f"{parametres_choisis(r.job, r.parametres)})", int(r.run_id))
                                    for r in candidats.itertuples()], description="Run", layout=w.Layout(width="60%"))
    choix_job = w.Dropdown(options=affiches, description="Job")
    publier = w.Button(description="Publier ce run", icon="check", disabled=candidats.empty)
    revenir = w.Button(description="Revenir au run publié précédent", icon="undo", disabled=not affiches,
                       layout=w.Layout(width="300px"))
    publier.add_class("euralis-publier-run")
    revenir.add_class("euralis-revenir-run")
    etat = w.HTML()
    publier.on_click(lambda _b: common.run_action(etat, ctx, lambda: runs.promote(ctx.engine, choix_run.value),
                                                  f"Run n° {choix_run.value} publié : les pages le montrent."))
    revenir.on_click(lambda _b: common.run_action(
        etat, ctx, lambda: runs.rollback(ctx.engine, choix_job.value),
        f"Job {choix_job.value} : les pages montrent de nouveau le run publié précédent."))
    return [*enfants, w.HBox([choix_run, publier]), w.HBox([choix_job, revenir]), etat]


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
    tableau = _statuts(recents.drop(columns=["fin"])).assign(
        etape=recents["etape"].where(recents["statut"] == "success").map(formatting.etape_run),
        parametres=[parametres_choisis(j, p) for j, p in zip(recents["job"], recents["parametres"], strict=True)])
    enfants += [common.figure(plots.durees_runs(recents[recents["statut"] != "skipped"])),
                *publication(ctx, recents), common.titre("Runs récents"), common.table_html(tableau, max_lignes=100)]
    return enfants
