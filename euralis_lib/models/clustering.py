"""Gaveur clustering (used by job ``clustering``): K-Means on standardized performance profiles.

Profile per gaveur, over his slaughtered lots: ITM, sigma, mortality, regularity (mean deviation
from the control curve) and volume (mean lot size). k is chosen by silhouette within a range.
Clusters are named for people from their centroids, so the same gaveurs get the same names on
every run whatever K-Means' label numbers: a centroid with a clearly larger volume is "Grand
volume"; the others are ranked by a performance score (lower ITM, sigma, mortality and deviation
is better): the best "Excellent", the worst "À accompagner", those between "Confirmé".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

PROFILE = ("itm", "sigma_g", "mortalite_pct", "regularite_g", "volume")


def gaveur_profiles(features: pd.DataFrame, *, min_lots: int) -> pd.DataFrame:
    """One row per gaveur with the profile columns; gaveurs with fewer than ``min_lots`` slaughtered lots
    (or any missing profile value) are left out, since their profile is not reliable."""
    done = features.dropna(subset=["itm", "sigma_g", "ecart_courbe_g"])
    g = done.groupby("gaveur_id")
    profiles = pd.DataFrame({
        "site_code": g["site_code"].first(),
        "nb_lots": g.size(),
        "itm": g["mais_total_kg"].sum() / g["poids_foie_total_kg"].sum(),
        "sigma_g": g["sigma_g"].mean(),
        "mortalite_pct": 100 * g["nb_morts"].sum() / g["nb_canards_entres"].sum(),
        "regularite_g": g["ecart_courbe_g"].mean(),
        "volume": g["nb_canards_entres"].mean(),
    })
    return profiles[profiles["nb_lots"] >= min_lots].dropna(subset=list(PROFILE))


def _names(centroids: pd.DataFrame) -> list[str]:
    """People-facing names from standardized centroids (see module docstring)."""
    names = [""] * len(centroids)
    big = centroids["volume"] > 1.0
    score = -(centroids["itm"] + centroids["sigma_g"] + centroids["mortalite_pct"] + centroids["regularite_g"])
    for i in np.flatnonzero(big.to_numpy()):
        names[i] = "Grand volume"
    others = [i for i in score.sort_values(ascending=False).index if not big.iloc[i]]
    for rank, i in enumerate(others):
        if rank == 0:
            names[i] = "Excellent"
        elif rank == len(others) - 1:
            names[i] = "À accompagner"
        else:
            names[i] = "Confirmé"
    seen: dict[str, int] = {}
    for name in names:  # several clusters of one kind: numbered in score order
        seen[name] = seen.get(name, 0) + 1
    counter: dict[str, int] = {}
    for i in score.sort_values(ascending=False).index:
        if seen[names[i]] > 1:
            counter[names[i]] = counter.get(names[i], 0) + 1
            names[i] = f"{names[i]} {counter[names[i]]}"
    return names


class GaveurClustering(BaseEstimator):
    """K-Means with k chosen by silhouette (a scikit-learn estimator).

    Fitted attributes: ``k_``, ``silhouettes_`` (per k), ``labels_``, ``names_``, ``distances_``
    (per gaveur) and ``centroids_`` (in the profile's units, with name and size).
    """

    def __init__(self, *, k_min: int, k_max: int, random_state: int) -> None:
        self.k_min = k_min
        self.k_max = k_max
        self.random_state = random_state

    def fit(self, profiles: pd.DataFrame) -> GaveurClustering:
        """Cluster the gaveurs of ``profiles`` (index gaveur_id, columns PROFILE)."""
        if len(profiles) < self.k_min + 1:
            raise ValueError(f"{len(profiles)} gaveurs with a reliable profile: at least {self.k_min + 1} needed")
        scaler = StandardScaler()
        X = scaler.fit_transform(profiles[list(PROFILE)])
        self.silhouettes_: dict[int, float] = {}
        best = None
        for k in range(self.k_min, min(self.k_max, len(profiles) - 1) + 1):
            km = KMeans(n_clusters=k, n_init=20, random_state=self.random_state).fit(X)
            self.silhouettes_[k] = float(silhouette_score(X, km.labels_))
            if best is None or self.silhouettes_[k] > self.silhouettes_[best.n_clusters]:
                best = km
        self.k_ = best.n_clusters
        centroids = pd.DataFrame(best.cluster_centers_, columns=list(PROFILE))
        names = _names(centroids)
        order = sorted(range(self.k_), key=lambda i: names[i])  # stable numbering: by name
        relabel = {old: new for new, old in enumerate(order)}
        self.labels_ = pd.Series([relabel[c] for c in best.labels_], index=profiles.index, name="cluster")
        self.names_ = self.labels_.map({relabel[i]: names[i] for i in range(self.k_)}).rename("nom_cluster")
        self.distances_ = pd.Series(np.min(best.transform(X), axis=1), index=profiles.index, name="distance")
        raw = pd.DataFrame(scaler.inverse_transform(best.cluster_centers_), columns=list(PROFILE))
        self.centroids_ = raw.iloc[order].reset_index(drop=True).assign(
            nom_cluster=[names[i] for i in order],
            nb_gaveurs=[int((best.labels_ == i).sum()) for i in order])
        return self
