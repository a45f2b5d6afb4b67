"""Isolation Forest finds the lots made anomalous on purpose; alerts are never duplicated."""

import pytest

from euralis_lib import db, jobs, queries
from euralis_lib.models import anomalies


def test_precision_and_recall_on_planted_anomalies(shared_sim_url, sim_data):
    lots = queries.lot_features(db.get_engine(shared_sim_url))
    det = anomalies.LotAnomalyDetector(contamination=0.025, random_state=0).fit(lots)
    planted = {int(k) for k in sim_data.truths("anomalie")} & set(det.flags_.index)
    flagged = set(det.flags_[det.flags_].index)
    true_pos = len(flagged & planted)
    assert true_pos / len(flagged) >= 0.85 and true_pos / len(planted) >= 0.85
    assert set(det.critical_[det.critical_].index) <= flagged
    text, contributions = det.explain(next(iter(flagged & planted)))
    assert "habituel" in text and set(contributions) == set(anomalies.FEATURES)


def test_rerun_creates_no_duplicate_alerts(sim_db_url):
    engine = db.get_engine(sim_db_url)
    first = jobs.run_job("anomalies", engine)
    assert first["alertes_creees"] == first["nb_critiques"] > 0
    second = jobs.run_job("anomalies", engine)
    assert second["alertes_creees"] == 0
    n = db.read_df(engine, "SELECT count(*) AS n FROM alertes WHERE type = 'anomalie'")["n"][0]
    assert n == first["nb_critiques"]
    scored = db.read_df(engine, "SELECT count(*) AS n, count(explication) AS e, sum(est_anomalie::int) AS a "
                        "FROM anomalies_lots WHERE run_id = :r", {"r": second["run_id"]}).iloc[0]
    assert scored["e"] == scored["a"] == second["nb_anomalies"]


def test_bad_contamination_is_refused(sim_db_url):
    with pytest.raises(jobs.JobParameterError, match="contamination"):
        jobs.run_job("anomalies", db.get_engine(sim_db_url), contamination=0.9)
