"""The lot calculator (« Simulateur de lot »), without I/O: what a lot would give from its inputs.

A lot is described by its site × souche, entry weight, duration, dose plan and fasting hours before slaughter.
Its mean liver weight is the retained regression formula of the site × souche (job ``entrainement``) evaluated on
the plan's features; the 80 % interval adds the 10th and 90th percentiles of the formula's residuals on its
held-out lots. The other outputs follow from the liver weight and the lots of the past:

* ITM: corn eaten per kg of liver, the corn of the plan (dead ducks counted half, as the sites record it);
* grade mix: the grade shares of the past lots of the site × souche whose liver weight was nearest the
  predicted one (an empirical neighbourhood, not a model of the grades);
* margin per duck slaughtered: the finance indicators' prices (``prix_parametres``) applied to one duck, the
  transport of the lot left out (a cost per lot, not per duck).

The intervals of ITM, grades and margin are those outputs at the two ends of the liver-weight interval (their
neighbourhoods' shares), and for the grade shares the spread of the shares among the past lots inside it.
:func:`euralis_lib.jobs.lot_calculator.predict_lot` reads what these functions need from the database.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

VOISINS = 30  # past lots in a liver weight's neighbourhood
REPAS_PAR_JOUR = 2
NIVEAU = 0.8  # the intervals' coverage


class CalculatorError(ValueError):
    """An input the calculator cannot use; the message is French, meant for the page."""


@dataclass(frozen=True)
class Interval:
    """A predicted value and its 80 % interval (``bas`` ≤ ``valeur`` ≤ ``haut``)."""

    valeur: float
    bas: float
    haut: float

    def contains(self, x: float) -> bool:
        """True when ``x`` lies inside the interval (bounds included)."""
        return self.bas <= x <= self.haut


@dataclass(frozen=True)
class LotPrediction:
    """What the calculator predicts for a lot, each figure with its 80 % interval, and where it comes from."""

    site: str
    souche: str
    features: dict[str, float]
    poids_foie_g: Interval
    itm: Interval
    grades: dict[str, Interval]
    marge_par_canard_eur: Interval | None
    formule: str
    engine: str
    source: str
    nb_lots_voisins: int
    mortalite_pct: float


_OPERATEURS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


def evaluate(formule: str, features: Mapping[str, float | np.ndarray]) -> float | np.ndarray:
    """The value of a stored formula (``poids_foie_moyen_g = <expression>``, sympy's text) for ``features``.

    Only numbers, the features' names and + − × ÷ ** are accepted (a tiny evaluator, so a page needs no sympy);
    anything else raises :class:`CalculatorError`.
    """
    expression = formule.split("=", 1)[1] if "=" in formule else formule

    def valeur(node: ast.AST) -> float | np.ndarray:
        if isinstance(node, ast.Expression):
            return valeur(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in features:
                raise CalculatorError(f"La formule utilise {node.id}, que le calculateur ne fournit pas.")
            return features[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATEURS:
            return _OPERATEURS[type(node.op)](valeur(node.left), valeur(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATEURS:
            return _OPERATEURS[type(node.op)](valeur(node.operand))
        raise CalculatorError(f"Formule illisible : {formule}")

    return valeur(ast.parse(expression.strip(), mode="eval"))


def dose_plan(courbe: pd.DataFrame, duree_jours: int, *, dose_totale_kg: float | None = None,
              doses_jour_g: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(control curve, planned doses), g per duck for each meal of a lot of ``duree_jours`` days.

    The control curve is the one of ``courbe`` (:func:`euralis_lib.database.queries.control_curve`) for the
    number of meals nearest ``2 × duree_jours``, stretched to that many meals. The plan is the curve itself, or
    the curve scaled to ``dose_totale_kg`` per duck, or ``doses_jour_g`` (g per duck and day, one per day, split
    into the day's two meals).
    """
    if duree_jours < 1:
        raise CalculatorError("La durée de gavage doit être d'au moins un jour.")
    if courbe.empty:
        raise CalculatorError("Aucune courbe témoin lisible pour ce site et cette souche.")
    nb_repas = REPAS_PAR_JOUR * int(duree_jours)
    proche = min(courbe["nb_repas"].unique(), key=lambda n: (abs(n - nb_repas), -n))
    modele = courbe[courbe["nb_repas"] == proche].sort_values("repas")["dose_theorique_g"].to_numpy(float)
    position = np.linspace(0.0, 1.0, nb_repas)
    temoin = np.interp(position, np.linspace(0.0, 1.0, len(modele)), modele) if len(modele) > 1 else \
        np.full(nb_repas, modele[0])
    if doses_jour_g is not None:
        if dose_totale_kg is not None:
            raise CalculatorError("Donnez la dose totale ou les doses par jour, pas les deux.")
        if len(doses_jour_g) != duree_jours:
            raise CalculatorError(f"{len(doses_jour_g)} doses par jour pour {duree_jours} jours de gavage.")
        if min(doses_jour_g) <= 0:
            raise CalculatorError("Les doses par jour doivent être positives.")
        return temoin, np.repeat(np.asarray(doses_jour_g, float) / REPAS_PAR_JOUR, REPAS_PAR_JOUR)
    if dose_totale_kg is not None:
        if dose_totale_kg <= 0:
            raise CalculatorError("La dose totale doit être positive.")
        return temoin, temoin * (1000.0 * dose_totale_kg / temoin.sum())
    return temoin, temoin.copy()


def plan_features(temoin: np.ndarray, plan: np.ndarray, *, poids_entree_kg: float, duree_jours: int, jeune_h: float,
                  ecart_habituel_g: float) -> dict[str, float]:
    """The regression's features (:data:`euralis_lib.models.regression.FEATURES`) of a planned lot.

    ``ecart_courbe_g`` is the plan's mean distance to the control curve plus the gaveur's usual hand
    (``ecart_habituel_g``: the median deviation of past lots, planned or not), since a plan is never fed exactly.
    """
    return {"dose_totale_kg": float(plan.sum()) / 1000.0, "poids_entree_moyen_kg": float(poids_entree_kg),
            "duree_jours": float(duree_jours),
            "ecart_courbe_g": float(np.abs(plan - temoin).mean()) + float(ecart_habituel_g),
            "dose_finale_g": float(plan[-4:].mean()), "jeune_h": float(jeune_h)}


def liver_weight(formule: str, features: Mapping[str, float], residu_p10_g: float, residu_p90_g: float) -> Interval:
    """The formula's liver weight (g) with its 80 % interval: the held-out residuals' 10th and 90th percentiles
    added to it."""
    if not (np.isfinite(residu_p10_g) and np.isfinite(residu_p90_g)):
        raise CalculatorError("Formule sans résidus enregistrés : relancez le job entrainement.")
    valeur = float(evaluate(formule, features))
    return Interval(valeur, valeur + residu_p10_g, valeur + residu_p90_g)


def itm(dose_totale_kg: float, poids: Interval, mortalite_pct: float) -> Interval:
    """ITM (kg of corn per kg of liver) for a duck fed ``dose_totale_kg``: the sites record the corn of the
    ducks that died as half a lot's feeding, hence the mortality's factor. Its interval follows the liver's."""
    m = mortalite_pct / 100.0
    mais = dose_totale_kg * (1 - m / 2) / (1 - m)

    def de(g: float) -> float:
        return mais / (g / 1000.0) if g > 0 else float("nan")

    return Interval(de(poids.valeur), de(poids.haut), de(poids.bas))


def _voisins(lots: pd.DataFrame, poids_g: float, k: int = VOISINS) -> pd.DataFrame:
    return lots.iloc[np.argsort(np.abs(lots["poids_foie_moyen_g"].to_numpy(float) - poids_g), kind="stable")[:k]]


def grade_mix(lots: pd.DataFrame, poids: Interval, grades: Sequence[str]) -> dict[str, Interval]:
    """Share of each grade (0–1): the mean over the :data:`VOISINS` past lots nearest the predicted weight, its
    interval the 10th / 90th percentiles over the past lots inside the weight interval (at least the neighbours).
    ``lots``: :func:`euralis_lib.database.queries.lot_grades`."""
    if lots.empty:
        raise CalculatorError("Aucun lot abattu lisible pour ce site et cette souche : pas de répartition "
                              "des grades.")
    proches = _voisins(lots, poids.valeur)
    dedans = lots[lots["poids_foie_moyen_g"].between(poids.bas, poids.haut)]
    if len(dedans) < len(proches):
        dedans = proches
    out = {}
    for g in grades:
        bas, haut = np.quantile(dedans[f"part_{g}"], [(1 - NIVEAU) / 2, (1 + NIVEAU) / 2])
        out[g] = Interval(float(proches[f"part_{g}"].mean()), float(bas), float(haut))
    return out


def margin_per_duck(poids_g: float, dose_totale_kg: float, mortalite_pct: float, parts_kg: Mapping[str, float],
                    prix: Mapping[str, float | None], grade_prices: Mapping[str, str],
                    duck_costs: Sequence[str]) -> float:
    """Margin (EUR) per duck slaughtered, as the finance indicators count it for a lot, for one duck entered:
    livers at their grade's price (``parts_kg``: share of the liver weight per grade) and the carcass, less the
    ready-to-fatten duck, labour, energy and the corn eaten (dead ducks: half the corn). NaN if a price is missing."""
    def p(nom: str) -> float:
        v = prix.get(nom)
        return float("nan") if v is None else float(v)

    m = mortalite_pct / 100.0
    prix_foie = sum(parts_kg[g] * p(param) for g, param in grade_prices.items())
    revenu = (1 - m) * (poids_g / 1000.0 * prix_foie + p("prix_carcasse_eur_canard"))
    couts = sum(p(c) for c in duck_costs) + dose_totale_kg * (1 - m / 2) * p("prix_mais_eur_kg")
    return (revenu - couts) / (1 - m)


def margin(lots: pd.DataFrame, poids: Interval, dose_totale_kg: float, mortalite_pct: float,
           prix: Mapping[str, float | None], grade_prices: Mapping[str, str], duck_costs: Sequence[str]) -> Interval:
    """Margin per duck at the predicted weight and at both ends of its interval, each with the grade shares (by
    weight) of its own neighbourhood of past lots; the interval spans the three."""
    def a(g: float) -> float:
        proches = _voisins(lots, g)
        parts = {grade: float(proches[f"part_kg_{grade}"].mean()) for grade in grade_prices}
        return margin_per_duck(g, dose_totale_kg, mortalite_pct, parts, prix, grade_prices, duck_costs)

    valeurs = [a(poids.valeur), a(poids.bas), a(poids.haut)]
    return Interval(valeurs[0], min(valeurs), max(valeurs))
