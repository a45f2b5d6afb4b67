"""``make bench-alerts``'s command line and verdicts, without running it (not a timed test: the benchmark
itself is a command, euralis_lib/bench/alerts.py)."""

from __future__ import annotations

import argparse

from euralis_lib.bench import alerts, provenance


def _results(latence: float | None, cpu_s: float, connexions_fin: int) -> alerts.Results:
    """Measures of 3 pages × 2 rounds, one of them ``latence``, the idle tree's ``cpu_s`` over 100 s."""
    r = alerts.Results(pages=3, provenance=provenance(), initial=[5, 5, 5],
                       latencies=[[0.2, 0.3, 0.25], [0.2, latence, 0.3]], import_s=[0.1, 0.1], open_s=20,
                       idle_s=100, idle_cpu_tree_s=cpu_s, idle_cpu_server_s=cpu_s)
    listener = ("euralis-alertes", "euralis_web")
    r.connections = {"before pages": {}, "1 page open": {listener: 1, ("euralis", "euralis_web"): 1},
                     "idle start": {listener: 1, ("euralis", "euralis_web"): connexions_fin},
                     "idle end": {listener: 1, ("euralis", "euralis_web"): connexions_fin}}
    return r


def test_the_smoke_settings_parse_and_the_defaults_are_the_issues():
    defaut = alerts.parser().parse_args([])
    assert (defaut.pages, defaut.rounds, defaut.idle) == (20, 10, 120)
    court = alerts.parser().parse_args(["--pages", "3", "--rounds", "2", "--idle", "10"])
    assert (court.pages, court.rounds, court.idle) == (3, 2, 10)


def test_each_goal_fails_on_its_own_measure():
    assert [ok for *_, ok in alerts.verdicts(_results(0.4, 1.0, 1))] == [True, True, True]
    # Controls: a late page, a miss, busy idle pages, a connection per page each fail their goal only.
    assert [ok for *_, ok in alerts.verdicts(_results(3.0, 1.0, 1))][0] is False
    manque = alerts.verdicts(_results(None, 1.0, 1))[0]
    assert manque[2] is False and "1 missed" in manque[1]
    assert [ok for *_, ok in alerts.verdicts(_results(0.4, 2.0, 1))] == [True, False, True]
    assert [ok for *_, ok in alerts.verdicts(_results(0.4, 1.0, 3))] == [True, True, False]


def test_the_report_names_its_provenance_settings_and_verdicts():
    args = argparse.Namespace(rounds=2, timeout=30, gap=2, idle=100, years=1, page="tableau_de_bord")
    texte = alerts.format_report(args, _results(None, 1.0, 3))
    assert "commit " in texte and "cores" in texte and "load average" in texte and "page Tableau de bord" in texte
    assert "| page updates expected / seen / missed | 6 / 5 / 1 |" in texte
    assert texte.count("FAIL") == 2 and texte.count("PASS") == 1
