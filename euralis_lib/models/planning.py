"""Slaughter planning (used by job ``planning``): lots → slaughter slots with the Hungarian algorithm.

A slot is one line-slot of a site's slaughterhouse on a day: ``capacite_abattage_jour //
CRENEAU_CANARDS`` slots a day, no slaughter on Sundays. A slot takes one truck load
(« chargement ») of at most ``CRENEAU_CANARDS`` ducks; a larger lot is split into equal loads
(:func:`chargements`), so the ducks planned on a day never exceed the slaughterhouse capacity. A lot may go from
``JOURS_AVANT`` day before to ``JOURS_APRES`` days after its ideal day (the day after its last
meal), at its own site or another. Cost of a lot in a slot = date deviation (ducks × cost per duck
and day, priced from the fasting loss by :func:`cout_jour_canard`) + transport (round trip gaveur →
slaughterhouse, at the ``cout_transport_eur_km`` price from ``prix_parametres``; distances between sites come from the
``distances_sites`` table). ``scipy.optimize.linear_sum_assignment``
gives the optimum; lots that cannot be placed (too little capacity in their window) are reported by
name. The greedy plan (earliest lots first, each into its cheapest free slot) is computed as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

JOURS_AVANT, JOURS_APRES = 1, 2
# domain.md (§2, Slaughter): one trial gave ~723 g of liver after 9 h of fasting and ~675 g after 15 h.
FOIE_APRES_JEUNE_G = {9.0: 723.0, 15.0: 675.0}
HEURES_PAR_JOUR = 24.0
INTERDIT = 1e12
Distances = Mapping[frozenset[str], float]


@dataclass
class Plan:
    """One plan: per-lot rows (slot or reason), total cost of placed lots, lots not placed."""

    methode: str
    lignes: pd.DataFrame
    cout: float
    non_places: list[str]


def perte_foie_g_par_heure() -> float:
    """Liver weight lost per hour of fasting (g/h), from the domain trial: (723 − 675) / (15 − 9) = 8."""
    (h0, g0), (h1, g1) = sorted(FOIE_APRES_JEUNE_G.items())
    return (g0 - g1) / (h1 - h0)


def cout_jour_canard(prix_foie_eur_kg: float, heures: float = HEURES_PAR_JOUR) -> float:
    """Cost (€) per duck of ``heures`` more fasting: liver weight lost at the trial's rate × liver price.

    With the premier-choix price (~27 €/kg) that is ≈ 1.3 € per duck per 6 h, ≈ 5.2 € per day of
    deviation; the trial covers 9–15 h, so a whole day extrapolates it linearly (an estimate, stated).
    """
    if prix_foie_eur_kg < 0 or heures < 0:
        raise ValueError(f"liver price and hours must be ≥ 0, not {prix_foie_eur_kg} €/kg, {heures} h.")
    return perte_foie_g_par_heure() * heures / 1000.0 * prix_foie_eur_kg


def slots_for(sites: pd.DataFrame, debut: date, fin: date, creneau_canards: int) -> pd.DataFrame:
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


def chargements(lots: pd.DataFrame, creneau_canards: int) -> pd.DataFrame:
    """One row per truck load: a lot of n ducks becomes ceil(n / creneau) near-equal loads, numbered
    from 1 in ``chargement`` with their ``nb_canards``; ``nb_chargements`` is the lot's load count."""
    if creneau_canards <= 0:
        raise ValueError(f"creneau_canards must be positive, not {creneau_canards}.")
    rows = []
    for lot in lots.to_dict("records"):
        n = int(lot["nb_canards"])
        k = max(1, -(-n // creneau_canards))
        for c in range(k):
            rows.append({**lot, "chargement": c + 1, "nb_chargements": k,
                         "nb_canards": n // k + (1 if c < n % k else 0)})
    return pd.DataFrame(rows, columns=[*lots.columns, "chargement", "nb_chargements"])


def cost_matrix(lots: pd.DataFrame, slots: pd.DataFrame, cout_jour_canard: float, prix_km: float,
                distances: Distances) -> np.ndarray:
    """Cost of each lot (rows) in each slot (columns); INTERDIT outside a lot's window.

    ``distances``: km between two sites' slaughterhouses, keyed by the pair of site codes.
    """
    ideal = pd.to_datetime(lots["fin"]).to_numpy()[:, None] + np.timedelta64(1, "D")
    delta = (pd.to_datetime(slots["jour"]).to_numpy()[None, :] - ideal) / np.timedelta64(1, "D")
    inter = np.array([[0.0 if a == b else distances[frozenset({a, b})] for b in slots["site_code"]]
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
