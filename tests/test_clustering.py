"""Gaveur clusters match the planted archetypes, with names that stay stable."""

import pytest
from sklearn.metrics import adjusted_rand_score

from euralis_lib import db, jobs, queries
from euralis_lib.models import clustering


@pytest.fixture(scope="module")
def profiles(shared_sim_url):
    return clustering.gaveur_profiles(queries.lot_features(db.get_engine(shared_sim_url)), min_lots=3)


def test_clusters_recover_planted_archetypes(profiles, sim_data):
    model = clustering.GaveurClustering(k_min=2, k_max=7, random_state=0).fit(profiles)
    truth = sim_data.truths("archetype")
    planted = [truth[str(g)]["archetype"] for g in profiles.index]
    assert adjusted_rand_score(planted, model.labels_) >= 0.9
    expected = {"excellent": "Excellent", "confirme": "Confirmé", "grand_volume": "Grand volume",
                "a_accompagner": "À accompagner"}
    agree = sum(expected[p] == n for p, n in zip(planted, model.names_, strict=True)) / len(planted)
    assert agree >= 0.9


def test_names_are_stable_across_runs(profiles):
    a = clustering.GaveurClustering(k_min=2, k_max=7, random_state=0).fit(profiles)
    b = clustering.GaveurClustering(k_min=2, k_max=7, random_state=7).fit(profiles.sample(frac=1, random_state=3))
    assert a.names_.sort_index().equals(b.names_.sort_index())


def test_job_stores_clusters_and_centroids(sim_db_url):
    engine = db.get_engine(sim_db_url)
    result = jobs.run_job("clustering", engine, k_max=5)
    rows = db.read_df(engine, "SELECT * FROM clusters_gaveurs WHERE run_id = :r", {"r": result["run_id"]})
    cents = db.read_df(engine, "SELECT * FROM clusters_centroides WHERE run_id = :r", {"r": result["run_id"]})
    assert len(rows) == result["nb_gaveurs"] >= 60
    assert cents["nb_gaveurs"].sum() == len(rows) and len(cents) == result["k"]
    assert set(rows["nom_cluster"]) == set(cents["nom_cluster"])


def test_too_few_gaveurs_is_a_clear_error(profiles):
    with pytest.raises(ValueError, match="at least 3 needed"):
        clustering.GaveurClustering(k_min=2, k_max=7, random_state=0).fit(profiles.head(2))
