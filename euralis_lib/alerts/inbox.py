"""Each user's alerts: list with filters, unread count, mark read, acknowledge, and per-rule figures.

Every function runs on the caller's engine, i.e. as the logged-in user on the dashboards: PostgreSQL's
row-level security decides which alerts exist for him (a gaveur his own, a site-restricted supervisor
his sites, an admin all of them, ``sql/112``, ``151``, ``181``), and whose read state and
acknowledgement a write is credited to (the kernel token's user, whatever the statement says).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib.alerts import ISSUES, AlertError
from euralis_lib.database import db

LIMITE = 500


@dataclass(frozen=True)
class FiltreAlertes:
    """The alert centre's filters; None or empty means « all ». The site filter keeps the alerts without a
    site (workbench alerts, which only admins read)."""

    debut: date | None = None
    fin: date | None = None
    sites: Sequence[str] = field(default_factory=tuple)
    gaveurs: Sequence[int] = field(default_factory=tuple)
    severites: Sequence[str] = field(default_factory=tuple)
    type_alerte: str | None = None
    lues: bool | None = None
    acquittees: bool | None = None

    def parametres(self) -> dict[str, object]:
        """The bound parameters of :data:`_FILTRE`."""
        return {"debut": self.debut, "fin": self.fin, "sites": list(self.sites) or None,
                "gaveurs": [int(g) for g in self.gaveurs] or None, "severites": list(self.severites) or None,
                "type": self.type_alerte, "lues": self.lues, "acquittees": self.acquittees}


# One WHERE clause for every filter; a NULL parameter leaves its filter out.
_FILTRE = """
    (CAST(:debut AS date) IS NULL OR a.horodatage >= CAST(:debut AS date))
    AND (CAST(:fin AS date) IS NULL OR a.horodatage < CAST(:fin AS date) + 1)
    AND (CAST(:sites AS text[]) IS NULL OR a.site_code IS NULL OR a.site_code = ANY (CAST(:sites AS text[])))
    AND (CAST(:gaveurs AS integer[]) IS NULL OR a.gaveur_id = ANY (CAST(:gaveurs AS integer[])))
    AND (CAST(:severites AS text[]) IS NULL OR a.severite = ANY (CAST(:severites AS text[])))
    AND (CAST(:type AS text) IS NULL OR a.type = CAST(:type AS text))
    AND (CAST(:lues AS boolean) IS NULL OR (l.alerte_id IS NOT NULL) = CAST(:lues AS boolean))
    AND (CAST(:acquittees AS boolean) IS NULL OR a.acquittee = CAST(:acquittees AS boolean))
"""
_LUES = "LEFT JOIN alertes_lues l ON l.alerte_id = a.alerte_id AND l.login = (SELECT euralis_lecteur())"


def alertes(engine: Engine, filtre: FiltreAlertes, limite: int = LIMITE) -> pd.DataFrame:
    """The alerts the user reads that pass ``filtre``, newest first (at most ``limite``), with the rule's
    label, the gaveur and lot codes, whether the user read each one and its acknowledgement."""
    return db.read_df(engine, f"""
        SELECT a.alerte_id, a.horodatage, a.site_code, g.code AS gaveur, lg.code_lot AS lot, a.lot_id, a.type,
               COALESCE(r.libelle, a.type) AS regle, a.severite, a.message, a.source,
               l.alerte_id IS NOT NULL AS lue, a.acquittee, q.login AS acquittee_par, q.horodatage AS acquittee_le,
               q.issue, q.commentaire
        FROM alertes a {_LUES}
        LEFT JOIN regles_alertes r ON r.type_alerte = a.type
        LEFT JOIN gaveurs g ON g.gaveur_id = a.gaveur_id
        LEFT JOIN lots_gavage lg ON lg.lot_id = a.lot_id
        LEFT JOIN alertes_acquittements q ON q.alerte_id = a.alerte_id
        WHERE {_FILTRE}
        ORDER BY a.horodatage DESC, a.alerte_id DESC
        LIMIT :limite""", {**filtre.parametres(), "limite": int(limite)})


def nombre(engine: Engine, filtre: FiltreAlertes) -> int:
    """How many alerts the user reads pass ``filtre``."""
    with db.connect(engine) as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM alertes a {_LUES} WHERE {_FILTRE}"),
                                filtre.parametres()).scalar_one())


def non_lues(engine: Engine) -> int:
    """The user's unread alerts (``alertes_non_lues()``, under row-level security)."""
    with db.connect(engine) as conn:
        return int(conn.execute(sa.text("SELECT alertes_non_lues()")).scalar_one())


def marquer_lues(engine: Engine, ids: Sequence[int]) -> int:
    """Mark the alerts ``ids`` read for the user (those he may read); returns how many became read."""
    with db.connect(engine, transaction=True) as conn:
        return conn.execute(sa.text(
            "INSERT INTO alertes_lues (login, alerte_id) SELECT euralis_lecteur(), a.alerte_id FROM alertes a "
            "WHERE a.alerte_id = ANY (CAST(:ids AS bigint[])) ON CONFLICT DO NOTHING"),
            {"ids": [int(i) for i in ids]}).rowcount


def marquer_non_lue(engine: Engine, alerte_id: int) -> None:
    """Mark one alert unread again for the user."""
    with db.connect(engine, transaction=True) as conn:
        conn.execute(sa.text("DELETE FROM alertes_lues WHERE login = euralis_lecteur() AND alerte_id = :id"),
                     {"id": int(alerte_id)})


def acquitter(engine: Engine, alerte_id: int, issue: str, commentaire: str = "") -> None:
    """Acknowledge an alert the user reads: outcome ``probleme_reel`` or ``fausse_alerte`` and a comment.
    The database credits it to the user, marks the alert acknowledged and read, and audits it."""
    if issue not in ISSUES:
        raise AlertError(f"Issue inconnue {issue!r} : « problème réel » ou « fausse alerte ».")
    if len(commentaire) > 2000:
        raise AlertError("Le commentaire dépasse 2000 caractères.")
    with db.connect(engine, transaction=True) as conn:
        if conn.execute(sa.text("SELECT count(*) FROM alertes WHERE alerte_id = :id"),
                        {"id": int(alerte_id)}).scalar_one() == 0:
            raise AlertError(f"Alerte {int(alerte_id)} inconnue ou hors de votre périmètre.")
        inseree = conn.execute(sa.text(
            "INSERT INTO alertes_acquittements (alerte_id, login, commentaire, issue) "
            "VALUES (:id, euralis_lecteur(), :c, :i) ON CONFLICT (alerte_id) DO NOTHING"),
            {"id": int(alerte_id), "c": commentaire.strip(), "i": issue}).rowcount
        if not inseree:
            raise AlertError(f"L'alerte {int(alerte_id)} est déjà acquittée.")


@dataclass(frozen=True)
class ContexteLot:
    """What the alert centre shows of an alert's lot: the lot (site, gaveur, period, ducks, deaths), its meals
    against the control curve, and the latest anomalies score with why the lot was flagged (None if never scored)."""

    lot: dict[str, object]
    doses: pd.DataFrame
    anomalie: dict[str, object] | None


def contexte_lot(engine: Engine, alerte_id: int) -> ContexteLot | None:
    """The lot of alert ``alerte_id``, read as the user: None when the alert has no lot, or when he may read
    neither the alert nor the lot (row-level security: a gaveur only reaches his own)."""
    with db.connect(engine) as conn:
        lot = conn.execute(sa.text("""
            SELECT l.lot_id, l.code_lot, l.site_code, g.code AS gaveur, g.nom AS gaveur_nom, l.debut, l.fin,
                   l.nb_canards_entres, l.nb_morts,
                   round(100.0 * l.nb_morts / NULLIF(l.nb_canards_entres, 0), 2) AS mortalite_pct
            FROM alertes a JOIN lots_gavage l ON l.lot_id = a.lot_id JOIN gaveurs g ON g.gaveur_id = l.gaveur_id
            WHERE a.alerte_id = :a"""), {"a": int(alerte_id)}).mappings().first()
        if lot is None:
            return None
        anomalie = conn.execute(sa.text(
            "SELECT run_id, score, est_anomalie, critique, explication, contributions FROM anomalies_lots "
            "WHERE lot_id = :l "
            "ORDER BY run_id DESC LIMIT 1"), {"l": lot["lot_id"]}).mappings().first()
    doses = db.read_df(engine, "SELECT jour, repas, dose_g, dose_theorique_g FROM doses_gavage WHERE lot_id = :l "
                               "ORDER BY repas", {"l": lot["lot_id"]})
    return ContexteLot(dict(lot), doses, dict(anomalie) if anomalie else None)


def par_regle(engine: Engine, debut: date | None = None, fin: date | None = None) -> pd.DataFrame:
    """Per rule, over the alerts the user reads in the period: raised, acknowledged, and the share of the
    acknowledged ones judged « fausse alerte » (percent, None before any acknowledgement)."""
    return db.read_df(engine, f"""
        SELECT r.code, r.libelle, r.severite, r.actif, r.evaluee,
               count(a.alerte_id) AS levees, count(q.alerte_id) AS acquittees,
               round(100.0 * count(*) FILTER (WHERE q.issue = 'fausse_alerte') / NULLIF(count(q.alerte_id), 0), 1)
                   AS part_fausses_pct
        FROM regles_alertes r
        LEFT JOIN (SELECT a.* FROM alertes a {_LUES} WHERE {_FILTRE}) a ON a.type = r.type_alerte
        LEFT JOIN alertes_acquittements q ON q.alerte_id = a.alerte_id
        GROUP BY r.code, r.libelle, r.severite, r.actif, r.evaluee
        ORDER BY levees DESC, r.code""", FiltreAlertes(debut=debut, fin=fin).parametres())
