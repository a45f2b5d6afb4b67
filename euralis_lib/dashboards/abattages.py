"""Abattages: the slaughter plan per site (calendar), capacity use, Hungarian vs greedy cost."""

from __future__ import annotations

from datetime import date

import ipywidgets as w
import pandas as pd
from sqlalchemy.engine import Engine

from euralis_lib import jobs
from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte, Filters
from euralis_lib.database import queries
from euralis_lib.jobs import results
from euralis_lib.jobs.runs import JobBusyError
from euralis_lib.presentation import plots
from euralis_lib.presentation.markup import element

METHODES = {"hongrois": "Algorithme hongrois", "glouton": "Glouton"}


def plan_filtre(plan: pd.DataFrame, filtres: Filters) -> pd.DataFrame:
    """Plan rows of the selected slaughterhouses within the period (unplaced lots kept)."""
    jours = pd.to_datetime(plan["date_abattage"])
    dans = jours.isna() | ((jours.dt.date >= filtres.debut) & (jours.dt.date <= filtres.fin))
    return plan[dans & (plan["site_code"].isin(filtres.sites) | plan["site_code"].isna())]


def utilisation(plan: pd.DataFrame, capacites: pd.DataFrame, methode: str = "hongrois") -> pd.DataFrame:
    """Ducks planned per slaughterhouse and day, and the share of its daily capacity (%)."""
    df = plan[(plan["methode"] == methode) & plan["place"]]
    df = df.groupby(["site_code", "date_abattage"], as_index=False)["nb_canards"].sum()
    df = df.merge(capacites[["site_code", "capacite_abattage_jour"]], on="site_code")
    df["utilisation_pct"] = (100 * df["nb_canards"] / df["capacite_abattage_jour"]).round(1)
    return df


def couts(plan: pd.DataFrame) -> pd.DataFrame:
    """Total cost, lots fully placed and lots with a load not placed, per method."""
    par_lot = plan.groupby(["methode", "lot_id"]).agg(cout=("cout", "sum"), place=("place", "all")).reset_index()
    res = par_lot.groupby("methode").agg(cout_total=("cout", "sum"), lots_places=("place", "sum"),
                                         lots_non_places=("place", lambda p: int((~p.astype(bool)).sum())))
    res = res.reset_index()
    res["methode"] = res["methode"].map(METHODES).fillna(res["methode"])
    return res.rename(columns={"methode": "Méthode", "cout_total": "Coût total (€)", "lots_places": "Lots placés",
                               "lots_non_places": "Lots non placés"})


def periode_du_plan(engine: Engine) -> tuple[date, date] | None:
    """The period covered by the latest plan (its slaughter days), or None without a plan."""
    res = results.planning(engine)
    jours = pd.to_datetime(res.data["date_abattage"]).dropna() if not res.empty else pd.Series(dtype=object)
    if jours.empty:
        return None
    return jours.min().date(), jours.max().date()


def calculer_plan(engine: Engine, filtres: Filters) -> dict:
    """What « Calculer le plan » does: job ``planning`` for the chosen period and sites, through the job
    registry (its lock taken and the run recorded, like every other way of starting a job). The plan is
    published: the page, for everyone, shows the plan computed last."""
    return jobs.run_job("planning", engine, declencheur="tableau de bord", publier=True,
                        debut=filtres.debut.isoformat(), fin=filtres.fin.isoformat(), sites=list(filtres.sites))


def bouton_calcul(ctx: Contexte) -> w.Widget:
    """A button computing a new plan for the chosen period and sites, then recomputing the page."""
    bouton = w.Button(description="Calculer le plan sur cette période", icon="calculator",
                      layout=w.Layout(width="300px"))
    bouton.add_class("euralis-calcul-plan")
    etat = w.HTML()

    def calculer(_b) -> None:
        bouton.disabled = True
        etat.value = element("span", "Calcul du plan en cours…", class_="euralis-source")
        try:
            metriques = calculer_plan(ctx.engine, ctx.require_filters())
        except JobBusyError:
            etat.value = common.message("Un plan est déjà en cours de calcul (par un autre utilisateur ou le "
                                        "planificateur) : réessayez dans un instant.", "erreur").value
            bouton.disabled = False
            return
        except Exception as exc:  # noqa: BLE001 — shown in French, earlier plans stay intact
            etat.value = common.message(common.french_error(exc), "erreur").value
            bouton.disabled = False
            return
        etat.value = element("span", f"Plan calculé (run n° {metriques['run_id']}).", class_="euralis-source")
        ctx.rafraichir()

    bouton.on_click(calculer)
    return w.HBox([bouton, etat])


def build(ctx: Contexte) -> list[w.Widget]:
    """Calendar per slaughterhouse, capacity heat map and method comparison."""
    engine, filtres = ctx.engine, ctx.require_filters()
    # Only admins compute plans (the database refuses the run's rows to other roles as well).
    calcul = bouton_calcul(ctx) if ctx.est_admin else w.HTML()
    res = results.planning(engine)
    if res.empty:
        return [calcul, common.message("Aucun plan d'abattage : lancez le job planning ou calculez un plan "
                                       "pour la période choisie.")]
    plan = plan_filtre(res.data, filtres)
    if plan.empty:
        return [calcul, common.source(res.source()),
                common.message("Le dernier plan ne contient aucun abattage sur cette période : changez la période "
                               "ou calculez un plan pour cette période.")]
    enfants: list[w.Widget] = [calcul, common.source(res.source())]
    comp = couts(plan)
    enfants += [common.titre("Hongrois contre glouton"), common.table_html(comp)]
    util = utilisation(plan, queries.sites(engine))
    if not util.empty:
        enfants += [common.figure(plots.planning(plan, "hongrois")), common.figure(plots.calendrier_capacite(util))]
    table = plan[plan["methode"] == "hongrois"].drop(columns=["methode"])
    enfants += [common.table_html(table), common.export_links(table, "plan_abattage")]
    return enfants


FILTERS = common.FilterSpec(periode_jours=30, periode_defaut=periode_du_plan)
