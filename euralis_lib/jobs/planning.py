"""Job ``planning``: Hungarian and greedy slaughter plans for the lots ending in a date range.

The optimisation lives in :mod:`euralis_lib.models.planning`; capacities, distances and the
transport price come from the database (``sites``, ``distances_sites``, ``prix_parametres``). The
cost of a day's deviation per duck is, unless given, priced from the fasting loss and the
premier-choix liver price in force (:func:`euralis_lib.models.planning.cout_jour_canard`).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.engine import Connection, Engine

from euralis_lib.database import queries
from euralis_lib.database.db import copy_dataframe
from euralis_lib.jobs import base
from euralis_lib.models.planning import (
    JOURS_APRES,
    JOURS_AVANT,
    chargements,
    cost_matrix,
    cout_jour_canard,
    greedy,
    hungarian,
    slots_for,
)

JOB = "planning"
PRIX_FOIE = "prix_foie_premier_choix_eur_kg"


def run(engine: Engine, *, run_id: int | None, debut: str | None, fin: str | None, sites: list[str] | None,
        cout_jour_canard_eur: float | None, creneau_canards: int) -> dict:
    """Plan the lots whose fattening ends between ``debut`` (default: last data day) and ``fin``
    (default: 14 days later)."""
    params = base.arguments(locals())
    p = base.perimetre(engine, JOB, sites, debut, fin)
    if creneau_canards <= 0:
        raise base.JobParameterError(f"{JOB}: creneau_canards must be positive, not {creneau_canards}.")
    if cout_jour_canard_eur is not None and cout_jour_canard_eur < 0:
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
        cout_jour = cout_jour_canard_eur
        if cout_jour is None:
            prix_foie = queries.price(engine, PRIX_FOIE, d0)
            if prix_foie is None:
                raise base.JobParameterError(f"{JOB}: no '{PRIX_FOIE}' price defined on {d0}: add it to "
                                             "prix_parametres or give cout_jour_canard_eur.")
            cout_jour = cout_jour_canard(prix_foie)
        lots = chargements(queries.lots_to_plan(engine, p.sites, d0, d1), creneau_canards)
        all_sites = queries.sites(engine)
        slots = slots_for(all_sites[all_sites["site_code"].isin(p.sites)], d0 + timedelta(days=1 - JOURS_AVANT),
                          d1 + timedelta(days=1 + JOURS_APRES), creneau_canards)
        cost = cost_matrix(lots, slots, float(cout_jour), prix_km, queries.distances_sites(engine))
        return hungarian(lots, slots, cost), greedy(lots, slots, cost), float(cout_jour)

    def write(conn: Connection, rid: int, plans) -> dict:
        *plans, cout_jour = plans
        for plan in plans:
            if not plan.lignes.empty:
                copy_dataframe(conn, "planning_abattages", plan.lignes.assign(run_id=rid, methode=plan.methode),
                               ["run_id", "methode", "lot_id", "chargement", "nb_canards", "site_code",
                                "date_abattage", "cout", "place", "raison"])
        h, g = plans
        return {"debut": d0.isoformat(), "fin": d1.isoformat(), "nb_lots": int(h.lignes["lot_id"].nunique())
                if not h.lignes.empty else 0, "nb_chargements": len(h.lignes),
                "cout_jour_canard_eur": round(cout_jour, 4), "cout_hongrois_eur": round(h.cout, 2),
                "cout_glouton_eur": round(g.cout, 2),
                "non_places_hongrois": h.non_places, "non_places_glouton": g.non_places}

    return base.execute(engine, JOB, params, run_id, compute, write, lambda _: "scipy linear_sum_assignment")
