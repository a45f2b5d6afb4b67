"""Scores the alert rules against the events the simulator plants, per data set (issue 22).

The rules are evaluated by PostgreSQL where the data lands (triggers of ``sql/183`` and ``sql/189``), so a
data set is loaded into a database of its own (:func:`score_base`; :func:`score` starts a throw-away
cluster for it) exactly as ``make run`` loads the simulated data, and the alerts the rules raised are
compared with the planted truths (``simulation_verites``, genre ``anomalie``):

* ``mortalite_lot`` at its critical level against the planted mortality spikes;
* ``doses_hors_courbe`` against the planted feeding cuts (doses cut for several meals in a row).

Metrics per rule: precision and recall (goal ≥ 0.95 each), and the alerts a second evaluation of every
lot and every meal adds (``UPDATE … SET x = x`` fires the same triggers an unchanged re-import would;
goal 0: the dedup key holds). A job that fails is not planted by the simulator: ``job_echec`` is checked
in ``tests/test_scheduler.py`` against a notebook that really fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib import simulator
from euralis_lib.database import db, embedded, migrations
from euralis_lib.simulator import SimulatedData
from euralis_lib.validation import ligne, tableau

MODELE = "alertes"
OBJECTIF = 0.95


@dataclass(frozen=True)
class PlantedRule:
    """A rule judged against one kind of planted event: which alerts count and which truths they should find."""

    code: str
    type_alerte: str
    severite: str | None  # None: every severity of the rule counts
    anomalie: str  # valeur ->> 'type' of the planted truth


RULES = (PlantedRule("mortalite_lot", "mortalite", "critique", "mortalite"),
         PlantedRule("doses_hors_courbe", "doses_hors_courbe", None, "alimentation"))

# Writes that re-run every rule trigger on unchanged rows (what an unchanged re-import does).
_REEVALUATE = ("UPDATE lots_gavage SET nb_morts = nb_morts", "UPDATE doses_gavage SET dose_g = dose_g")


def _raised(conn: sa.Connection, rule: PlantedRule) -> set[int]:
    return set(conn.execute(sa.text(
        "SELECT DISTINCT lot_id FROM alertes WHERE type = :t AND lot_id IS NOT NULL "
        "AND (CAST(:s AS text) IS NULL OR severite = :s)"), {"t": rule.type_alerte, "s": rule.severite}).scalars())


def _planted(conn: sa.Connection, rule: PlantedRule) -> set[int]:
    return set(conn.execute(sa.text(
        "SELECT cle::int FROM simulation_verites WHERE genre = 'anomalie' AND valeur ->> 'type' = :a"),
        {"a": rule.anomalie}).scalars())


def score_base(engine: Engine, donnees: SimulatedData) -> pd.DataFrame:
    """Load ``donnees`` into ``engine``'s database (migrated, empty) and score every rule of :data:`RULES`."""
    simulator.load(engine, donnees)
    rows = []
    with engine.connect() as conn:
        for rule in RULES:
            raised, planted = _raised(conn, rule), _planted(conn, rule)
            found = len(raised & planted)
            rows += [ligne(MODELE, rule.code, "precision", found / len(raised) if raised else 0.0, objectif=OBJECTIF),
                     ligne(MODELE, rule.code, "rappel", found / len(planted) if planted else 0.0, objectif=OBJECTIF),
                     ligne(MODELE, rule.code, "evenements_plantes", len(planted))]
        before = conn.execute(sa.text("SELECT count(*) FROM alertes")).scalar_one()
    with db.connect(engine, transaction=True) as conn:
        for statement in _REEVALUATE:
            conn.execute(sa.text(statement))
    with engine.connect() as conn:
        added = conn.execute(sa.text("SELECT count(*) FROM alertes")).scalar_one() - before
    rows.append(ligne(MODELE, "ensemble", "alertes_ajoutees_reevaluation", added, objectif=0.0, sens="max"))
    return tableau(rows)


def score(donnees: SimulatedData) -> pd.DataFrame:
    """:func:`score_base` in a database of a throw-away cluster (started and deleted here)."""
    with embedded.throwaway_cluster("eurva-") as socket_dir:
        engine = db.get_engine(embedded.fresh_database(socket_dir, "validation_alertes"))
        try:
            migrations.apply_migrations(engine)
            return score_base(engine, donnees)
        finally:
            engine.dispose()
