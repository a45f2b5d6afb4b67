"""Validation matrix: every model scored against the simulator's planted truths and its baseline.

Each scorer module (``simulateur``, ``regression``, ``lot_calculator``, ``anomalies``, ``clustering``, ``previsions``,
``alertes``, which loads each data set into a database of its own so the rules run as the triggers they are;
planning has no planted truth and is checked against exhaustive search instead) exposes
``score(donnees: SimulatedData) -> DataFrame`` with the columns
:data:`COLONNES`, one row per metric per cell (site, souche, horizon…). The runner
(:mod:`euralis_lib.validation.matrix`) runs them on many seeds × end dates and judges every goal on
the minimum over data sets, never on one. The model scorers work on the simulated data in memory: the
features come from :func:`lot_features`, the in-memory twin of :func:`euralis_lib.database.queries.lot_features`
(a test keeps the two equal on a loaded database).
"""

from __future__ import annotations

import math

import pandas as pd

from euralis_lib.simulator import SimulatedData

COLONNES = ["modele", "cellule", "metrique", "valeur", "reference", "objectif", "sens"]


def ligne(modele: str, cellule: str, metrique: str, valeur: float, *, reference: float = math.nan,
          objectif: float = math.nan, sens: str = "min") -> dict:
    """One result row. ``sens='min'``: higher is better and ``objectif`` is a floor on the minimum over
    data sets; ``sens='max'``: lower is better and ``objectif`` is a ceiling on the maximum."""
    if sens not in ("min", "max"):
        raise ValueError(f"sens must be 'min' or 'max', not {sens!r}")
    return {"modele": modele, "cellule": cellule, "metrique": metrique, "valeur": float(valeur),
            "reference": float(reference), "objectif": float(objectif), "sens": sens}


def tableau(lignes: list[dict]) -> pd.DataFrame:
    """Rows as a DataFrame with the :data:`COLONNES` columns first (extra ones, such as ``detail``, after)."""
    df = pd.DataFrame(lignes)
    return df.reindex(columns=COLONNES + [c for c in df.columns if c not in COLONNES])


def lot_features(donnees: SimulatedData) -> pd.DataFrame:
    """One row per lot with the same columns and values as :func:`euralis_lib.database.queries.lot_features`."""
    doses = donnees.doses.sort_values(["lot_id", "horodatage"])
    g = doses.groupby("lot_id")
    agg = pd.DataFrame({
        "nb_repas": g.size().astype(int),
        "dose_totale_kg": g["dose_g"].sum() / 1000.0,
        "dose_moyenne_g": g["dose_g"].mean(),
        "dose_finale_g": g["dose_g"].apply(lambda s: s.iloc[-4:].mean()),
        "ecart_courbe_g": (doses["dose_g"] - doses["dose_theorique_g"]).abs().groupby(doses["lot_id"]).mean(),
    })
    lots = donnees.lots.copy()
    lots["mortalite_pct"] = (100.0 * lots["nb_morts"] / lots["nb_canards_entres"]).round(3)
    lots["duree_jours"] = (pd.to_datetime(lots["fin"]) - pd.to_datetime(lots["debut"])).dt.days + 1
    ab = donnees.abattages.copy()
    ab["poids_foie_total_kg"] = (ab["nb_canards_abattus"] * ab["poids_foie_moyen_g"] / 1000.0).round(2)
    ab["itm"] = (ab["mais_total_kg"] / ab["poids_foie_total_kg"].where(ab["nb_canards_abattus"] > 0)).round(2)
    out = lots.merge(agg, left_on="lot_id", right_index=True, how="left").merge(ab, on="lot_id", how="left")
    for col in ("poids_foie_moyen_g", "sigma_g", "itm", "taux_fonte_pct", "jeune_h", "mais_total_kg",
                "poids_foie_total_kg", "poids_entree_moyen_kg"):
        out[col] = out[col].astype(float)
    return out.sort_values("lot_id").reset_index(drop=True)


def nom_jeu(donnees: SimulatedData) -> str:
    """A data set's name in the matrix: ``seed/end``."""
    p = donnees.parametres
    return f"{p['seed']}/{p['end']}"


__all__ = ["COLONNES", "ligne", "lot_features", "nom_jeu", "tableau"]
