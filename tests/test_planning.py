"""Hungarian slaughter planning: optimal on small cases (split loads and infeasible ones included), never
worse than greedy, clear when infeasible, delay priced from the fasting loss."""

import itertools
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euralis_lib import jobs
from euralis_lib.database import db
from euralis_lib.models import planning

SITES = pd.DataFrame({"site_code": ["LL", "MT"], "capacite_abattage_jour": [1800, 3600]})
DISTANCES = {frozenset({"LL", "MT"}): 95.0}
COUT_JOUR = planning.cout_jour_canard(27.0)  # premier-choix liver price of the simulator (€/kg)


def _instance(seed: int, n_lots: int, days: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    start = date(2026, 3, 2)  # a Monday
    lots = pd.DataFrame({
        "lot_id": range(1, n_lots + 1), "code_lot": [f"L{i}" for i in range(1, n_lots + 1)],
        "site_code": rng.choice(["LL", "MT"], n_lots),
        "fin": [start + timedelta(days=int(d)) for d in rng.integers(0, days, n_lots)],
        "nb_canards": rng.integers(300, 3000, n_lots), "distance_km": rng.uniform(5, 80, n_lots)})
    slots = planning.slots_for(SITES, start, start + timedelta(days=days + 2), 1800)
    return lots, slots, planning.cost_matrix(lots, slots, COUT_JOUR, 1.8, DISTANCES)


def _brute_force(cost: np.ndarray) -> tuple[int, float]:
    """Exhaustive search: (most loads placed, then least cost); a load may stay unplaced."""
    n, m = cost.shape
    best = (-1, 0.0)
    allowed = [[j for j in range(m) if cost[i, j] < planning.INTERDIT] + [None] for i in range(n)]
    for choice in itertools.product(*allowed):
        used = [j for j in choice if j is not None]
        if len(used) != len(set(used)):
            continue
        candidate = (len(used), sum(cost[i, j] for i, j in enumerate(choice) if j is not None))
        if candidate[0] > best[0] or (candidate[0] == best[0] and candidate[1] < best[1]):
            best = candidate
    return best


def test_delay_is_priced_from_the_fasting_loss_of_domain_md():
    assert planning.perte_foie_g_par_heure() == pytest.approx((723 - 675) / (15 - 9))
    assert planning.cout_jour_canard(27.0, heures=6) == pytest.approx(1.296)  # ≈ 1.3 € per duck per 6 h
    assert planning.cout_jour_canard(27.0) == pytest.approx(4 * 1.296)
    with pytest.raises(ValueError, match="price"):
        planning.cout_jour_canard(-1.0)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("jours", [1, 3])  # 1: too few slots, some loads cannot be placed; 3: room for all
def test_hungarian_equals_brute_force_with_split_loads(seed, jours):
    rng = np.random.default_rng(seed)
    start = date(2026, 3, 2)
    lots = pd.DataFrame({"lot_id": [1, 2, 3], "code_lot": ["A", "B", "C"], "site_code": rng.choice(["LL", "MT"], 3),
                         "fin": [start + timedelta(days=int(d)) for d in rng.integers(0, 2, 3)],
                         "nb_canards": [int(rng.integers(1801, 3601)), *rng.integers(300, 3601, 2)],
                         "distance_km": rng.uniform(5, 80, 3)})
    loads = planning.chargements(lots, 1800)
    assert loads["nb_chargements"].max() > 1  # at least one lot is split
    slots = planning.slots_for(SITES.head(1 if jours == 1 else 2), start + timedelta(days=1),
                               start + timedelta(days=jours), 1800)
    cost = planning.cost_matrix(loads, slots, COUT_JOUR, 1.8, DISTANCES)
    placed, best = _brute_force(cost)
    if jours == 1:
        assert placed < len(loads)  # one slot for several loads: an infeasible case
    plan = planning.hungarian(loads, slots, cost)
    assert len(loads) - len(plan.non_places) == placed
    assert plan.cout == pytest.approx(best)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_lots=st.integers(1, 25))
def test_hungarian_is_never_worse_than_greedy(seed, n_lots):
    lots, slots, cost = _instance(seed, n_lots)
    h, g = planning.hungarian(lots, slots, cost), planning.greedy(lots, slots, cost)
    assert len(h.non_places) <= len(g.non_places)
    if len(h.non_places) == len(g.non_places):
        assert h.cout <= g.cout + 1e-6
    assert h.lignes["lot_id"].tolist() == lots["lot_id"].tolist()


def test_infeasible_plan_names_the_lots_that_cannot_be_placed():
    lots, _, _ = _instance(3, n_lots=12, days=1)
    lots["fin"] = date(2026, 3, 3)
    one_site = SITES.head(1)  # LL: one slot a day, four usable days
    slots = planning.slots_for(one_site, date(2026, 3, 3), date(2026, 3, 6), 1800)
    plan = planning.hungarian(lots, slots, planning.cost_matrix(lots, slots, COUT_JOUR, 1.8, DISTANCES))
    assert len(plan.non_places) == 12 - 4
    missing = plan.lignes[~plan.lignes["place"]]
    assert set(missing["lot_id"].map(dict(zip(lots["lot_id"], lots["code_lot"], strict=True)))) == set(plan.non_places)
    assert missing["raison"].str.startswith("capacité insuffisante du 03/03/2026").all()


def test_large_lots_are_split_into_loads_that_fit_a_slot():
    lots = pd.DataFrame({"lot_id": [1, 2], "code_lot": ["A", "B"], "nb_canards": [1800, 3601]})
    loads = planning.chargements(lots, 1800)
    assert loads.groupby("lot_id")["nb_canards"].sum().tolist() == [1800, 3601]
    assert loads["nb_canards"].max() <= 1800
    assert loads[loads["lot_id"] == 2]["chargement"].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="creneau"):
        planning.chargements(lots, 0)


def test_no_slaughter_on_sundays():
    slots = planning.slots_for(SITES, date(2026, 3, 1), date(2026, 3, 8), 1800)
    assert not any(d.weekday() == 6 for d in slots["jour"])


def test_job_writes_both_plans(sim_db_url):
    engine = db.get_engine(sim_db_url)
    result = jobs.run_job("planning", engine, debut="2025-11-01", fin="2025-11-30")
    rows = db.read_df(engine, "SELECT * FROM planning_abattages WHERE run_id = :r", {"r": result["run_id"]})
    assert set(rows["methode"]) == {"hongrois", "glouton"}
    assert rows.groupby("methode").size().eq(result["nb_chargements"]).all() and result["nb_lots"] > 30
    assert rows.groupby("methode")["lot_id"].nunique().eq(result["nb_lots"]).all()
    capacites = db.read_df(engine, "SELECT code AS site_code, capacite_abattage_jour FROM sites")
    cles = ["methode", "site_code", "date_abattage"]
    par_jour = rows[rows["place"]].groupby(cles, as_index=False)["nb_canards"].sum()
    par_jour = par_jour.merge(capacites, on="site_code")
    assert (par_jour["nb_canards"] <= par_jour["capacite_abattage_jour"]).all()  # never over capacity
    assert result["cout_hongrois_eur"] <= result["cout_glouton_eur"]
    prix_foie = db.read_df(engine, "SELECT prix_a('prix_foie_premier_choix_eur_kg', NULL, '2025-11-01') AS p")["p"][0]
    assert result["cout_jour_canard_eur"] == pytest.approx(planning.cout_jour_canard(float(prix_foie)), abs=1e-4)
    with pytest.raises(jobs.JobParameterError, match="inverted"):
        jobs.run_job("planning", engine, debut="2025-11-30", fin="2025-11-01")
