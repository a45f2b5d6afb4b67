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
