"""Property-based tests of the imports, for every kind (gaveurs, lots, doses, doses_jour, abattages):
random valid files round-trip exactly (and are found unchanged when imported again, as the same
bytes or not); random corruptions leave each line stored or quarantined,
never both, never neither, and never a second row for one fact; a correction applied twice is the
same as once. Each example works on its own codes (a fresh prefix) in one database per test."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from euralis_lib.database import db
from euralis_lib.exceptions import ImportFileError
from euralis_lib.imports.formats import FORMATS, GRADES
from euralis_lib.imports.load import import_content

GENRES = ("gaveurs", "lots", "doses", "doses_jour", "abattages")
# Few examples and no shrinking (a failure prints its draws): the 15 tests stay well under 90 s.
REGLAGES = settings(max_examples=10, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_COMPTEUR = itertools.count()
DEBUT = date(2025, 3, 1)
PAS_RELU = "le fichier n'a pas été relu"  # an identical file with nothing written since


@pytest.fixture
def engine(empty_db_url):
    engine = db.get_engine(empty_db_url)
    base = "code_gaveur;nom;site;distance_km\nLL-P001;Base;LL;10\n"
    assert import_content(engine, "gaveurs", base.encode(), "g.csv").erreurs == []
    yield engine
    engine.dispose()


def _csv(colonnes: list[str], rangs: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    ecrivain = csv.writer(buf, delimiter=";", lineterminator="\n")
    ecrivain.writerow(colonnes)
    ecrivain.writerows([[r.get(c, "") for c in colonnes] for r in rangs])
    return buf.getvalue().encode()


def _dec(x: float) -> str:
    return f"{x:.1f}".replace(".", ",")


# --- random valid rows, one strategy per kind (values on the grid the database stores exactly) ----------
def _gaveurs(n: int) -> st.SearchStrategy:
    return st.lists(st.fixed_dictionaries({
        "nom": st.text("abcdefghijklmnopqrstuvwxyzéèàç -", min_size=1, max_size=15).filter(str.strip),
        "distance_km": st.integers(0, 5000).map(lambda d: _dec(d / 10)),
        "actif": st.sampled_from(["oui", "non", ""])}), min_size=1, max_size=n)


_LOT = st.fixed_dictionaries({
    "decalage": st.integers(0, 200), "duree": st.integers(9, 13), "nb_canards_entres": st.integers(100, 3200),
    "nb_morts": st.integers(0, 60), "poids": st.integers(2500, 6500),
    "souche": st.sampled_from(["MULARD", "BARBARIE"])})


def _rang_lot(code: str, v: dict) -> dict[str, str]:
    debut = DEBUT + timedelta(days=v["decalage"])
    return {"code_lot": code, "site": "LL", "code_gaveur": "LL-P001", "souche": v["souche"],
            "date_debut": debut.strftime("%d/%m/%Y"), "date_fin": (debut + timedelta(days=v["duree"])).isoformat(),
            "nb_canards_entres": str(v["nb_canards_entres"]), "nb_morts": str(v["nb_morts"]),
            "poids_entree_moyen_kg": f"{v['poids'] / 1000:.3f}".replace(".", ",")}


def _creer_lots(engine, prefixe: str, nb: int) -> list[str]:
    codes = [f"{prefixe}L{i}" for i in range(nb)]
    rangs = [_rang_lot(c, {"decalage": 10 * i, "duree": 11, "nb_canards_entres": 1000, "nb_morts": 20,
                           "poids": 4200, "souche": "MULARD"}) for i, c in enumerate(codes)]
    rapport = import_content(engine, "lots", _csv(FORMATS["lots"].noms, rangs), "lots.csv")
    assert rapport.erreurs == [], rapport.texte()
    return codes


def _rangs_valides(genre: str, prefixe: str, codes: list[str], data) -> list[dict[str, str]]:
    """Random valid rows of ``genre`` (codes: the lots of the example, for doses and slaughters)."""
    if genre == "gaveurs":
        return [{"code_gaveur": f"{prefixe}G{i}", "site": "LL", **v} for i, v in enumerate(data.draw(_gaveurs(6)))]
    if genre == "lots":
        valeurs = data.draw(st.lists(_LOT, min_size=1, max_size=6))
        return [_rang_lot(f"{prefixe}L{i}", v) for i, v in enumerate(valeurs)]
    rangs = []
    for i, code in enumerate(codes):
        debut = DEBUT + timedelta(days=10 * i)
        if genre == "doses":
            repas = data.draw(st.lists(st.integers(1, 22), min_size=1, max_size=8, unique=True))
            for r in repas:
                heure = data.draw(st.sampled_from(["", "05:45", "06:15", "17:50"]))
                jour = (r - 1) // 2 + 1
                instant = "" if not heure else (
                    f"{(debut + timedelta(days=jour - 1)).isoformat()} {heure if r % 2 else '18:' + heure[3:]}")
                rangs.append({"code_lot": code, "jour": str(jour), "repas": str(r), "horodatage": instant,
                              "dose_g": _dec(data.draw(st.integers(1500, 4500)) / 10),
                              "dose_theorique_g": data.draw(st.sampled_from(["", "250", "300,5"]))})
        elif genre == "doses_jour":
            for j in data.draw(st.lists(st.integers(1, 11), min_size=1, max_size=5, unique=True)):
                rangs.append({"code_lot": code, "jour": str(j), "dose_jour_g": str(data.draw(st.integers(300, 900))),
                              "dose_theorique_jour_g": data.draw(st.sampled_from(["", "500", "620"]))})
        else:
            abattus = data.draw(st.integers(500, 980))
            foie = data.draw(st.integers(5000, 7000)) / 10
            rang = {"code_lot": code, "date_abattage": (debut + timedelta(days=12)).isoformat(),
                    "nb_canards_abattus": str(abattus), "poids_foie_moyen_g": _dec(foie), "sigma_g": "70,5",
                    "mais_total_kg": _dec(round(abattus * foie / 1000 * 14, 1)),
                    "taux_fonte_pct": data.draw(st.sampled_from(["", "22,1"]))}
            reste = abattus
            for g in GRADES:
                if data.draw(st.booleans()):
                    nb = data.draw(st.integers(0, reste))
                    reste -= nb
                    rang[f"nb_{g}"], rang[f"poids_{g}_kg"] = str(nb), _dec(nb * 0.6)
            rangs.append(rang)
    return rangs


# --- what the database holds, in the file's own terms -----------------------------------------------------
_LECTURES = {
    "gaveurs": "SELECT code, nom, distance_km::text, actif FROM gaveurs WHERE code LIKE :p",
    "lots": "SELECT code_lot, souche_code, debut::text, fin::text, nb_canards_entres, nb_morts, "
            "poids_entree_moyen_kg::text FROM lots_gavage WHERE code_lot LIKE :p",
    "doses": "SELECT l.code_lot, d.repas, d.jour, to_char(d.horodatage AT TIME ZONE 'Europe/Paris', "
             "'YYYY-MM-DD HH24:MI'), d.dose_g::text, d.dose_theorique_g::text FROM doses_gavage d "
             "JOIN lots_gavage l USING (lot_id) WHERE l.code_lot LIKE :p",
    "abattages": "SELECT l.code_lot, a.date_abattage::text, a.nb_canards_abattus, a.poids_foie_moyen_g::text, "
                 "a.mais_total_kg::text, a.taux_fonte_pct::text, (SELECT string_agg(q.grade || '=' || q.nb_foies "
                 "|| '/' || q.poids_kg, ',' ORDER BY q.grade) FROM qualite_foies q WHERE q.lot_id = a.lot_id) "
                 "FROM abattages a JOIN lots_gavage l USING (lot_id) WHERE l.code_lot LIKE :p",
}
_LECTURES["doses_jour"] = _LECTURES["doses"]


def _base(engine, genre: str, prefixe: str) -> set[tuple]:
    with db.connect(engine) as conn:
        return {tuple(r) for r in conn.execute(sa.text(_LECTURES[genre]), {"p": prefixe + "%"})}


def _num(texte: str) -> str | None:
    texte = texte.strip()
    return f"{float(texte.replace(',', '.')):.1f}" if texte else None


_FAUX = {"non", "n", "faux", "false", "0", "no"}


def _attendu(genre: str, rangs: list[dict[str, str]]) -> set[tuple]:
    """What the database must hold after importing ``rangs`` (accepted lines) into an example's prefix."""
    sortie = set()
    for r in rangs:
        if genre == "gaveurs":
            sortie.add((r["code_gaveur"], r["nom"].strip(), _num(r["distance_km"]),
                        r["actif"].strip().lower() not in _FAUX))
        elif genre == "lots":
            debut = date(*reversed([int(x) for x in r["date_debut"].split("/")]))
            sortie.add((r["code_lot"], r["souche"].strip().upper(), debut.isoformat(), r["date_fin"],
                        int(r["nb_canards_entres"]), int(r["nb_morts"].strip() or 0),
                        f"{float(r['poids_entree_moyen_kg'].replace(',', '.')):.3f}"))
        elif genre == "doses":
            sortie.add((r["code_lot"], int(r["repas"]), int(r["jour"]), r["horodatage"].strip() or None,
                        _num(r["dose_g"]), _num(r["dose_theorique_g"])))
        elif genre == "doses_jour":
            theo = _num(r["dose_theorique_jour_g"])
            for repas in (2 * int(r["jour"]) - 1, 2 * int(r["jour"])):
                sortie.add((r["code_lot"], repas, int(r["jour"]), None, f"{float(_num(r['dose_jour_g'])) / 2:.1f}",
                            f"{float(theo) / 2:.1f}" if theo else None))
        else:
            grades = ",".join(f"{nom}={int(r[f'nb_{g}'])}/{float(r[f'poids_{g}_kg'].replace(',', '.')):.2f}"
                              for g, nom in sorted(GRADES.items(), key=lambda x: x[1])
                              if r.get(f"nb_{g}", "").strip())
            sortie.add((r["code_lot"], r["date_abattage"], int(r["nb_canards_abattus"]),
                        _num(r["poids_foie_moyen_g"]), _num(r["mais_total_kg"]), _num(r["taux_fonte_pct"]),
                        grades or None))
    return sortie


def _sans_heure_par_defaut(genre: str, lignes: set[tuple]) -> set[tuple]:
    """Meals imported without a time are stored at 06:00 / 18:00: compare those without the time."""
    if genre not in ("doses", "doses_jour"):
        return lignes
    return {(c, r, j, None if h and h[11:] in ("06:00", "18:00") else h, *v) for c, r, j, h, *v in lignes}


def _preparer(engine, genre: str, data) -> tuple[str, list[str], list[str], list[dict[str, str]]]:
    prefixe = f"P{next(_COMPTEUR)}-"
    codes = _creer_lots(engine, prefixe, 3) if genre in ("doses", "doses_jour", "abattages") else []
    colonnes = FORMATS[genre].noms
    return prefixe, codes, colonnes, _rangs_valides(genre, prefixe, codes, data)


@pytest.mark.parametrize("genre", GENRES)
@REGLAGES
@given(data=st.data())
def test_random_valid_files_round_trip_exactly(engine, genre, data):
    prefixe, _, colonnes, rangs = _preparer(engine, genre, data)
    rapport = import_content(engine, genre, _csv(colonnes, rangs), f"{genre}.csv")
    assert rapport.erreurs == [] and rapport.nb_inseres == len(rangs), rapport.texte()
    assert _sans_heure_par_defaut(genre, _base(engine, genre, prefixe)) == _attendu(genre, rangs)
    encore = import_content(engine, genre, _csv(colonnes, rangs), f"{genre}.csv")  # same bytes: not read again
    relu = import_content(engine, genre, b"# relu\n" + _csv(colonnes, rangs), f"{genre}.csv")  # other bytes: read
    assert PAS_RELU in encore.texte() and PAS_RELU not in relu.texte()
    for again in (encore, relu):
        assert (again.nb_inchanges, again.nb_inseres, again.nb_mis_a_jour) == (len(rangs), 0, 0), again.texte()


_DEGATS = st.sampled_from(["", "abc", "-5", "99999", "1e400", "32/13/2025", "?", "2,5,5", "  ", "ZZ", "0"])


@pytest.mark.parametrize("genre", GENRES)
@REGLAGES
@given(data=st.data())
def test_random_corruptions_store_or_quarantine_each_line_once(engine, genre, data):
    prefixe, codes, colonnes, rangs = _preparer(engine, genre, data)
    cle_fixe = 1 if genre in ("gaveurs", "lots") else 0  # a damaged new code would be a valid new code
    for rang in rangs:  # corrupt some cells, and repeat or clash some keys
        for col in data.draw(st.lists(st.sampled_from(colonnes[cle_fixe:]), max_size=2)):
            rang[col] = data.draw(_DEGATS)
    if data.draw(st.booleans()):
        rangs.append(dict(data.draw(st.sampled_from(rangs))))
    if data.draw(st.booleans()):
        autre = dict(data.draw(st.sampled_from(rangs)))
        autre[data.draw(st.sampled_from(colonnes[1:]))] = data.draw(_DEGATS)
        rangs.append(autre)
    try:
        rapport = import_content(engine, genre, _csv(colonnes, rangs), f"{genre}.csv")
    except ImportFileError as exc:  # a corrupted header-level column: refused whole, nothing written
        assert _base(engine, genre, prefixe) == set(), str(exc)
        return
    rejetees = {ligne for ligne, _ in rapport.erreurs}
    assert len(rejetees) == len(rapport.erreurs)
    stockees = [r for i, r in enumerate(rangs) if i + 2 not in rejetees and i + 2 not in rapport.doublons]
    assert rapport.nb_inseres + rapport.nb_mis_a_jour + rapport.nb_inchanges + rapport.nb_doublons \
        + len(rejetees) == len(rangs)
    assert _sans_heure_par_defaut(genre, _base(engine, genre, prefixe)) == _attendu(genre, stockees), \
        rapport.texte()  # every accepted line stored as written, nothing from a rejected line
    with db.connect(engine) as conn:
        quarantaine = conn.execute(sa.text("SELECT count(*) FROM imports_quarantaine WHERE import_id = :i"),
                                   {"i": rapport.import_id}).scalar_one()
        en_double = conn.execute(sa.text(
            "SELECT count(*) FROM (SELECT lot_id, repas FROM doses_gavage GROUP BY 1, 2 HAVING count(*) > 1) x"
        )).scalar_one()
    assert quarantaine == len(rejetees) and en_double == 0


@pytest.mark.parametrize("genre", GENRES)
@REGLAGES
@given(data=st.data())
def test_a_correction_applied_twice_is_the_same_as_once(engine, genre, data):
    prefixe, codes, colonnes, rangs = _preparer(engine, genre, data)
    assert import_content(engine, genre, _csv(colonnes, rangs), f"{genre}.csv").erreurs == []
    correction = [dict(r) for r in rangs]
    nouvelles = _rangs_valides(genre, prefixe, codes, data)  # same keys, other values (or fewer grades)
    cles = FORMATS[genre].cle
    par_cle = {tuple(r[c] for c in cles): r for r in nouvelles}
    for r in correction:
        if data.draw(st.booleans()) and tuple(r[c] for c in cles) in par_cle:
            nouvelle = par_cle[tuple(r[c] for c in cles)]
            r.update(nouvelle)
            if genre == "abattages":  # the new set of grades, blanks included (a grade may disappear)
                r.update({k: nouvelle.get(k, "") for g in GRADES for k in (f"nb_{g}", f"poids_{g}_kg")})
    une = import_content(engine, genre, _csv(colonnes, correction), "correction.csv")
    assert une.erreurs == [], une.texte()
    apres_une = _base(engine, genre, prefixe)
    for deux in (import_content(engine, genre, _csv(colonnes, correction), "correction.csv"),
                 import_content(engine, genre, b"# relu\n" + _csv(colonnes, correction), "correction.csv")):
        assert _base(engine, genre, prefixe) == apres_une
        assert (deux.nb_inseres, deux.nb_mis_a_jour, deux.nb_inchanges) == (0, 0, len(correction)), deux.texte()
    assert _sans_heure_par_defaut(genre, apres_une) == _attendu(genre, correction)
