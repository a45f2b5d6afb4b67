"""Scores gaveur clustering against the planted archetypes, per data set.

Metrics: adjusted Rand index between clusters and archetypes (reference: the former method, k by
silhouette alone on the five profile columns), the k found (the simulator plants 4) and the share
of gaveurs whose cluster name matches their archetype.
"""

from __future__ import annotations

import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler

from euralis_lib.models.clustering import PROFILE, GaveurClustering, gaveur_profiles
from euralis_lib.simulator import SimulatedData
from euralis_lib.validation import ligne, lot_features, tableau

MODELE = "clustering"
NOMS = {"excellent": "Excellent", "confirme": "Confirmé", "grand_volume": "Grand volume",
        "a_accompagner": "À accompagner"}


def _silhouette_seule(profiles: pd.DataFrame, k_min: int, k_max: int) -> list[int]:
    """Labels of the baseline: K-Means on every profile column, k by best silhouette."""
    X = StandardScaler().fit_transform(profiles[list(PROFILE)])
    fits = [KMeans(n_clusters=k, n_init=20, random_state=0).fit(X) for k in range(k_min, k_max + 1)]
    return list(max(fits, key=lambda km: silhouette_score(X, km.labels_)).labels_)


def score(donnees: SimulatedData) -> pd.DataFrame:
    """ARI, k and name agreement (cell ``ensemble``)."""
    profiles = gaveur_profiles(lot_features(donnees), min_lots=3)
    model = GaveurClustering(k_min=2, k_max=7, random_state=0).fit(profiles)
    truth = donnees.truths("archetype")
    planted = [truth[str(g)]["archetype"] for g in profiles.index]
    accord = sum(NOMS[p] == n for p, n in zip(planted, model.names_, strict=True)) / len(planted)
    return tableau([
        ligne(MODELE, "ensemble", "ari", adjusted_rand_score(planted, model.labels_),
              reference=adjusted_rand_score(planted, _silhouette_seule(profiles, 2, 7)), objectif=0.85),
        ligne(MODELE, "ensemble", "k_trouve", model.k_, reference=len(set(planted))),
        ligne(MODELE, "ensemble", "accord_noms", accord, objectif=0.85),
    ])
