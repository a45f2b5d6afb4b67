"""Job ``entrainement``: a symbolic-regression formula of liver weight per site × souche.

Each Pareto front is stored with the engine that produced it (PySR where Julia exists, the
term-library engine otherwise: :mod:`euralis_lib.models.regression`), and its fair baselines on the
same held-out lots (ridge/lasso over the same term library, gradient boosting:
:mod:`euralis_lib.models.baselines`) in ``regression_references``; the run's metrics carry each
retained formula's held-out R² next to the best baseline's. Combinations with too few lots are
recorded with the reason instead of a formula.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Connection, Engine

from euralis_lib.database import queries
from euralis_lib.database.db import copy_dataframe
from euralis_lib.jobs import base
from euralis_lib.models.regression import CIBLE, train_all

JOB = "entrainement"


def run(engine: Engine, *, run_id: int | None, sites: list[str] | None, debut: str | None, fin: str | None,
        seed: int, generations: int, min_lots: int) -> dict:
    """Train per site × souche and store each Pareto front with its engine."""
    params = base.arguments(locals())
    p = base.perimetre(engine, JOB, sites, debut, fin)

    def compute():
        features = queries.lot_features(engine, p.sites, p.debut, p.fin)
        return train_all(features, seed=seed, generations=generations, min_lots=min_lots)

    def write(conn: Connection, rid: int, output) -> dict:
        fitted, skipped = output
        rows = [{"run_id": rid, "site_code": site, "souche_code": souche, "cible": CIBLE, "rang_pareto": i,
                 "formule": f.texte, "engine": model.engine_, "complexite": f.complexite, "r2_test": f.r2_test,
                 "mae_test": f.mae_test, "n_train": model.n_train_, "n_test": model.n_test_,
                 "est_retenue": f.est_retenue, "residu_p10_g": f.residu_p10_g, "residu_p90_g": f.residu_p90_g}
                for (site, souche), model in fitted.items() for i, f in enumerate(model.pareto_)]
        references = [{"run_id": rid, "site_code": site, "souche_code": souche, "cible": CIBLE,
                       "reference": b.nom, "r2_test": b.r2_test, "nb_termes": b.nb_termes,
                       "est_polynomiale": b == model.polynomial_baseline_, "est_meilleure": b == model.best_baseline_}
                      for (site, souche), model in fitted.items() for b in model.baselines_]
        if rows:
            copy_dataframe(conn, "formules_regression", pd.DataFrame(rows))
            copy_dataframe(conn, "regression_references", pd.DataFrame(references).astype({"nb_termes": "Int64"}))
        if skipped:
            copy_dataframe(conn, "regression_ignores", pd.DataFrame(
                [{"run_id": rid, "site_code": s, "souche_code": so, "raison": r} for (s, so), r in skipped.items()]))
        return {"modeles": {f"{s}/{so}": {"r2_test": round(m.formula_.r2_test, 4),
                                          "meilleure_reference": m.best_baseline_.nom,
                                          "r2_test_meilleure_reference": round(m.best_baseline_.r2_test, 4),
                                          "nb_termes": m.formula_.nb_termes,
                                          "nb_termes_polynomiale": m.polynomial_baseline_.nb_termes,
                                          "mae_test": round(m.formula_.mae_test, 2),
                                          "complexite": m.formula_.complexite, "formule": m.formula_.texte}
                            for (s, so), m in fitted.items()},
                "ignores": {f"{s}/{so}": r for (s, so), r in skipped.items()}}

    def engine_name(output) -> str | None:
        fitted, _ = output
        return next(iter(fitted.values())).engine_ if fitted else None

    return base.execute(engine, JOB, params, run_id, compute, write, engine_name)
