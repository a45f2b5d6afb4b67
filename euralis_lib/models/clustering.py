"""Gaveur clustering (used by job ``clustering``): K-Means on standardized behaviour profiles.

Profile per gaveur, measured over his slaughtered lots: ITM, sigma, mortality, regularity (mean
deviation from the control curve) and volume (mean lot size). K-Means groups on the practice
indicators :data:`GROUPES` (sigma, mortality, regularity, volume); ITM is shown with each group but
not used to form them (it mostly follows each gaveur's final-dose habit, an axis of its own).
k is chosen robustly: for each k, K-Means is refitted on bootstrap resamples of the gaveurs and
compared with the full fit (adjusted Rand index); among the k whose mean stability reaches
``stabilite_min``, the one with the best silhouette is kept (the most stable k if none reaches it).
Clusters are named for people from their centroids, whatever k and K-Means' label numbers: a
centroid whose largest standardized deviation is a larger volume is "Grand volume"; the others are
ranked by a performance score (lower sigma, mortality and deviation is better): the best
"Excellent", the worst "À accompagner", those between "Confirmé" (numbered when several).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

PROFILE = ("itm", "sigma_g", "mortalite_pct", "regularite_g", "volume")
GROUPES = ("sigma_g", "mortalite_pct", "regularite_g", "volume")
PERFORMANCE = ("sigma_g", "mortalite_pct", "regularite_g")


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
    big = (centroids.abs().idxmax(axis=1) == "volume") & (centroids["volume"] > 0)
    if big.all():
        big[:] = False
    score = -centroids[list(PERFORMANCE)].sum(axis=1)
    for i in np.flatnonzero(big.to_numpy()):
        names[i] = "Grand volume"
    others = [i for i in score.sort_values(ascending=False).index if not big.iloc[i]]
    for rank, i in enumerate(others):
        if len(others) == 1:
            names[i] = "Confirmé"
        elif rank == 0:
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
    """K-Means with k chosen by bootstrap stability and silhouette (a scikit-learn estimator).

    Fitted attributes: ``k_``, ``silhouettes_`` and ``stabilites_`` (per k), ``labels_``, ``names_``,
    ``distances_`` (per gaveur) and ``centroids_`` (in the profile's units, with name and size).
    """

    def __init__(self, *, k_min: int, k_max: int, random_state: int, n_bootstrap: int = 20,
                 stabilite_min: float = 0.9) -> None:
        self.k_min = k_min
        self.k_max = k_max
        self.random_state = random_state
        self.n_bootstrap = n_bootstrap
        self.stabilite_min = stabilite_min

    def fit(self, profiles: pd.DataFrame) -> GaveurClustering:
        """Cluster the gaveurs of ``profiles`` (index gaveur_id, columns PROFILE)."""
        if len(profiles) < self.k_min + 1:
            raise ValueError(f"{len(profiles)} gaveurs with a reliable profile: at least {self.k_min + 1} needed")
        with threadpool_limits(limits=1):  # many tiny K-Means fits: OpenMP threads only contend
            return self._fit(profiles)

    def _fit(self, profiles: pd.DataFrame) -> GaveurClustering:
        scaler = StandardScaler()
        X = scaler.fit_transform(profiles[list(GROUPES)])
        rng = np.random.default_rng(self.random_state)
        self.silhouettes_: dict[int, float] = {}
        self.stabilites_: dict[int, float] = {}
        fits = {}
        for k in range(self.k_min, min(self.k_max, len(profiles) - 1) + 1):
            km = KMeans(n_clusters=k, n_init=20, random_state=self.random_state).fit(X)
            fits[k] = km
            self.silhouettes_[k] = float(silhouette_score(X, km.labels_))
            aris = []
            for b in range(self.n_bootstrap):
                idx = rng.choice(len(X), len(X), replace=True)
                boot = KMeans(n_clusters=k, n_init=3, random_state=self.random_state + b).fit(X[idx])
                aris.append(adjusted_rand_score(km.labels_, boot.predict(X)))
            self.stabilites_[k] = float(np.mean(aris))
        stables = [k for k, s in self.stabilites_.items() if s >= self.stabilite_min]
        self.k_ = (max(stables, key=lambda k: self.silhouettes_[k]) if stables
                   else max(self.stabilites_, key=lambda k: self.stabilites_[k]))
        best = fits[self.k_]
        centroids = pd.DataFrame(best.cluster_centers_, columns=list(GROUPES))
        names = _names(centroids)
        order = sorted(range(self.k_), key=lambda i: names[i])  # stable numbering: by name
        relabel = {old: new for new, old in enumerate(order)}
        self.labels_ = pd.Series([relabel[c] for c in best.labels_], index=profiles.index, name="cluster")
        self.names_ = self.labels_.map({relabel[i]: names[i] for i in range(self.k_)}).rename("nom_cluster")
        self.distances_ = pd.Series(np.min(best.transform(X), axis=1), index=profiles.index, name="distance")
        raw = profiles[list(PROFILE)].groupby(best.labels_).mean().reindex(range(self.k_))
        self.centroids_ = raw.iloc[order].reset_index(drop=True).assign(
            nom_cluster=[names[i] for i in order],
            nb_gaveurs=[int((best.labels_ == i).sum()) for i in order])
        return self
