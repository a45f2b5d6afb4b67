"""The lot calculator on the database: :func:`predict_lot`, what the « Simulateur de lot » page and a data
scientist's notebook call. It reads, with the user's rights (row-level security), the retained formula of the
published ``entrainement`` run (job_runs.etape), the control curve and past lots of the site × souche, and the prices;
the arithmetic is :mod:`euralis_lib.models.lot_calculator`'s."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from euralis_lib.database import queries
from euralis_lib.jobs import results
from euralis_lib.models import lot_calculator as calc
from euralis_lib.models.lot_calculator import CalculatorError, LotPrediction


def choices(engine: Engine, run_id: int | None = None) -> list[tuple[str, str]]:
    """The (site, souche) pairs the user may simulate: a retained formula he may read and lots of his of that
    site × souche (a gaveur: his own site and souches; a supervisor: his sites)."""
    formules = results.formules_retenues(engine, run_id)
    if formules.empty:
        return []
    lus = set(queries.site_souches(engine))
    return sorted(p for p in zip(formules.data["site_code"], formules.data["souche_code"], strict=True) if p in lus)


def predict_lot(engine: Engine, *, site: str, souche: str, poids_entree_kg: float, duree_jours: int, jeune_h: float,
                dose_totale_kg: float | None = None, doses_jour_g: Sequence[float] | None = None,
                jour: date | None = None, run_id: int | None = None) -> LotPrediction:
    """Predict a lot of ``site`` × ``souche``: mean liver weight, ITM, grade mix and margin per duck, each with its
    80 % interval, from the retained formula of the published ``entrainement`` run (or ``run_id``).

    The dose plan is the site × souche's control curve for ``duree_jours`` days, or that curve scaled to
    ``dose_totale_kg`` (kg of corn per duck), or ``doses_jour_g`` (g per duck and day, one value per day). Prices
    are those in force on ``jour`` (default today). Raises :class:`CalculatorError` (French) when something is
    missing: no formula, no readable lot, a wrong plan.
    """
    formules = results.formules_retenues(engine, run_id)
    if formules.empty:
        raise CalculatorError("Aucune formule : lancez le job entrainement.")
    ligne = formules.data[(formules.data["site_code"] == site) & (formules.data["souche_code"] == souche)]
    if ligne.empty:
        raise CalculatorError(f"Aucune formule retenue lisible pour {site} / {souche}.")
    formule = ligne.iloc[0]
    lots = queries.lot_grades(engine, site, souche)
    if lots.empty:
        raise CalculatorError(f"Aucun lot abattu lisible pour {site} / {souche}.")
    temoin, plan = calc.dose_plan(queries.control_curve(engine, site, souche), duree_jours,
                                  dose_totale_kg=dose_totale_kg, doses_jour_g=doses_jour_g)
    passes = queries.lot_features(engine, [site])
    passes = passes[(passes["souche_code"] == souche) & passes["poids_foie_moyen_g"].notna()]
    features = calc.plan_features(temoin, plan, poids_entree_kg=poids_entree_kg, duree_jours=duree_jours,
                                  jeune_h=jeune_h, ecart_habituel_g=float(passes["ecart_courbe_g"].median()))
    mortalite = float(lots["mortalite_pct"].median())
    poids = calc.liver_weight(formule["formule"], features, float(formule["residu_p10_g"]),
                              float(formule["residu_p90_g"]))
    prix = queries.prices(engine, site, jour or date.today())
    marge = calc.margin(lots, poids, features["dose_totale_kg"], mortalite, prix, queries.GRADE_PRICES,
                        queries.DUCK_COSTS)
    return LotPrediction(
        site=site, souche=souche, features=features, poids_foie_g=poids,
        itm=calc.itm(features["dose_totale_kg"], poids, mortalite),
        grades=calc.grade_mix(lots, poids, list(queries.GRADE_PRICES)),
        marge_par_canard_eur=None if pd.isna(marge.valeur) else marge, formule=str(formule["formule"]),
        engine=str(formule["engine"]), source=formules.source(), nb_lots_voisins=min(len(lots), calc.VOISINS),
        mortalite_pct=mortalite)


__all__ = ["CalculatorError", "LotPrediction", "choices", "predict_lot"]
