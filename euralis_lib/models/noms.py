"""The models' codes and the French names users read for them, apart from the models themselves: pages and
reports import this module without loading scikit-learn, sympy or Prophet into every kernel
(tests/test_dashboards.py::test_a_page_kernel_loads_no_model_library)."""

from __future__ import annotations

NAIF = "naif_saisonnier"
# Forecasting candidates (euralis_lib.models.forecasting.MODELES).
PREVISION = {NAIF: "Naïf saisonnier", "prophet": "Prophet", "harmonique": "Régression harmonique (SARIMAX)",
             "cycles": "Cycles des gaveurs (lots en cours puis rythme de chaque gaveur)"}
# Baselines of the symbolic regression (euralis_lib.models.baselines).
REFERENCES = {"polynomiale_ridge": "polynomiale (ridge)", "polynomiale_lasso": "polynomiale (lasso)",
              "boosting": "boosting de gradient"}
# What a site measures on every lot, as the lot anomalies model reads it (euralis_lib.models.anomalies.FEATURES):
# French label and unit.
INDICATEURS_LOT = {"mortalite_pct": ("mortalité", "%"), "ecart_courbe_g": ("écart à la courbe", "g"),
                   "dose_totale_kg": ("maïs par canard", "kg"), "dose_finale_g": ("doses finales", "g"),
                   "sigma_g": ("sigma", "g"), "itm": ("ITM", ""), "poids_foie_moyen_g": ("poids de foie", "g"),
                   "taux_fonte_pct": ("taux de fonte", "%")}
