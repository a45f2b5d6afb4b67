"""Slaughter planning (job ``planning``): lots → slaughter slots with the Hungarian algorithm.

A slot is one line-slot of a site's slaughterhouse on a day: ``capacite_abattage_jour //
CRENEAU_CANARDS`` slots a day, no slaughter on Sundays. A slot takes one truck load
(« chargement ») of at most ``CRENEAU_CANARDS`` ducks; a larger lot is split into equal loads
(:func:`chargements`), so the ducks planned on a day never exceed the slaughterhouse capacity. A lot may go from
``JOURS_AVANT`` day before to ``JOURS_APRES`` days after its ideal day (the day after its last
meal), at its own site or another. Cost of a lot in a slot = date deviation (ducks × cost per duck
and day: fasting lowers liver weight) + transport (round trip gaveur → slaughterhouse, at the
``cout_transport_eur_km`` price from ``prix_parametres``). ``scipy.optimize.linear_sum_assignment``
gives the optimum; lots that cannot be placed (too little capacity in their window) are reported by
name. The greedy plan (earliest lots first, each into its cheapest free slot) is computed as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from scipy.optimize import linear_sum_assignment
from sqlalchemy.engine import Connection, Engine

from euralis_lib import jobs, queries
from euralis_lib.db import copy_dataframe, read_df

JOB = "planning"
CRENEAU_CANARDS = 1800
JOURS_AVANT, JOURS_APRES = 1, 2
DISTANCES_SITES_KM = {frozenset({"LL", "LS"}): 62.0, frozenset({"LL", "MT"}): 95.0, frozenset({"LS", "MT"}): 58.0}
INTERDIT = 1e12
PARAMS = {"debut": (str, type(None)), "fin": (str, type(None)), "sites": (list, str, type(None)),
          "cout_jour_canard_eur": (float, int), "creneau_canards": (int,)}


@dataclass
class Plan:
    """One plan: per-lot rows (slot or reason), total cost of placed lots, lots not placed."""

    methode: str
    lignes: pd.DataFrame
    cout: float
    non_places: list[str]


def slots_for(sites: pd.DataFrame, debut: date, fin: date, creneau_canards: int = CRENEAU_CANARDS) -> pd.DataFrame:
    """Slots (site_code, jour, creneau) between two days, Sundays excluded."""
    rows = []
    for site in sites.itertuples():
        per_day = max(1, int(site.capacite_abattage_jour) // creneau_canards)
        day = debut
        while day <= fin:
            if day.weekday() != 6:
                rows.extend({"site_code": site.site_code, "jour": day, "creneau": k} for k in range(per_day))
            day += timedelta(days=1)
    return pd.DataFrame(rows, columns=["site_code", "jour", "creneau"])


def chargements(lots: pd.DataFrame, creneau_canards: int = CRENEAU_CANARDS) -> pd.DataFrame:
    """One row per truck load: a lot of n ducks becomes ceil(n / creneau) near-equal loads, numbered
    from 1 in ``chargement`` with their ``nb_canards``; ``nb_chargements`` is the lot's load count."""
    if creneau_canards <= 0:
        raise jobs.JobParameterError(f"{JOB}: creneau_canards must be positive, not {creneau_canards}.")
    rows = []
    for lot in lots.to_dict("records"):
        n = int(lot["nb_canards"])
        k = max(1, -(-n // creneau_canards))
        for c in range(k):
            rows.append({**lot, "chargement": c + 1, "nb_chargements": k,
                         "nb_canards": n // k + (1 if c < n % k else 0)})
    return pd.DataFrame(rows, columns=[*lots.columns, "chargement", "nb_chargements"])


def cost_matrix(lots: pd.DataFrame, slots: pd.DataFrame, cout_jour_canard: float, prix_km: float) -> np.ndarray:
    """Cost of each lot (rows) in each slot (columns); INTERDIT outside a lot's window."""
    ideal = pd.to_datetime(lots["fin"]).to_numpy()[:, None] + np.timedelta64(1, "D")
    delta = (pd.to_datetime(slots["jour"]).to_numpy()[None, :] - ideal) / np.timedelta64(1, "D")
    inter = np.array([[0.0 if a == b else DISTANCES_SITES_KM[frozenset({a, b})] for b in slots["site_code"]]
                      for a in lots["site_code"]])
    km = lots["distance_km"].to_numpy(float)[:, None] + inter
    cost = lots["nb_canards"].to_numpy(float)[:, None] * cout_jour_canard * np.abs(delta) + 2 * km * prix_km
    return np.where((delta < -JOURS_AVANT) | (delta > JOURS_APRES), INTERDIT, cost)


def _plan(methode: str, lots: pd.DataFrame, slots: pd.DataFrame, cost: np.ndarray,
          assignment: dict[int, int]) -> Plan:
    rows, total, missing = [], 0.0, []
    for i, lot in enumerate(lots.to_dict("records")):
        j = assignment.get(i)
        load = {"lot_id": lot["lot_id"], "chargement": lot.get("chargement", 1), "nb_canards": lot["nb_canards"]}
        if j is None or cost[i, j] >= INTERDIT:
            k = lot.get("nb_chargements", 1)
            nom = lot["code_lot"] if k == 1 else f"{lot['code_lot']} (chargement {load['chargement']}/{k})"
            missing.append(nom)
            window = (f"capacité insuffisante du {lot['fin'] + timedelta(days=1 - JOURS_AVANT):%d/%m/%Y} "
                      f"au {lot['fin'] + timedelta(days=1 + JOURS_APRES):%d/%m/%Y}")
            rows.append({**load, "site_code": lot["site_code"], "date_abattage": None, "cout": None,
                         "place": False, "raison": window})
            continue
        total += cost[i, j]
        slot = slots.iloc[j]
        rows.append({**load, "site_code": slot["site_code"], "date_abattage": slot["jour"],
                     "cout": float(cost[i, j]), "place": True, "raison": None})
    return Plan(methode, pd.DataFrame(rows), float(total), missing)


def hungarian(lots: pd.DataFrame, slots: pd.DataFrame, cost: np.ndarray) -> Plan:
    """Optimal assignment (minimum total cost, as many lots placed as the windows allow)."""
    if len(lots) == 0 or len(slots) == 0:
        return _plan("hongrois", lots, slots, cost, {})
    rows, cols = linear_sum_assignment(cost)
    return _plan("hongrois", lots, slots, cost, dict(zip(rows.tolist(), cols.tolist(), strict=True)))


def greedy(lots: pd.DataFrame, slots: pd.DataFrame, cost: np.ndarray) -> Plan:
    """Earliest lots first (largest first on a tie), each into its cheapest free slot."""
    order = sorted(range(len(lots)), key=lambda i: (lots.iloc[i]["fin"], -lots.iloc[i]["nb_canards"]))
    free = np.ones(len(slots), dtype=bool)
    assignment = {}
    for i in order:
        if not free.any():
            break
        j = int(np.argmin(np.where(free, cost[i], np.inf)))
        if cost[i, j] < INTERDIT:
            assignment[i] = j
            free[j] = False
    return _plan("glouton", lots, slots, cost, assignment)


def lots_to_plan(engine: Engine, sites: list[str], debut: date, fin: date) -> pd.DataFrame:
    """Lots whose fattening ends between ``debut`` and ``fin``, with ducks alive and gaveur distance."""
    return read_df(engine, """
        SELECT l.lot_id, l.code_lot, l.site_code, l.fin, l.nb_canards_entres - l.nb_morts AS nb_canards,
               g.distance_km::float AS distance_km
        FROM lots_gavage l JOIN gaveurs g USING (gaveur_id)
        WHERE l.site_code = ANY(:sites) AND l.fin BETWEEN :debut AND :fin
        ORDER BY l.fin, l.lot_id""", {"sites": sites, "debut": debut, "fin": fin})


def transport_price(engine: Engine, day: date) -> float:
    """Transport price (EUR/km) in force on a day, from ``prix_parametres``."""
    with engine.connect() as conn:
        value = conn.execute(sa.text("SELECT prix_a('cout_transport_eur_km', NULL, :d)"), {"d": day}).scalar()
    if value is None:
        raise jobs.JobParameterError(f"{JOB}: no 'cout_transport_eur_km' price defined on {day}: add it to "
                                     "prix_parametres.")
    return float(value)


def run(engine: Engine, run_id: int | None = None, **params) -> dict:
    """Job ``planning``: Hungarian and greedy plans for lots ending in a date range (default: next 14 days)."""
    jobs.check_params(JOB, params, PARAMS)
    sites = jobs.parse_sites(JOB, params.get("sites"))
    _, last = queries.data_period(engine)
    debut = jobs.parse_date(JOB, "debut", params.get("debut")) or (last or date.today())
    fin = jobs.parse_date(JOB, "fin", params.get("fin")) or debut + timedelta(days=14)
    if fin < debut:
        raise jobs.JobParameterError(f"{JOB}: inverted period ({debut} > {fin}).")
    cout_jour = float(params.get("cout_jour_canard_eur", 0.2))
    creneau = params.get("creneau_canards", CRENEAU_CANARDS)

    def compute():
        lots = chargements(lots_to_plan(engine, sites, debut, fin), creneau)
        all_sites = queries.sites(engine)
        slots = slots_for(all_sites[all_sites["site_code"].isin(sites)], debut + timedelta(days=1 - JOURS_AVANT),
                          fin + timedelta(days=1 + JOURS_APRES), creneau)
        cost = cost_matrix(lots, slots, cout_jour, transport_price(engine, debut))
        return hungarian(lots, slots, cost), greedy(lots, slots, cost)

    def write(conn: Connection, rid: int, output) -> dict:
        plans = output
        for plan in plans:
            if not plan.lignes.empty:
                copy_dataframe(conn, "planning_abattages", plan.lignes.assign(run_id=rid, methode=plan.methode),
                               ["run_id", "methode", "lot_id", "chargement", "nb_canards", "site_code",
                                "date_abattage", "cout", "place", "raison"])
        h, g = plans
        return {"debut": debut.isoformat(), "fin": fin.isoformat(), "nb_lots": int(h.lignes["lot_id"].nunique())
                if not h.lignes.empty else 0, "nb_chargements": len(h.lignes),
                "cout_hongrois_eur": round(h.cout, 2), "cout_glouton_eur": round(g.cout, 2),
                "non_places_hongrois": h.non_places, "non_places_glouton": g.non_places}

    return jobs.execute(engine, JOB, params, run_id, compute, write, lambda _: "scipy linear_sum_assignment")
