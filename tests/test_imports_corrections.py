"""Corrections never duplicate: one key per fact in the database, grades replaced as a set, lot
updates checked against stored data, exact repeats reported, the report says what changed."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from euralis_lib.database import db
from euralis_lib.imports.load import import_content, import_file

CORPUS = Path(__file__).parent / "data" / "imports"
LOT = "LL260105-G001"


@pytest.fixture
def engine(empty_db_url):
    engine = db.get_engine(empty_db_url)
    gaveurs = "code_gaveur;nom;site;distance_km\nLL-G001;Lafitte Jean;LL;12,5\n"
    lots = ("code_lot;site;code_gaveur;souche;date_debut;date_fin;nb_canards_entres;nb_morts;poids_entree_moyen_kg\n"
            f"{LOT};LL;LL-G001;MULARD;05/01/2026;15/01/2026;1200;24;4,15\n")
    assert import_content(engine, "gaveurs", gaveurs.encode(), "g.csv").erreurs == []
    assert import_content(engine, "lots", lots.encode(), "l.csv").erreurs == []
    yield engine
    engine.dispose()


def _doses(lignes: str) -> bytes:
    return ("code_lot;jour;repas;horodatage;dose_g;dose_theorique_g\n" + lignes).encode()


def _repas(engine) -> list[tuple]:
    return list(db.read_df(engine, "SELECT repas, to_char(horodatage AT TIME ZONE 'Europe/Paris', 'HH24:MI'), "
                                   "dose_g::float FROM doses_gavage ORDER BY repas, horodatage")
                .itertuples(index=False, name=None))


def test_a_meal_given_a_real_time_replaces_the_default_one(engine):
    assert import_content(engine, "doses", _doses(f"{LOT};1;1;;205;200\n{LOT};1;2;;215;210\n"), "d.csv").nb_inseres == 2
    rapport = import_content(engine, "doses", _doses(f"{LOT};1;1;2026-01-05 06:15;205;200\n"), "d2.csv")
    assert (rapport.nb_inseres, rapport.nb_mis_a_jour) == (0, 1), rapport.texte()
    assert _repas(engine) == [(1, "06:15", 205.0), (2, "18:00", 215.0)]
    assert "doses_gavage LL260105-G001 repas 1 : horodatage 2026-01-05 06:00 → 2026-01-05 06:15" in rapport.texte()
    assert rapport.par_table["doses_gavage"] == {"insérées": 0, "mises à jour": 1, "supprimées": 0}


def test_a_per_day_file_after_per_meal_files_replaces_the_meals_and_keeps_the_total(engine):
    import_content(engine, "doses", _doses(f"{LOT};1;1;2026-01-05 06:15;205;200\n{LOT};1;2;;215;210\n"), "d.csv")
    jour = b"code_lot;jour;dose_jour_g\n" + f"{LOT};1;400\n".encode()
    rapport = import_content(engine, "doses_jour", jour, "j.csv")
    assert (rapport.nb_inseres, rapport.nb_mis_a_jour) == (0, 1), rapport.texte()
    assert _repas(engine) == [(1, "06:00", 200.0), (2, "18:00", 200.0)]
    again = import_content(engine, "doses_jour", jour, "j.csv")
    assert (again.nb_inchanges, again.nb_mis_a_jour) == (1, 0) and len(_repas(engine)) == 2


def test_the_database_refuses_a_second_row_for_one_meal(engine):
    import_content(engine, "doses", _doses(f"{LOT};1;1;;205;200\n"), "d.csv")
    with pytest.raises(sa.exc.IntegrityError, match="doses_gavage_repas_uk"), db.connect(engine) as conn:
        conn.execute(sa.text("INSERT INTO doses_gavage (horodatage, lot_id, jour, repas, dose_g) SELECT "
                             "horodatage + interval '10 minutes', lot_id, jour, repas, dose_g FROM doses_gavage"))


def test_a_time_taken_by_another_stored_meal_is_rejected_with_the_reason(engine):
    import_content(engine, "doses", _doses(f"{LOT};1;1;;205;200\n{LOT};1;2;;215;210\n"), "d.csv")
    rapport = import_content(engine, "doses", _doses(f"{LOT};1;2;2026-01-05 06:00;216;210\n"), "d2.csv")
    assert [n for n, _ in rapport.erreurs] == [2] and "déjà pris par un autre repas" in rapport.erreurs[0][1]
    assert _repas(engine) == [(1, "06:00", 205.0), (2, "18:00", 215.0)]
    quarantaine = db.read_df(engine, "SELECT ligne FROM imports_quarantaine WHERE import_id = :i",
                             {"i": rapport.import_id})
    assert list(quarantaine["ligne"]) == [2]


def _grades(engine) -> dict[str, int]:
    df = db.read_df(engine, "SELECT grade, nb_foies FROM qualite_foies ORDER BY grade")
    return dict(zip(df["grade"], df["nb_foies"], strict=True))


def test_a_correction_with_fewer_grades_deletes_the_others_and_says_so(engine):
    import_file(engine, "abattages", CORPUS / "abattages_grades.csv")
    assert _grades(engine) == {"Declasse": 15, "Extra": 700, "Premier choix": 400, "Second choix": 60}
    rapport = import_file(engine, "abattages", CORPUS / "abattages_correction_moins_de_grades.csv")
    assert (rapport.nb_mis_a_jour, rapport.nb_inchanges) == (1, 0), rapport.texte()
    assert _grades(engine) == {"Extra": 720, "Premier choix": 410}
    assert rapport.par_table["qualite_foies"] == {"insérées": 0, "mises à jour": 2, "supprimées": 2}
    texte = rapport.texte()
    assert f"qualite_foies {LOT} Extra : nb_foies 700 → 720" in texte
    assert f"qualite_foies {LOT} Second choix : supprimé" in texte
    encore = import_file(engine, "abattages", CORPUS / "abattages_correction_moins_de_grades.csv")
    assert (encore.nb_inchanges, encore.nb_mis_a_jour) == (1, 0) and _grades(engine) == {"Extra": 720,
                                                                                          "Premier choix": 410}


def test_fewer_slaughtered_ducks_than_stored_graded_livers_is_rejected(engine):
    import_file(engine, "abattages", CORPUS / "abattages_grades.csv")  # 1175 livers graded
    sans_grades = ("code_lot;date_abattage;nb_canards_abattus;poids_foie_moyen_g;sigma_g;mais_total_kg\n"
                   f"{LOT};16/01/2026;1000;612,4;72,5;8600\n").encode()
    rapport = import_content(engine, "abattages", sans_grades, "a.csv")
    assert len(rapport.erreurs) == 1 and "plus de foies classés dans la base (1175)" in rapport.erreurs[0][1]
    assert db.read_df(engine, "SELECT nb_canards_abattus FROM abattages")["nb_canards_abattus"].tolist() == [1176]


def _lot(**valeurs: str) -> bytes:
    ligne = {"code_lot": LOT, "site": "LL", "code_gaveur": "LL-G001", "souche": "MULARD", "date_debut": "05/01/2026",
             "date_fin": "15/01/2026", "nb_canards_entres": "1200", "nb_morts": "24", "poids_entree_moyen_kg": "4,15"}
    ligne.update(valeurs)
    return (";".join(ligne) + "\n" + ";".join(ligne.values()) + "\n").encode()


def test_lot_updates_that_contradict_stored_data_are_rejected(engine):
    import_content(engine, "doses", _doses(f"{LOT};11;22;;400;400\n"), "d.csv")  # a meal on 15/01
    import_file(engine, "abattages", CORPUS / "abattages_grades.csv")  # 1176 ducks slaughtered
    cas = {"nb_canards_entres": ("1100", "1176 canards déjà abattus pour ce lot dans la base"),
           "nb_morts": ("100", "plus que les 1100 vivants"),
           "date_fin": ("14/01/2026", "la période exclut des repas déjà enregistrés (du 15/01/2026 au 15/01/2026)"),
           "date_debut": ("17/01/2026", "le lot est déjà abattu le 16/01/2026")}
    for colonne, (valeur, raison) in cas.items():
        rapport = import_content(engine, "lots", _lot(**{colonne: valeur}), "l.csv")
        assert len(rapport.erreurs) == 1 and raison in rapport.erreurs[0][1], rapport.texte()
    stocke = db.read_df(engine, "SELECT nb_canards_entres, nb_morts FROM lots_gavage").iloc[0].tolist()
    assert stocke == [1200, 24]
    assert import_content(engine, "lots", _lot(nb_morts="20"), "l.csv").nb_mis_a_jour == 1  # a consistent update


def test_exact_repeats_inside_a_file_are_reported_as_duplicates_not_unchanged(engine):
    rapport = import_file(engine, "doses", CORPUS / "doses_doublon_exact.csv")
    assert (rapport.nb_inseres, rapport.nb_doublons, rapport.nb_inchanges, rapport.doublons) == (2, 1, 0, [4])
    assert "doublons exacts d'une ligne précédente du fichier (enregistrés une fois) : ligne(s) 4" in rapport.texte()
    historique = db.read_df(engine, "SELECT nb_doublons, nb_inchanges FROM imports ORDER BY import_id DESC LIMIT 1")
    assert historique.iloc[0].tolist() == [1, 0]


def test_binary_copy_rounds_decimals_like_postgresql(engine):
    rapport = import_content(engine, "doses", _doses(f"{LOT};1;1;;205,25;0,05\n{LOT};1;2;;0,15;899,95\n"), "d.csv")
    assert rapport.erreurs == [], rapport.texte()
    with db.connect(engine) as conn:
        stocke = [tuple(r) for r in conn.execute(sa.text(
            "SELECT dose_g, dose_theorique_g, '205.25'::numeric(6,1), '0.05'::numeric(6,1), '0.15'::numeric(6,1), "
            "'899.95'::numeric(6,1) FROM doses_gavage ORDER BY repas"))]
    assert [stocke[0][0], stocke[0][1], stocke[1][0], stocke[1][1]] == list(stocke[0][2:])


def test_the_timescaledb_stand_in_trigger_keeps_one_row_per_meal_and_lets_corrections_through(engine):
    with db.connect(engine, transaction=True) as conn:  # what 130 does on TimescaleDB, here on PostgreSQL
        conn.execute(sa.text("ALTER TABLE doses_gavage DROP CONSTRAINT doses_gavage_repas_uk"))
        conn.execute(sa.text("CREATE TRIGGER doses_gavage_repas_uk_trg BEFORE INSERT OR UPDATE OF lot_id, repas, "
                             "horodatage ON doses_gavage FOR EACH ROW EXECUTE FUNCTION doses_gavage_repas_unique()"))
    import_content(engine, "doses", _doses(f"{LOT};1;1;;205;200\n{LOT};1;2;;215;210\n"), "d.csv")
    rapport = import_content(engine, "doses", _doses(f"{LOT};1;1;2026-01-05 06:15;206;200\n"), "d2.csv")
    assert (rapport.nb_mis_a_jour, rapport.erreurs) == (1, []), rapport.texte()
    assert _repas(engine) == [(1, "06:15", 206.0), (2, "18:00", 215.0)]
    with pytest.raises(sa.exc.IntegrityError, match="doses_gavage_repas_uk"), db.connect(engine) as conn:
        conn.execute(sa.text("INSERT INTO doses_gavage (horodatage, lot_id, jour, repas, dose_g) SELECT "
                             "horodatage + interval '10 minutes', lot_id, jour, repas, dose_g FROM doses_gavage"))


@pytest.mark.parametrize("contenu", [b"a;b\n1;2;3\n4;5\n", b'a;b\n"1";2;3\n4;5\n', b"a;b\n1;2\n4;5;6\n"])
def test_a_ragged_row_refuses_the_whole_file_first_row_included(contenu):
    from euralis_lib.exceptions import ImportFileError
    from euralis_lib.imports.reading import lire

    with pytest.raises(ImportFileError, match=r"ligne [23] \(3 champs\).*Rien n'a été importé"):
        lire(contenu, "f.csv", "lots")


def _historique(engine) -> list[tuple]:
    with db.connect(engine) as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT statut, nb_lus, nb_inseres, nb_mis_a_jour, nb_inchanges, versions_tables FROM imports "
            "WHERE statut <> 'refuse' ORDER BY import_id"))]


QUATRE_REPAS = _doses(f"{LOT};1;1;;205;200\n{LOT};1;2;;215;210\n{LOT};2;3;;230;225\n{LOT};2;4;;240;235\n")
PAS_RELU = "le fichier n'a pas été relu"


def test_an_identical_file_with_nothing_written_since_is_reported_unchanged_without_reading_it(engine):
    premier = import_content(engine, "doses", QUATRE_REPAS, "d.csv")
    repas = _repas(engine)
    simulation = import_content(engine, "doses", QUATRE_REPAS, "d.csv", dry_run=True)
    assert (simulation.nb_inchanges, simulation.import_id) == (4, None) and PAS_RELU in simulation.texte()
    second = import_content(engine, "doses", QUATRE_REPAS, "d.csv")
    assert (second.nb_lus, second.nb_inchanges, second.nb_inseres, second.nb_mis_a_jour, second.erreurs) == \
        (4, 4, 0, 0, []), second.texte()
    assert PAS_RELU in second.texte() and f"(import n° {premier.import_id})" in second.texte()
    assert _repas(engine) == repas
    historique = _historique(engine)
    assert [h[:5] for h in historique[-2:]] == [("succes", 4, 4, 0, 0), ("succes", 4, 0, 0, 4)]
    assert historique[-1][5] == historique[-2][5]  # same write counters: the simulation recorded nothing
    relu = import_content(engine, "doses", b"# relu\n" + QUATRE_REPAS, "d.csv")  # same rows, other bytes: read
    assert (relu.nb_inchanges, relu.nb_mis_a_jour) == (4, 0) and PAS_RELU not in relu.texte()


def test_an_identical_file_is_read_again_after_any_write_to_what_it_depends_on(engine):
    import_content(engine, "doses", QUATRE_REPAS, "d.csv")
    import_content(engine, "doses", _doses(f"{LOT};1;1;;300;200\n"), "correction.csv")  # another file's correction
    apres_correction = import_content(engine, "doses", QUATRE_REPAS, "d.csv")
    assert (apres_correction.nb_mis_a_jour, apres_correction.nb_inchanges) == (1, 3), apres_correction.texte()
    assert PAS_RELU not in apres_correction.texte() and _repas(engine)[0] == (1, "06:00", 205.0)
    with db.connect(engine, transaction=True) as conn:  # a write by hand, outside any import
        conn.execute(sa.text("UPDATE doses_gavage SET dose_g = 999 WHERE repas = 2"))
    apres_sql = import_content(engine, "doses", QUATRE_REPAS, "d.csv")
    assert (apres_sql.nb_mis_a_jour, apres_sql.nb_inchanges) == (1, 3) and _repas(engine)[1][2] == 215.0
    with db.connect(engine, transaction=True) as conn:  # the lot's period: what the validation reads
        conn.execute(sa.text("UPDATE lots_gavage SET nb_morts = nb_morts"))
    assert PAS_RELU not in import_content(engine, "doses", QUATRE_REPAS, "d.csv").texte()
    for autre in ({"utilisateur": "quelqu'un d'autre"}, {"site": "LL"}):
        assert PAS_RELU not in import_content(engine, "doses", QUATRE_REPAS, "d.csv", **autre).texte()
    assert PAS_RELU in import_content(engine, "doses", QUATRE_REPAS, "d.csv").texte()


def test_a_file_with_rejected_or_repeated_lines_is_always_read_again(engine):
    rejet = _doses(f"{LOT};1;1;;205;200\n{LOT};1;2;;-5;210\n")
    premier = import_content(engine, "doses", rejet, "r.csv")
    encore = import_content(engine, "doses", rejet, "r.csv")
    assert encore.erreurs == premier.erreurs != [] and PAS_RELU not in encore.texte()
    repete = _doses(f"{LOT};2;3;;230;225\n{LOT};2;3;;230;225\n")
    import_content(engine, "doses", repete, "x.csv")
    encore = import_content(engine, "doses", repete, "x.csv")
    assert (encore.nb_doublons, encore.doublons) == (1, [3]) and PAS_RELU not in encore.texte()


def _par_staging(engine) -> list[str]:
    """The statements run through an engine that name the staging table (filled as they run)."""
    vus: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cur, sql, *args: vus.append(sql) if "import_stg_" in sql else None)
    return vus


def test_facts_with_nothing_stored_go_straight_into_the_table_others_through_staging(engine):
    staging = _par_staging(engine)
    assert import_content(engine, "doses", QUATRE_REPAS, "d.csv").nb_inseres == 4 and staging == []
    assert import_content(engine, "doses", _doses(f"{LOT};3;5;;250;245\n"), "d5.csv").nb_inseres == 1  # same lot
    assert staging != [] and [r[0] for r in _repas(engine)] == [1, 2, 3, 4, 5]


def test_an_admin_imports_under_row_level_security_through_the_staging_table(engine, empty_db_url):
    from tests.helpers.connexion import engine_de

    with db.connect(engine, transaction=True) as conn:
        conn.execute(sa.text("INSERT INTO utilisateurs (login, nom, role, actif, mot_de_passe) "
                             "VALUES ('adm', 'Admin', 'admin', true, 'sans objet')"))
    admin = engine_de(empty_db_url, "adm")
    try:
        staging = _par_staging(admin)
        rapport = import_content(admin, "doses", QUATRE_REPAS, "d.csv", utilisateur="adm")
        assert (rapport.nb_inseres, rapport.erreurs) == (4, []), rapport.texte()
        assert staging != []  # COPY FROM is refused under row-level security
        assert PAS_RELU in import_content(admin, "doses", QUATRE_REPAS, "d.csv", utilisateur="adm").texte()
    finally:
        admin.dispose()
    assert [r[2] for r in _repas(engine)] == [205.0, 215.0, 230.0, 240.0]
