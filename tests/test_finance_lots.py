"""finance_lots (sql/206): each lot's revenue and cost parts, kept by triggers, equal a straightforward per-lot
computation with prix_a() (the query finance_indicateurs ran before issue 25) on the simulated data, and stay
equal after every kind of change: prices, grades, slaughters, distances, lots. No stale row, ever."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from euralis_lib.database import db, queries

# The per-lot computation finance_indicateurs ran before sql/206: a dozen prix_a() calls per lot.
_GRADE = ("CASE q.grade WHEN 'Extra' THEN 'prix_foie_extra_eur_kg' WHEN 'Premier choix' THEN "
          "'prix_foie_premier_choix_eur_kg' WHEN 'Second choix' THEN 'prix_foie_second_choix_eur_kg' "
          "ELSE 'prix_foie_declasse_eur_kg' END")
REFERENCE = f"""
    SELECT l.lot_id, l.site_code, l.gaveur_id, g.nom AS gaveur_nom, a.date_abattage,
           date_trunc('month', a.date_abattage)::date AS mois, a.nb_canards_abattus, l.nb_canards_entres,
           COALESCE((SELECT sum(q.poids_kg * prix_a({_GRADE}, l.site_code, a.date_abattage))
                     FROM qualite_foies q WHERE q.lot_id = l.lot_id),
                    a.poids_foie_total_kg * prix_a('prix_foie_premier_choix_eur_kg', l.site_code, a.date_abattage))
               AS revenu_foie_eur,
           a.nb_canards_abattus * prix_a('prix_carcasse_eur_canard', l.site_code, a.date_abattage)
               AS revenu_carcasse_eur,
           l.nb_canards_entres * prix_a('prix_canard_pag_eur', l.site_code, l.debut) AS cout_canards_eur,
           a.mais_total_kg * prix_a('prix_mais_eur_kg', l.site_code, a.date_abattage) AS cout_mais_eur,
           l.nb_canards_entres * prix_a('cout_main_oeuvre_eur_canard', l.site_code, a.date_abattage)
               AS cout_main_oeuvre_eur,
           l.nb_canards_entres * prix_a('cout_energie_eur_canard', l.site_code, a.date_abattage) AS cout_energie_eur,
           2 * g.distance_km * prix_a('cout_transport_eur_km', l.site_code, a.date_abattage) AS cout_transport_eur
    FROM lots_gavage l JOIN abattages a USING (lot_id) JOIN gaveurs g ON g.gaveur_id = l.gaveur_id"""
PARTS = ("revenu_foie_eur", "revenu_carcasse_eur", "cout_canards_eur", "cout_mais_eur", "cout_main_oeuvre_eur",
         "cout_energie_eur", "cout_transport_eur")
COLUMNS = ("site_code", "gaveur_id", "date_abattage", "mois", "nb_canards_abattus", "nb_canards_entres", *PARTS)
# Lots whose stored row is missing, extra, or differs in any column from the reference (numeric, exactly).
_ECARTS = f"""
    SELECT COALESCE(r.lot_id, f.lot_id) FROM ({REFERENCE}) r FULL JOIN finance_lots f USING (lot_id)
    WHERE r.lot_id IS NULL OR f.lot_id IS NULL
       OR ({', '.join('r.' + c for c in COLUMNS)}) IS DISTINCT FROM ({', '.join('f.' + c for c in COLUMNS)})
    ORDER BY 1"""


@pytest.fixture
def engine(sim_db_url) -> Iterator[sa.Engine]:
    engine = db.get_engine(sim_db_url)
    yield engine
    engine.dispose()


def _ecarts(conn: Connection) -> list[int]:
    return list(conn.execute(sa.text(_ECARTS)).scalars())


def _reference_indicators(conn: Connection, niveau: str) -> pd.DataFrame:
    """finance_indicateurs' sums, from the reference computation (pandas sums of the exact numeric rows)."""
    keys = ["site_code", "mois"] if niveau == "site" else ["site_code", "gaveur_id", "gaveur_nom", "mois"]
    parts = ", ".join(f"sum({c})::float AS {c}" for c in PARTS)
    return pd.read_sql_query(sa.text(f"""
        SELECT {', '.join(keys)}, count(*)::int AS nb_lots, sum(nb_canards_abattus)::int AS nb_canards, {parts}
        FROM ({REFERENCE}) r GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}"""), conn)


def test_stored_lots_and_indicators_equal_the_per_lot_computation(engine):
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM finance_lots")).scalar_one() > 500
        assert _ecarts(conn) == []
        for niveau in ("site", "gaveur"):
            attendu = _reference_indicators(conn, niveau)
            obtenu = queries.finance_indicateurs(engine, niveau=niveau)
            attendu["mois"] = pd.to_datetime(attendu["mois"])
            pd.testing.assert_frame_equal(obtenu[list(attendu.columns)], attendu, check_exact=True)
        # Control: the comparison sees a single altered cent.
        lot = conn.execute(sa.text("UPDATE finance_lots SET cout_mais_eur = cout_mais_eur + 0.01 WHERE lot_id = "
                                   "(SELECT min(lot_id) FROM finance_lots) RETURNING lot_id")).scalar_one()
        assert _ecarts(conn) == [lot]
        conn.rollback()


def _month(engine, site: str, mois: str, niveau: str = "site") -> pd.Series:
    df = queries.finance_indicateurs(engine, sites=site, niveau=niveau)
    return df[df["mois"] == pd.Timestamp(mois)].iloc[0]


def _lot(conn: Connection) -> sa.Row:
    """A slaughtered lot of LL with grade rows, in the middle of the data."""
    return conn.execute(sa.text("""
        SELECT l.lot_id, l.gaveur_id, a.date_abattage, date_trunc('month', a.date_abattage)::date AS mois
        FROM lots_gavage l JOIN abattages a USING (lot_id)
        WHERE l.site_code = 'LL' AND EXISTS (SELECT FROM qualite_foies q WHERE q.lot_id = l.lot_id)
        ORDER BY a.date_abattage, l.lot_id OFFSET (SELECT count(*) / 6 FROM abattages) LIMIT 1""")).one()


def test_each_kind_of_change_updates_the_figures_in_the_same_transaction(engine):
    with engine.connect() as conn:
        lot = _lot(conn)
        mois = str(lot.mois)
        avant = _month(engine, "LL", mois)
        autre = _month(engine, "MT", mois)

        # A price for LL from the lot's slaughter on: LL's corn from then on, not MT's.
        conn.execute(sa.text("INSERT INTO prix_parametres (parametre, site_code, valide_du, valeur, unite) "
                             "VALUES ('prix_mais_eur_kg', 'LL', :d, 9.5, 'EUR/kg')"), {"d": lot.date_abattage})
        conn.commit()
        assert _ecarts(conn) == []
        assert _month(engine, "LL", mois)["cout_mais_eur"] > avant["cout_mais_eur"]
        assert _month(engine, "MT", mois)["cout_mais_eur"] == autre["cout_mais_eur"]
        # ... updated, then deleted: back to the figures before.
        ce_prix = "parametre = 'prix_mais_eur_kg' AND site_code = 'LL' AND valide_du = :d"
        conn.execute(sa.text(f"UPDATE prix_parametres SET valeur = 0.01 WHERE {ce_prix}"), {"d": lot.date_abattage})
        conn.commit()
        assert _ecarts(conn) == [] and _month(engine, "LL", mois)["cout_mais_eur"] < avant["cout_mais_eur"]
        conn.execute(sa.text(f"DELETE FROM prix_parametres WHERE {ce_prix}"), {"d": lot.date_abattage})
        conn.commit()
        assert _ecarts(conn) == [] and _month(engine, "LL", mois)["cout_mais_eur"] == avant["cout_mais_eur"]

        # Grades: none left (livers priced 'premier choix' from their total weight), then one added.
        conn.execute(sa.text("DELETE FROM qualite_foies WHERE lot_id = :l"), {"l": lot.lot_id})
        conn.commit()
        assert _ecarts(conn) == []
        sans = _month(engine, "LL", mois)["revenu_foie_eur"]
        assert sans != avant["revenu_foie_eur"]
        conn.execute(sa.text("INSERT INTO qualite_foies (lot_id, grade, nb_foies, poids_kg) "
                             "VALUES (:l, 'Extra', 10, 6.5)"), {"l": lot.lot_id})
        conn.commit()
        assert _ecarts(conn) == [] and _month(engine, "LL", mois)["revenu_foie_eur"] != sans

        # A gaveur's distance, a lot's ducks entered.
        conn.execute(sa.text("UPDATE gaveurs SET distance_km = distance_km + 100 WHERE gaveur_id = :g"),
                     {"g": lot.gaveur_id})
        conn.execute(sa.text("UPDATE lots_gavage SET nb_canards_entres = nb_canards_entres + 1 WHERE lot_id = :l"),
                     {"l": lot.lot_id})
        conn.commit()
        assert _ecarts(conn) == []
        apres = _month(engine, "LL", mois)
        assert apres["cout_transport_eur"] > avant["cout_transport_eur"]
        assert apres["cout_canards_eur"] > avant["cout_canards_eur"]

        # A slaughter deleted (its grades first): the lot leaves its month.
        conn.execute(sa.text("DELETE FROM qualite_foies WHERE lot_id = :l; DELETE FROM abattages WHERE lot_id = :l"),
                     {"l": lot.lot_id})
        conn.commit()
        assert _ecarts(conn) == []
        assert _month(engine, "LL", mois)["nb_lots"] == avant["nb_lots"] - 1


def test_a_missing_price_gives_nan_never_a_made_up_value(engine):
    with engine.connect() as conn:
        conn.execute(sa.text("DELETE FROM prix_parametres WHERE parametre = 'cout_energie_eur_canard'"))
        conn.execute(sa.text("TRUNCATE qualite_foies"))
        conn.commit()
        assert _ecarts(conn) == []
        assert conn.execute(sa.text("SELECT count(*) FROM finance_lots WHERE cout_energie_eur IS NOT NULL "
                                    "OR revenu_foie_eur IS NULL")).scalar_one() == 0
    df = queries.finance_indicateurs(engine)
    assert df["cout_energie_eur"].isna().all() and df["couts_eur"].isna().all() and df["marge_eur"].isna().all()
    assert df["revenu_foie_eur"].notna().all()


def test_concurrent_writers_leave_no_stale_row(engine):
    """A price change and a slaughter's update of the same lot, in two open transactions: the second waits for the
    first's commit and recomputes with its price (without the lock it read the old price, or hit the first's
    new row)."""
    with engine.connect() as premiere, engine.connect() as seconde:
        lot = _lot(premiere)
        premiere.execute(sa.text("INSERT INTO prix_parametres (parametre, site_code, valide_du, valeur, unite) "
                                 "VALUES ('prix_mais_eur_kg', 'LL', :d, 9.5, 'EUR/kg')"), {"d": lot.date_abattage})
        erreurs = []

        def ecrire() -> None:
            try:
                seconde.execute(sa.text("UPDATE abattages SET mais_total_kg = mais_total_kg + 1 WHERE lot_id = :l"),
                                {"l": lot.lot_id})
                seconde.commit()
            except Exception as exc:  # reported below, in the test's thread
                erreurs.append(exc)

        fil = threading.Thread(target=ecrire)
        fil.start()
        fil.join(1.0)
        assert fil.is_alive(), "the second writer should wait for the first's commit"
        premiere.commit()
        fil.join(60)
        assert not fil.is_alive() and erreurs == []
        assert _ecarts(premiere) == []
