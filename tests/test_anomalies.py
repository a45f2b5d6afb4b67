"""Lot anomalies: found on several data sets without being told the planted rate; alerts never duplicated."""

import pytest

from euralis_lib import jobs, validation
from euralis_lib.database import db
from euralis_lib.models import anomalies
from tests.helpers.simulation import scorer_rows


@pytest.fixture(scope="module")
def scored(slice_rows):
    """The anomalies scorer of the validation matrix on the suite's slice."""
    return scorer_rows(slice_rows, "anomalies")


def test_ranking_and_chosen_threshold_find_the_planted_lots_on_every_data_set(scored):
    by = scored.set_index(["jeu", "metrique"])["valeur"].unstack()
    assert len(by) == 3
    assert (by["precision_moyenne"] >= 0.9).all(), by.to_string()
    assert (by["precision"] >= 0.85).all() and (by["rappel"] >= 0.85).all(), by.to_string()


def test_the_model_beats_the_plain_threshold_on_recall(scored):
    rappel = scored[scored["metrique"] == "rappel"]
    assert (rappel["valeur"] > rappel["reference"]).all(), rappel.to_string()


def test_threshold_comes_from_the_scores_not_from_a_rate(sim_sets):
    """The same lots with the abnormal ones removed: (almost) nothing is flagged any more."""
    lots = validation.lot_features(sim_sets[0])
    planted = {int(k) for k in sim_sets[0].truths("anomalie")}
    det = anomalies.LotAnomalyDetector().fit(lots)
    clean = anomalies.LotAnomalyDetector().fit(lots[~lots["lot_id"].isin(planted)])
    assert det.flags_.mean() > 0.015 and clean.flags_.mean() < 0.005
    assert det.ranks_.sort_values().index[0] == det.scores_.idxmax()
    flagged = det.flags_[det.flags_].index
    assert set(det.critical_[det.critical_].index) <= set(flagged)
    text, contributions = det.explain(next(iter(set(flagged) & planted)))
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


def test_bad_threshold_is_refused(sim_db_url):
    with pytest.raises(jobs.JobParameterError, match="seuil_z"):
        jobs.run_job("anomalies", db.get_engine(sim_db_url), seuil_z=0.5)
