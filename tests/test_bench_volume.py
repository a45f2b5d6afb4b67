"""The volume benchmark's verdicts (``make bench``): the pages' 50 ms p95 goal and growth against the data."""

from euralis_lib.bench.volume import verdicts


def _scale(years: int, lots: int, **calls: tuple[float, float]) -> dict:
    return {"years": years, "lots": lots, **calls}


def test_a_slow_page_query_and_a_query_growing_faster_than_the_data_fail():
    lignes = verdicts([_scale(1, 1000, finance_indicateurs=(10.0, 12.0), lot_features=(30.0, 40.0),
                              dashboard_kpis=(5.0, 6.0)),
                       _scale(10, 10000, finance_indicateurs=(40.0, 49.0), lot_features=(700.0, 900.0),
                              dashboard_kpis=(55.0, 80.0))])
    assert "- PASS finance_indicateurs: p95 49.0 ms at 10 year(s) (goal ≤ 50 ms)" in lignes
    assert any(ligne.startswith("- PASS finance_indicateurs: p50 ×4.0 for ×10.0 lots") for ligne in lignes)
    assert "- FAIL dashboard_kpis: p95 80.0 ms at 10 year(s) (goal ≤ 50 ms)" in lignes
    assert any(ligne.startswith("- FAIL lot_features: p50 ×23.3 for ×10.0 lots") for ligne in lignes)
    assert not any("lot_features: p95" in ligne for ligne in lignes), "lot_features is the jobs' query, not a page's"


def test_one_scale_judges_the_goal_but_not_the_growth():
    assert verdicts([_scale(3, 3000, finance_indicateurs=(20.0, 30.0))]) == [
        "- PASS finance_indicateurs: p95 30.0 ms at 3 year(s) (goal ≤ 50 ms)"]
