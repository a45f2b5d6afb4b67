"""Imports of real files: round trips per kind, malformed-file corpus, idempotence, random rows."""

from __future__ import annotations

import csv
import html
import io
import itertools
import re
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from euralis_lib.cli import main as cli_main
from euralis_lib.database import db, queries
from euralis_lib.exceptions import ImportFileError
from euralis_lib.imports.formats import modele_csv
from euralis_lib.imports.load import import_content, import_file

CORPUS = Path(__file__).parent / "data" / "imports"


def remplir(genre: str, lignes: list[list[str]]) -> bytes:
    """The CSV template of ``genre`` with ``lignes`` added under the header (as a user would)."""
    texte = modele_csv(genre) + "".join(";".join(v) + "\n" for v in lignes)
    return texte.encode("utf-8")


@pytest.fixture
def engine(empty_db_url):
    engine = db.get_engine(empty_db_url)  # sites and souches come with the migrations
    yield engine
    engine.dispose()


GAVEURS = [["LL-G001", "Lafitte Jean", "LL", "12,5", "oui"], ["LL-G002", "Dufau Marie", "LL", "30", ""]]
LOTS = [["LL260105-G001", "LL", "LL-G001", "MULARD", "05/01/2026", "15/01/2026", "1200", "24", "4,15"],
        ["LL260110-G002", "", "LL-G002", "mulard", "2026-01-10", "2026-01-20", "900", "", "4.3"]]


def _doses(code: str, jours: int) -> list[list[str]]:
    return [[code, str((r - 1) // 2 + 1), str(r), "", f"{200 + 11 * r},5", str(200 + 11 * r)]
            for r in range(1, 2 * jours + 1)]


def _charger_base(engine) -> None:
    for genre, lignes in (("gaveurs", GAVEURS), ("lots", LOTS)):
        site = "LL" if genre == "lots" else None
        rapport = import_content(engine, genre, remplir(genre, lignes), f"{genre}.csv", site=site)
        assert rapport.erreurs == [], rapport.texte()


def test_round_trip_every_kind_reaches_the_queries(engine):
    _charger_base(engine)
    rapport = import_content(engine, "doses", remplir("doses", _doses("LL260105-G001", 11)), "doses.csv")
    assert (rapport.nb_inseres, rapport.nb_rejetes) == (22, 0), rapport.texte()
    jours = [["LL260110-G002", str(j), f"{400 + 10 * j}", f"{400 + 10 * j}"] for j in range(1, 12)]
    rapport = import_content(engine, "doses", remplir("doses_jour", jours), "doses_jour.csv")  # layout detected
    assert (rapport.genre, rapport.nb_inseres, rapport.nb_rejetes) == ("doses_jour", 11, 0), rapport.texte()
    abattages = [["LL260105-G001", "16/01/2026", "1176", "612,4", "72,5", "10150", "22,1",
                  "700", "430,5", "400", "240", "", "", "", ""]]
    rapport = import_content(engine, "abattages", remplir("abattages", abattages), "abattages.csv")
    assert (rapport.nb_inseres, rapport.nb_rejetes) == (1, 0), rapport.texte()

    features = queries.lot_features(engine, sites=["LL"], debut=date(2026, 1, 1), fin=date(2026, 1, 31))
    lot = features.set_index("code_lot").loc["LL260105-G001"]
    assert lot["nb_repas"] == 22 and lot["duree_jours"] == 11 and lot["nb_morts"] == 24
    assert lot["dose_totale_kg"] == pytest.approx(sum(200 + 11 * r + 0.5 for r in range(1, 23)) / 1000)
    assert lot["itm"] == pytest.approx(10150 / (1176 * 0.6124), abs=0.01)
    autre = features.set_index("code_lot").loc["LL260110-G002"]
    assert autre["nb_repas"] == 22
    assert autre["dose_totale_kg"] == pytest.approx(sum(400 + 10 * j for j in range(1, 12)) / 1000)
    perf = queries.gaveur_performances(engine, sites=["LL"], debut=date(2026, 1, 1), fin=date(2026, 1, 31))
    assert perf.set_index("code").loc["LL-G001", "nb_canards_abattus"] == 1176
    grades = db.read_df(engine, "SELECT grade, nb_foies FROM qualite_foies ORDER BY grade")
    assert dict(zip(grades["grade"], grades["nb_foies"], strict=True)) == {"Extra": 700, "Premier choix": 400}


ABATTAGE = [["LL260105-G001", "16/01/2026", "1176", "612,4", "72,5", "10150", "22,1",
             "700", "430,5", "400", "240", "", "", "", ""]]
TABLES = ("gaveurs", "lots_gavage", "doses_gavage", "abattages", "qualite_foies")


def _empreinte(engine) -> dict[str, str]:
    """md5 of every production table's content: equal before/after = nothing written."""
    with db.connect(engine) as conn:
        return {t: conn.execute(sa.text(f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                                        f"FROM {t} x")).scalar_one() for t in TABLES}


def _historique(engine) -> list[tuple]:
    return list(db.read_df(engine, "SELECT statut, genre, nb_lus, nb_inseres, nb_mis_a_jour, nb_inchanges, "
                                   "nb_rejetes FROM imports ORDER BY import_id").itertuples(index=False, name=None))


def test_reimport_changes_nothing_and_counts_unchanged(engine):
    _charger_base(engine)
    fichiers = [("doses", remplir("doses", _doses("LL260105-G001", 11))),
                ("abattages", remplir("abattages", ABATTAGE))]
    for genre, contenu in fichiers:
        import_content(engine, genre, contenu, f"{genre}.csv")
    avant = _empreinte(engine)
    for genre, lignes in (("gaveurs", GAVEURS), ("lots", LOTS)):
        rapport = import_content(engine, genre, remplir(genre, lignes), f"{genre}.csv", site="LL")
        assert (rapport.nb_inchanges, rapport.nb_inseres, rapport.nb_mis_a_jour) == (2, 0, 0)
        assert any("déjà été importé" in a for a in rapport.avertissements)
    for genre, contenu in fichiers:
        rapport = import_content(engine, genre, contenu, f"{genre}.csv")
        assert rapport.nb_inchanges == rapport.nb_lus and rapport.nb_inseres == rapport.nb_mis_a_jour == 0
    assert _empreinte(engine) == avant


def test_changed_value_is_an_update_and_dry_run_writes_nothing(engine):
    _charger_base(engine)
    lots = [LOTS[0][:6] + ["1250"] + LOTS[0][7:], LOTS[1]]
    historique, avant = _historique(engine), _empreinte(engine)
    simulation = import_content(engine, "lots", remplir("lots", lots), "lots.csv", site="LL", dry_run=True)
    assert (simulation.nb_mis_a_jour, simulation.nb_inchanges, simulation.import_id) == (1, 1, None)
    assert "SIMULATION" in simulation.texte()
    assert _empreinte(engine) == avant and _historique(engine) == historique
    reel = import_content(engine, "lots", remplir("lots", lots), "lots.csv", site="LL")
    assert (reel.nb_mis_a_jour, reel.nb_inchanges) == (1, 1)
    stocke = db.read_df(engine, "SELECT nb_canards_entres FROM lots_gavage WHERE code_lot = 'LL260105-G001'")
    assert stocke.iloc[0, 0] == 1250


def test_template_commands_and_exit_codes(engine, empty_db_url, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("EURALIS_DATABASE_URL", empty_db_url)
    _charger_base(engine)
    assert cli_main(["import", "template", "doses", "--output", str(tmp_path / "doses.csv")]) == 0
    modele = (tmp_path / "doses.csv").read_text(encoding="utf-8-sig")
    assert modele.splitlines()[-1] == "code_lot;jour;repas;horodatage;dose_g;dose_theorique_g"
    assert "# Exemple de ligne" in modele and "obligatoire" in modele
    with (tmp_path / "doses.csv").open("a", encoding="utf-8") as f:
        f.write("LL260105-G001;1;1;;205,5;200\n")
    assert cli_main(["import", "doses", str(tmp_path / "doses.csv")]) == 0
    assert "insérées           : 1" in capsys.readouterr().out
    role = db.read_df(engine, "SELECT role_db FROM imports ORDER BY import_id DESC LIMIT 1").iloc[0, 0]
    assert role == "euralis_import"  # the command line never imports as the owner
    assert cli_main(["import", "doses", str(CORPUS / "doses_negatives.csv"), "--dry-run"]) == 1
    sortie = capsys.readouterr().out
    assert "ligne 2 : dose_g = -5 hors de la plage autorisée (0 à 900 g)" in sortie and "Comment corriger" in sortie
    assert cli_main(["import", "lots", str(CORPUS / "vide.csv")]) == 2
    assert "fichier vide" in capsys.readouterr().err
    assert cli_main(["import", "template", "lots", "--output", str(tmp_path / "lots.xlsx")]) == 0
    classeur = openpyxl.load_workbook(tmp_path / "lots.xlsx")
    classeur["lots"].append(["LL260301-G002", "LL", "LL-G002", "MULARD", "01/03/2026", "11/03/2026", 950, 9, 4.05])
    classeur.save(tmp_path / "lots.xlsx")
    rapport = import_file(engine, "lots", tmp_path / "lots.xlsx")
    assert (rapport.nb_inseres, rapport.nb_rejetes) == (1, 0)
    assert any("« documentation »" in a for a in rapport.avertissements)


# Malformed-file corpus: file -> (kind, expected). A string = the whole file is refused with that
# message; a dict = {line: part of the reason} of the rejected lines (the other lines are stored).
CAS = {
    "vide.csv": ("lots", "fichier vide"),
    "en_tete_seul.csv": ("lots", "qu'un en-tête"),
    "binaire.csv": ("lots", "contenu binaire"),
    "lots_utf16.csv": ("lots", "UTF-16"),
    "lots_colonne_manquante.csv": ("lots", "« poids_entree_moyen_kg »"),
    "lots_entete_mal_orthographie.csv": ("lots", "la colonne « Date debu » du fichier ressemble : vouliez-vous dire "
                                                  "« date_debut » ?"),
    "lots_tronque.csv": ("lots", "ligne 3 (5 champs)"),
    "lots_doublon.csv": ("lots", {2: "doublon dans le fichier : code_lot LL260201-G001 aussi ligne(s) 4",
                                  4: "aussi ligne(s) 2"}),
    "lots_dates_invalides.csv": ("lots", {2: "période inversée", 3: "date_debut dans le futur",
                                          4: "« 32/01/2026 » n'est pas une date"}),
    "doses_nombres_invalides.csv": ("doses", {3: "« abc » n'est pas un nombre", 4: "« 2O5 » n'est pas un nombre"}),
    "doses_negatives.csv": ("doses", {2: "dose_g = -5 hors de la plage", 4: "dose_g = 1200 hors de la plage"}),
    "doses_lot_inconnu.csv": ("doses", {3: "lot inconnu « LL999999-G999 »"}),
    "doses_repas_jour_incoherents.csv": ("doses", {3: "repas 5 incompatible avec le jour 1",
                                                   4: "même clé (code_lot, repas) que la ligne 3, rejetée",
                                                   5: "au-delà de la durée du lot (11 jours)"}),
    "gaveurs_site_inconnu.csv": ("gaveurs", {3: "site inconnu « ZZ »"}),
    "gaveurs_latin1_point_virgule.csv": ("gaveurs", {}),
    "lots_feuilles_multiples.xlsx": ("lots", {}),
    "lots_premiere_ligne_inegale.csv": ("lots", "ligne 2 (11 champs)"),
    "lots_cellules_hors_entete.xlsx": ("lots", "ligne 3 (11 colonnes remplies)"),
    "doses_repas_autre_heure.csv": ("doses", {2: "doublon dans le fichier : code_lot LL260105-G001, repas 1",
                                              4: "aussi ligne(s) 2"}),
    "doses_doublon_exact.csv": ("doses", {}),
    "abattages_grades.csv": ("abattages", {}),
    "abattages_nombres_infinis.csv": ("abattages", {2: "« 1e400 » n'est pas un nombre",
                                                    3: "« inf » n'est pas un nombre"}),
    "abattages_correction_moins_de_grades.csv": ("abattages", {}),
}


def test_corpus_is_complete():
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(CAS)


@pytest.mark.parametrize("nom", sorted(CAS))
def test_malformed_file_gives_the_right_message_and_writes_nothing_wrong(engine, nom):
    _charger_base(engine)
    genre, attendu = CAS[nom]
    avant, historique = _empreinte(engine), _historique(engine)
    if isinstance(attendu, str):
        with pytest.raises(ImportFileError, match=re.escape(attendu)):
            import_file(engine, genre, CORPUS / nom)
        assert _empreinte(engine) == avant
        assert _historique(engine)[len(historique):] == [("refuse", genre, 0, 0, 0, 0, 0)]
        return
    rapport = import_file(engine, genre, CORPUS / nom)
    assert {ligne for ligne, _ in rapport.erreurs} == set(attendu), rapport.texte()
    for ligne, raison in rapport.erreurs:
        assert attendu[ligne] in raison
    assert rapport.nb_inseres + rapport.nb_doublons == rapport.nb_lus - len(attendu)
    quarantaine = db.read_df(engine, "SELECT ligne, raison, donnees FROM imports_quarantaine WHERE import_id = :i "
                                     "ORDER BY ligne", {"i": rapport.import_id})
    assert list(quarantaine["ligne"]) == sorted(attendu)
    assert list(quarantaine["raison"]) == [r for _, r in rapport.erreurs]
    assert (rapport.code_sortie == 1) == bool(attendu)


def test_latin1_semicolon_decimal_comma_file_keeps_accents_and_decimals(engine):
    rapport = import_file(engine, "gaveurs", CORPUS / "gaveurs_latin1_point_virgule.csv")
    assert any("Latin-1" in a or "Windows-1252" in a for a in rapport.avertissements)
    gaveurs = db.read_df(engine, "SELECT code, nom, distance_km::float AS d, actif FROM gaveurs ORDER BY code")
    assert list(gaveurs["nom"]) == ["Pédebernade Hélène", "Dartiguelongue Éric"]
    assert list(gaveurs["d"]) == [12.5, 7.3] and list(gaveurs["actif"]) == [True, False]


def test_excel_with_extra_sheets_reads_the_sheet_named_after_the_kind(engine):
    _charger_base(engine)
    rapport = import_file(engine, "lots", CORPUS / "lots_feuilles_multiples.xlsx")
    assert rapport.nb_inseres == 2
    assert any("« notes », « graphique »" in a for a in rapport.avertissements)
    lots = db.read_df(engine, "SELECT code_lot, debut, nb_morts FROM lots_gavage WHERE code_lot LIKE 'LL2602%' "
                              "ORDER BY code_lot")
    assert list(lots["debut"]) == [date(2026, 2, 1), date(2026, 2, 3)] and list(lots["nb_morts"]) == [10, 0]


def test_site_option_restricts_the_rows(engine):
    _charger_base(engine)
    doses = [["LL260105-G001", "1", "1", "", "205", ""]]
    rapport = import_content(engine, "doses", remplir("doses", doses), "doses.csv", site="LS")
    ligne = len(modele_csv("doses").splitlines()) + 1  # the template's comment lines count
    assert rapport.erreurs == [(ligne, "lot du site LL alors que l'import est limité au site LS")]
    with pytest.raises(ImportFileError, match="site inconnu « XX »"):
        import_content(engine, "doses", remplir("doses", doses), "doses.csv", site="XX")


_COMPTEUR = itertools.count()
_VALEURS = {
    "code_lot": st.sampled_from(["A", "B", "C", "D", ""]),
    "site": st.sampled_from(["LL", "LL", "", "ZZ", "ll", "LS"]),
    "code_gaveur": st.sampled_from(["LL-G001", "LL-G002", "XX-G9", ""]),
    "souche": st.sampled_from(["MULARD", "barbarie", "OIE", ""]),
    "date_debut": st.sampled_from(["05/01/2026", "2026-01-06", "32/01/2026", "", "2031-01-01", "hier"]),
    "date_fin": st.sampled_from(["15/01/2026", "2026-01-16", "2026-03-01", "", "01/01/2026"]),
    "nb_canards_entres": st.sampled_from(["1200", "0", "-3", "abc", "1 200", "6000", "12,5", ""]),
    "nb_morts": st.sampled_from(["", "24", "5000", "x"]),
    "poids_entree_moyen_kg": st.sampled_from(["4,15", "4.2", "9", "x", ""]),
}
_TEXTE = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rangs=st.lists(st.fixed_dictionaries({k: st.one_of(v, _TEXTE) if k != "code_lot" else v
                                              for k, v in _VALEURS.items()}), min_size=1, max_size=12))
def test_random_rows_are_stored_or_quarantined_never_both_never_neither(engine, rangs):
    if not _historique(engine):
        _charger_base(engine)
    prefixe = f"H{next(_COMPTEUR)}-"
    buf = io.StringIO()
    ecrivain = csv.writer(buf, delimiter=";", lineterminator="\n")
    ecrivain.writerow(list(_VALEURS))
    for rang in rangs:
        code = rang["code_lot"]
        ecrivain.writerow([prefixe + code if code else ""] + [rang[k] for k in list(_VALEURS)[1:]])
    try:
        rapport = import_content(engine, "lots", buf.getvalue().encode(), "aleatoire.csv")
    except ImportFileError as exc:  # only whole-file reasons are allowed to refuse the file
        assert "champs" in str(exc) or "guillemet" in str(exc), str(exc)
        return
    rejetees = {ligne for ligne, _ in rapport.erreurs}
    assert rapport.nb_lus == len(rangs)
    assert rapport.nb_inseres + rapport.nb_mis_a_jour + rapport.nb_inchanges + rapport.nb_doublons \
        + len(rejetees) == len(rangs)
    stockes = set(db.read_df(engine, "SELECT code_lot FROM lots_gavage WHERE code_lot LIKE :p",
                             {"p": prefixe + "%"})["code_lot"])
    acceptes = {prefixe + r["code_lot"] for i, r in enumerate(rangs) if i + 2 not in rejetees}
    refuses = {prefixe + r["code_lot"] for i, r in enumerate(rangs) if i + 2 in rejetees}
    assert acceptes == stockes  # every accepted line is stored
    assert not refuses & stockes  # a lot named on a rejected line is not stored (its other lines are rejected too)
    quarantaine = db.read_df(engine, "SELECT count(*) AS n FROM imports_quarantaine WHERE import_id = :i",
                             {"i": rapport.import_id})["n"].iloc[0]
    assert quarantaine == len(rejetees)


def _envoi(nom: str, contenu: bytes) -> tuple[dict, ...]:
    return ({"name": nom, "type": "text/csv", "size": len(contenu), "content": memoryview(contenu),
             "last_modified": datetime(2026, 11, 25, tzinfo=UTC)},)


def test_upload_widget_runs_the_same_import_and_reports_in_french(engine):
    from euralis_lib.dashboards.import_fichiers import ImportWidget

    _charger_base(engine)
    ecran = ImportWidget(engine)
    ecran.lancer()
    assert "Choisissez d'abord un fichier" in html.unescape(ecran.rapport.value)
    ecran.fichier.value = _envoi("doses_negatives.csv", (CORPUS / "doses_negatives.csv").read_bytes())
    ecran.genre.value, ecran.site.value = "doses", "LL"
    avant = _empreinte(engine)
    ecran.lancer()
    assert "SIMULATION" in ecran.rapport.value and "hors de la plage autorisée" in ecran.rapport.value
    assert _empreinte(engine) == avant
    ecran.simulation.value = False
    ecran.lancer()
    assert "Comment corriger" in ecran.rapport.value and "import n°" in ecran.rapport.value
    assert db.read_df(engine, "SELECT count(*) AS n FROM doses_gavage")["n"].iloc[0] == 1
    ecran.fichier.value = _envoi("vide.csv", b"")
    ecran.lancer()
    assert "Fichier refusé" in ecran.rapport.value and "fichier vide" in ecran.rapport.value


def test_import_into_simulated_data_numbers_new_rows_after_existing_ids(sim_db_url):
    engine = db.get_engine(sim_db_url)
    max_lot = db.read_df(engine, "SELECT max(lot_id) AS m FROM lots_gavage")["m"].iloc[0]
    gaveurs = [["MT-G901", "Nouveau Gaveur", "MT", "20", ""]]
    lots = [["MT260601-G901", "MT", "MT-G901", "MULARD", "01/06/2026", "11/06/2026", "1000", "20", "4,2"]]
    assert import_content(engine, "gaveurs", remplir("gaveurs", gaveurs), "g.csv").nb_inseres == 1
    assert import_content(engine, "lots", remplir("lots", lots), "l.csv").nb_inseres == 1
    abattage = [["MT260601-G901", "12/06/2026", "980", "600", "70", "8500", "", "", "", "", "", "", "", "", ""]]
    assert import_content(engine, "abattages", remplir("abattages", abattage), "a.csv").nb_inseres == 1
    features = queries.lot_features(engine, sites=["MT"], debut=date(2026, 6, 1), fin=date(2026, 6, 30))
    nouveau = features[features["code_lot"] == "MT260601-G901"].iloc[0]
    assert nouveau["lot_id"] == max_lot + 1 and nouveau["itm"] == pytest.approx(8500 / 588, abs=0.01)
    perf = queries.gaveur_performances(engine, sites=["MT"], debut=date(2026, 6, 1), fin=date(2026, 6, 30))
    assert "MT-G901" in set(perf["code"])
    engine.dispose()


@pytest.mark.parametrize("contenu, lignes", [
    (b"a;b\r\n1;2\r\n\r\n   \r\n;\r\n3;4\r\n", [2, 6]),
    (b"# doc\n# exemple : 1;2\na,b\n1,2\n\n3,4\n", [4, 6]),
    (b'a;b\n1;"x\ny"\n\n"3";4\n', [2, 5]),
])
def test_line_numbers_are_the_ones_a_user_sees(contenu, lignes):
    from euralis_lib.imports.reading import lire

    assert list(lire(contenu, "f.csv", "lots").donnees.index) == lignes


def test_every_template_example_row_is_a_valid_row(engine):
    _charger_base(engine)
    for genre in ("gaveurs", "lots", "doses", "doses_jour", "abattages"):
        modele = modele_csv(genre)
        exemple = next(ligne for ligne in modele.splitlines() if ligne.startswith("# Exemple de ligne : "))
        contenu = (modele + exemple.removeprefix("# Exemple de ligne : ") + "\n").encode()
        rapport = import_content(engine, genre, contenu, f"{genre}.csv")
        assert rapport.nb_lus == 1 and rapport.erreurs == [], rapport.texte()


_MORCEAUX = st.sampled_from(["code_lot", "site", "code_gaveur", "date_debut", "jour", "repas", "dose_g", ";", ",",
                             "\t", '"', "\n", "\r\n", "#", "", "LL", "4,2", "12", "05/01/2026", "é", "\ufeff", " "])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(morceaux=st.lists(st.one_of(_MORCEAUX, _TEXTE), max_size=60), latin1=st.booleans())
def test_arbitrary_text_files_give_a_report_or_a_clear_refusal(engine, morceaux, latin1):
    texte = "".join(morceaux)
    contenu = texte.encode("latin-1", errors="replace") if latin1 else texte.encode("utf-8")
    for genre in ("lots", "doses"):
        try:
            rapport = import_content(engine, genre, contenu, "quelconque.csv", dry_run=True)
        except ImportFileError as exc:
            assert str(exc)
            continue
        assert rapport.nb_inseres + rapport.nb_mis_a_jour + rapport.nb_inchanges + rapport.nb_doublons \
            + rapport.nb_rejetes == rapport.nb_lus
