"""The database itself refuses nonsense rows."""

import pytest
import sqlalchemy as sa

from euralis_lib.database import db

BAD_ROWS = {
    "negative dose": "INSERT INTO doses_gavage (horodatage, lot_id, jour, repas, dose_g) VALUES (now(), 1, 1, 1, -5)",
    "mortality above lot size": "UPDATE lots_gavage SET nb_morts = nb_canards_entres + 1 WHERE lot_id = 1",
    "inverted lot period": "UPDATE lots_gavage SET fin = debut - 1 WHERE lot_id = 1",
    "lot larger than any building": "UPDATE lots_gavage SET nb_canards_entres = 100000 WHERE lot_id = 1",
    "unknown site": "UPDATE gaveurs SET site_code = 'ZZ' WHERE gaveur_id = 1",
    "negative sigma": "UPDATE abattages SET sigma_g = -1 WHERE lot_id = (SELECT min(lot_id) FROM abattages)",
    "unknown alert severity": (
        "UPDATE alertes SET severite = 'grave' WHERE alerte_id = (SELECT min(alerte_id) FROM alertes)"),
    "feeding record of an unknown lot": (
        "INSERT INTO doses_gavage (horodatage, lot_id, jour, repas, dose_g) VALUES (now(), 999999, 1, 1, 200)"),
    "unknown grade": "INSERT INTO qualite_foies VALUES ((SELECT min(lot_id) FROM abattages), 'Super', 1, 1)",
    "negative price": "INSERT INTO prix_parametres VALUES ('prix_mais_eur_kg', NULL, '2020-01-01', -1, 'EUR/kg')",
}


@pytest.mark.parametrize("label", sorted(BAD_ROWS))
def test_database_refuses(sim_db_url, label):
    engine = db.get_engine(sim_db_url)
    with pytest.raises(sa.exc.IntegrityError), db.connect(engine, transaction=True) as conn:
        conn.execute(sa.text(BAD_ROWS[label]))
