"""Job ``planning``: Hungarian and greedy slaughter plans for the lots ending in a date range.

The optimisation lives in :mod:`euralis_lib.models.planning`; capacities, distances and the
transport price come from the database (``sites``, ``distances_sites``, ``prix_parametres``).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.engine import Connection, Engine

from euralis_lib import queries
from euralis_lib.db import copy_dataframe
from euralis_lib.jobs import base
from euralis_lib.models.planning import JOURS_APRES, JOURS_AVANT, chargements, cost_matrix, greedy, hungarian, slots_for

JOB = "planning"


def run(engine: Engine, *, run_id: int | None, debut: str | None, fin: str | None, sites: list[str] | None,
        cout_jour_canard_eur: float, creneau_canards: int) -> dict:
    """Plan the lots whose fattening ends between ``debut`` (default: last data day) and ``fin``
    (default: 14 days later)."""
    params = base.arguments(locals())
    p = base.perimetre(engine, JOB, sites, debut, fin)
    if creneau_canards <= 0:
        raise base.JobParameterError(f"{JOB}: creneau_canards must be positive, not {creneau_canards}.")
    if cout_jour_canard_eur < 0:
        raise base.JobParameterError(f"{JOB}: cout_jour_canard_eur must be ≥ 0, not {cout_jour_canard_eur}.")
    d0 = p.debut or queries.data_period(engine)[1] or date.today()
    d1 = p.fin or d0 + timedelta(days=14)
    if d1 < d0:
        raise base.JobParameterError(f"{JOB}: inverted period ({d0} > {d1}).")

    def compute():
        prix_km = queries.transport_price(engine, d0)
        if prix_km is None:
            raise base.JobParameterError(f"{JOB}: no 'cout_transport_eur_km' price defined on {d0}: add it to "
                                         "prix_parametres.")
        lots = chargements(queries.lots_to_plan(engine, p.sites, d0, d1), creneau_canards)
        all_sites = queries.sites(engine)
        slots = slots_for(all_sites[all_sites["site_code"].isin(p.sites)], d0 + timedelta(days=1 - JOURS_AVANT),
                          d1 + timedelta(days=1 + JOURS_APRES), creneau_canards)
        cost = cost_matrix(lots, slots, float(cout_jour_canard_eur), prix_km, queries.distances_sites(engine))
        return hungarian(lots, slots, cost), greedy(lots, slots, cost)

    def write(conn: Connection, rid: int, plans) -> dict:
        for plan in plans:
            if not plan.lignes.empty:
                copy_dataframe(conn, "planning_abattages", plan.lignes.assign(run_id=rid, methode=plan.methode),
                               ["run_id", "methode", "lot_id", "chargement", "nb_canards", "site_code",
                                "date_abattage", "cout", "place", "raison"])
        h, g = plans
        return {"debut": d0.isoformat(), "fin": d1.isoformat(), "nb_lots": int(h.lignes["lot_id"].nunique())
                if not h.lignes.empty else 0, "nb_chargements": len(h.lignes),
                "cout_hongrois_eur": round(h.cout, 2), "cout_glouton_eur": round(g.cout, 2),
                "non_places_hongrois": h.non_places, "non_places_glouton": g.non_places}

    return base.execute(engine, JOB, params, run_id, compute, write, lambda _: "scipy linear_sum_assignment")
