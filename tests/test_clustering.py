"""Gaveur clusters match the planted archetypes on several data sets, with k found from the data and
names that stay stable."""

import pandas as pd
import pytest

from euralis_lib import jobs, validation
from euralis_lib.database import db
from euralis_lib.models import clustering
from tests.helpers.simulation import scorer_rows


@pytest.fixture(scope="module")
def scored(slice_rows):
    """The clustering scorer of the validation matrix on the suite's slice."""
    return scorer_rows(slice_rows, "clustering")


@pytest.fixture(scope="module")
def profiles(sim_sets):
    return clustering.gaveur_profiles(validation.lot_features(sim_sets[0]), min_lots=3)


def test_clusters_recover_planted_archetypes_on_every_data_set(scored):
    by = scored.set_index(["jeu", "metrique"])["valeur"].unstack()
    assert len(by) == 3
    assert (by["ari"] >= 0.85).all(), by.to_string()
    assert (by["accord_noms"] >= 0.85).all(), by.to_string()


def test_k_is_chosen_among_stable_partitions(profiles):
    model = clustering.GaveurClustering(k_min=2, k_max=7, random_state=0).fit(profiles)
    assert model.stabilites_[model.k_] >= model.stabilite_min
    assert set(model.silhouettes_) == set(model.stabilites_) == set(range(2, 8))


def test_names_follow_centroids_whatever_k():
    cents = pd.DataFrame({"sigma_g": [-1.0, 1.0], "mortalite_pct": [-1.0, 1.0], "regularite_g": [-1.0, 1.0],
                          "volume": [0.0, 0.0]})
    assert clustering._names(cents) == ["Excellent", "À accompagner"]
    cents.loc[2] = [0.0, 0.1, 0.0, 2.5]
    assert clustering._names(cents) == ["Excellent", "À accompagner", "Grand volume"]
    cents.loc[3] = [-0.2, 0.0, 0.1, 0.0]
    cents.loc[4] = [0.1, 0.2, 0.1, 0.0]
    names = clustering._names(cents)
    assert names[:3] == ["Excellent", "À accompagner", "Grand volume"] and sorted(names[3:]) == [
        "Confirmé 1", "Confirmé 2"]


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
