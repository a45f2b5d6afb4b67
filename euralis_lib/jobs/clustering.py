"""Job ``clustering``: K-Means groups of gaveurs, stored per gaveur with the centroids.

Profiles and the clustering itself live in :mod:`euralis_lib.models.clustering`.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Connection, Engine

from euralis_lib.database import queries
from euralis_lib.database.db import copy_dataframe
from euralis_lib.jobs import base
from euralis_lib.models.clustering import PROFILE, GaveurClustering, gaveur_profiles

JOB = "clustering"


def run(engine: Engine, *, run_id: int | None, sites: list[str] | None, debut: str | None, fin: str | None,
        k_min: int, k_max: int, min_lots: int, seed: int) -> dict:
    """Cluster gaveurs and store each gaveur's cluster and the centroids."""
    params = base.arguments(locals())
    p = base.perimetre(engine, JOB, sites, debut, fin)
    if not 2 <= k_min <= k_max:
        raise base.JobParameterError(f"{JOB}: need 2 <= k_min <= k_max, not k_min={k_min}, k_max={k_max}.")
    model = GaveurClustering(k_min=k_min, k_max=k_max, random_state=seed)

    def compute():
        profiles = gaveur_profiles(queries.lot_features(engine, p.sites, p.debut, p.fin), min_lots=min_lots)
        return profiles, model.fit(profiles)

    def write(conn: Connection, rid: int, output) -> dict:
        profiles, fitted = output
        rows = pd.DataFrame({"run_id": rid, "gaveur_id": profiles.index, "cluster": fitted.labels_.to_numpy(),
                             "nom_cluster": fitted.names_.to_numpy(), "distance": fitted.distances_.to_numpy(),
                             "profil": [row.to_json() for _, row in profiles[list(PROFILE)].round(3).iterrows()]})
        copy_dataframe(conn, "clusters_gaveurs", rows)
        cents = fitted.centroids_
        copy_dataframe(conn, "clusters_centroides", pd.DataFrame({
            "run_id": rid, "cluster": range(len(cents)), "nom_cluster": cents["nom_cluster"],
            "nb_gaveurs": cents["nb_gaveurs"],
            "centroide": [row.to_json() for _, row in cents[list(PROFILE)].round(3).iterrows()]}))
        return {"k": fitted.k_, "silhouettes": {str(k): round(v, 3) for k, v in fitted.silhouettes_.items()},
                "stabilites": {str(k): round(v, 3) for k, v in fitted.stabilites_.items()},
                "nb_gaveurs": len(profiles), "clusters": dict(zip(cents["nom_cluster"], cents["nb_gaveurs"].tolist(),
                                                                  strict=True))}

    return base.execute(engine, JOB, params, run_id, compute, write, lambda _: "scikit-learn KMeans")
