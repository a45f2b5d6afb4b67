"""Row-level security in PostgreSQL: each role sees exactly its rows, nothing without a valid kernel token,
and admin-only writes are refused to others (sql/110–112, 150–152, euralis_lib.auth.acces). Users act
through real sessions: the engines carry their session's kernel token (tests/connexion.py)."""

from __future__ import annotations

import pandas as pd
import psycopg2.errors
import pytest
import sqlalchemy as sa

from euralis_lib.auth.acces import Utilisateur, engine_utilisateur
from euralis_lib.database import db
from tests.helpers.connexion import ouvrir_session
from tests.helpers.roles import roles_base  # noqa: F401  (the fixture « base »)

# Per-gaveur tables and how the owner (who sees everything) tells which gaveur a row belongs to.
PAR_GAVEUR = {
    "gaveurs": "SELECT gaveur_id, site_code, {k} FROM gaveurs",
    "lots_gavage": "SELECT gaveur_id, site_code, {k} FROM lots_gavage",
    "alertes": "SELECT gaveur_id, site_code, {k} FROM alertes",
    "doses_gavage": "SELECT l.gaveur_id, l.site_code, {k} FROM doses_gavage t JOIN lots_gavage l USING (lot_id)",
    "abattages": "SELECT l.gaveur_id, l.site_code, {k} FROM abattages t JOIN lots_gavage l USING (lot_id)",
    "qualite_foies": "SELECT l.gaveur_id, l.site_code, {k} FROM qualite_foies t JOIN lots_gavage l USING (lot_id)",
}
CLES = {"gaveurs": "gaveur_id", "lots_gavage": "lot_id", "alertes": "alerte_id",
        "doses_gavage": "t.lot_id || '/' || t.horodatage", "abattages": "t.lot_id",
        "qualite_foies": "t.lot_id || '/' || t.grade"}
PROPRES = {"gaveurs": "gaveur_id", "lots_gavage": "lot_id", "alertes": "alerte_id",
           "doses_gavage": "lot_id || '/' || horodatage", "abattages": "lot_id",
           "qualite_foies": "lot_id || '/' || grade"}


def _moteur(base, login: str, role: str | None = None):
    """An engine acting as ``login`` (his session's kernel token), as his own role or ``role``; an unknown
    login gets a well-formed token that is no session's."""
    if (login, role) not in base["moteurs"]:
        if login == "inconnu":
            utilisateur = Utilisateur(login, role or "admin", "0" * 64)
        else:
            ouvert = ouvrir_session(base["url"], login)[1]
            utilisateur = Utilisateur(login, role or ouvert.role, ouvert.jeton)
        base["moteurs"][login, role] = engine_utilisateur(base["web"], utilisateur)
    return base["moteurs"][login, role]


def _oublier(base, login: str) -> None:
    """Drop ``login``'s engines (his sessions were revoked): the next ones open a new session."""
    for cle in [c for c in base["moteurs"] if c[0] == login]:
        base["moteurs"].pop(cle).dispose()


def _vu(base, login: str, role: str, table: str) -> set:
    engine = _moteur(base, login, role)
    with engine.connect() as conn:
        return set(conn.execute(sa.text(f"SELECT {PROPRES[table]} FROM {table}")).scalars())


def _attendu(base, table: str, garder) -> set:
    with base["owner"].connect() as conn:
        rows = conn.execute(sa.text(PAR_GAVEUR[table].format(k=CLES[table]))).all()
    return {cle for gaveur, site, cle in rows if garder(gaveur, site)}


@pytest.mark.parametrize("table", sorted(PAR_GAVEUR))
def test_each_role_sees_exactly_its_rows(base, table):
    tout = _attendu(base, table, lambda g, s: True)
    assert tout, f"{table} is empty in the simulated data: the test would prove nothing"
    assert _vu(base, "adm", "admin", table) == tout
    assert _vu(base, "sup", "superviseur", table) == tout
    assert _vu(base, "sup-site", "superviseur", table) == _attendu(base, table, lambda g, s: s == base["site"])
    for login in ("g1", "g2"):
        siens = _attendu(base, table, lambda g, s, gid=base[login]: g == gid)
        assert siens and siens != tout
        assert _vu(base, login, "gaveur", table) == siens
    # The role switched to does not widen anything: a token is worth something only with its user's role.
    assert _vu(base, "g1", "admin", table) == set()


@pytest.mark.parametrize("table", sorted(PAR_GAVEUR))
def test_nothing_without_a_user_or_for_a_disabled_one(base, table):
    for role in ("admin", "superviseur", "gaveur"):
        with base["web"].connect() as conn:
            conn.exec_driver_sql(f"SET LOCAL ROLE euralis_{role}")
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
    assert _vu(base, "g1-off", "gaveur", table) == set()
    assert _vu(base, "inconnu", "admin", table) == set()


def test_the_web_login_role_has_no_right_of_its_own(base):
    with base["owner"].connect() as conn:
        role = conn.execute(sa.text("SELECT rolsuper, rolbypassrls, rolinherit FROM pg_roles "
                                    "WHERE rolname = 'euralis_web'")).one()
        possede = conn.execute(sa.text("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                                       "WHERE r.rolname = 'euralis_web'")).scalar_one()
    assert tuple(role) == (False, False, False) and possede == 0
    with base["web"].connect() as conn, pytest.raises(sa.exc.ProgrammingError) as err:
        conn.execute(sa.text("SELECT count(*) FROM lots_gavage"))
    assert isinstance(err.value.orig, psycopg2.errors.InsufficientPrivilege)


@pytest.mark.parametrize(("login", "role", "sql"), [
    ("g1", "gaveur", "INSERT INTO prix_parametres (parametre, valide_du, valeur) VALUES ('x', '2026-01-01', 1)"),
    ("sup", "superviseur", "UPDATE sites SET capacite_abattage_jour = 1"),
    ("sup", "superviseur", "INSERT INTO job_runs (job, statut) VALUES ('planning', 'running')"),
    ("g1", "gaveur", "SELECT count(*) FROM imports_quarantaine"),
    ("g1", "gaveur", "SELECT count(*) FROM simulation_verites"),
    ("sup", "superviseur", "SELECT mot_de_passe FROM utilisateurs"),
    ("adm", "admin", "SELECT mot_de_passe FROM utilisateurs"),
    ("g1", "gaveur", "UPDATE lots_gavage SET nb_morts = 0"),
])
def test_admin_only_and_secret_things_are_refused(base, login, role, sql):
    engine = _moteur(base, login, role)
    with engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError) as err:
        conn.execute(sa.text(sql))
    assert isinstance(err.value.orig, psycopg2.errors.InsufficientPrivilege)


@pytest.mark.parametrize("role", ["euralis_job", "euralis_import"])
@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM utilisateurs", "SELECT count(*) FROM sessions_web", "SELECT count(*) FROM audit_acces",
    "ALTER TABLE lots_gavage ADD COLUMN x int", "DROP TABLE alertes", "CREATE TABLE public.t (x int)",
    "ALTER TABLE lots_gavage DISABLE ROW LEVEL SECURITY",
])
def test_pipeline_roles_write_data_but_never_the_schema_nor_the_users(base, role, sql):
    """Jobs and command-line imports run as these roles (db.url_en_role): data yes, schema and users no."""
    engine = db.get_engine(db.url_en_role(base["owner"].url.render_as_string(hide_password=False), role))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_user")).scalar_one() == role
        assert conn.execute(sa.text("SELECT count(*) FROM doses_gavage")).scalar_one() > 0  # every row, no user set
        conn.execute(sa.text("RESET ROLE"))  # back to the session's starting role, not the owner
        assert conn.execute(sa.text("SELECT current_user")).scalar_one() == role
        with pytest.raises(sa.exc.ProgrammingError) as err:
            conn.execute(sa.text(sql))
    assert isinstance(err.value.orig, psycopg2.errors.InsufficientPrivilege), err.value.orig


def test_an_admin_edits_capacities_and_reads_users_without_hashes(base):
    engine = _moteur(base, "adm")
    with engine.connect() as conn:
        assert conn.execute(sa.text("UPDATE sites SET capacite_abattage_jour = capacite_abattage_jour")).rowcount > 0
        assert conn.execute(sa.text("SELECT count(*) FROM utilisateurs")).scalar_one() == 6
        conn.rollback()


def test_a_gaveur_compares_with_his_site_means_without_seeing_other_rows(base):
    debut, fin = "2025-01-01", "2026-06-30"
    with base["owner"].connect() as conn:
        attendu = conn.execute(sa.text(
            "SELECT l.site_code, round(avg(a.sigma_g), 1) FROM lots_gavage l JOIN abattages a USING (lot_id) "
            "WHERE a.date_abattage BETWEEN :d AND :f GROUP BY 1 ORDER BY 1"), {"d": debut, "f": fin}).all()
    assert len(attendu) >= 2
    # His own site's means; other sites' figures are not his to see. A supervisor of all sites gets every site.
    for login, sites in (("g1", {base["site"]}), ("sup", {s for s, _ in attendu})):
        with _moteur(base, login).connect() as conn:
            vu = conn.execute(sa.text("SELECT site_code, sigma_moyen_g FROM moyennes_sites(:d, :f) ORDER BY 1"),
                              {"d": debut, "f": fin}).all()
        assert [tuple(r) for r in vu] == [tuple(r) for r in attendu if r[0] in sites], login
    with base["web"].connect() as conn:
        conn.exec_driver_sql("SET LOCAL ROLE euralis_gaveur")
        assert conn.execute(sa.text("SELECT count(*) FROM moyennes_sites(:d, :f)"),
                            {"d": debut, "f": fin}).scalar_one() == 0


def _codes_des_autres(base, gaveur_id: int) -> tuple[set[str], set[str]]:
    """The codes of every other gaveur and of their lots."""
    with base["owner"].connect() as conn:
        gaveurs = set(conn.execute(sa.text("SELECT code FROM gaveurs WHERE gaveur_id <> :g"),
                                   {"g": gaveur_id}).scalars())
        lots = set(conn.execute(sa.text("SELECT code_lot FROM lots_gavage WHERE gaveur_id <> :g"),
                                {"g": gaveur_id}).scalars())
    return gaveurs, lots


def _autres_vus(base, texte: str, gaveur_id: int) -> set[str]:
    """The codes of other gaveurs and of their lots that appear in ``texte`` (as whole words)."""
    import re

    mots = set(re.findall(r"[\w-]+", texte))
    gaveurs, lots = _codes_des_autres(base, gaveur_id)
    return mots & (gaveurs | lots)


def _comparer(base, login: str, mode: str, gaveur_id: int, debut, fin) -> str:
    """The text (unescaped) of the Gaveurs page built as ``login`` with the comparison ``mode`` for ``gaveur_id``."""
    import html

    from euralis_lib.dashboards import gaveurs
    from euralis_lib.dashboards.common import Comparaison, Contexte, Filters
    from tests.helpers.pages import page_text

    filtres = Filters(debut, fin, ["LL", "LS", "MT"], comparaison=Comparaison(mode, gaveur_id=gaveur_id))
    role = {"g1": "gaveur", "g2": "gaveur"}.get(login, "superviseur")
    contexte = Contexte(_moteur(base, login), filtres, lambda: None, Utilisateur(login, role))
    return html.unescape(page_text(gaveurs.build(contexte)))


def test_the_gaveurs_page_compares_a_gaveur_with_means_over_his_whole_site(base):
    from datetime import date

    from euralis_lib.dashboards import comparaison
    from euralis_lib.database import queries
    from euralis_lib.presentation import formatting

    debut, fin = date(2025, 7, 1), date(2026, 6, 30)
    engine = _moteur(base, "g1")
    perf = queries.gaveur_performances(engine, None, debut, fin)
    assert perf["gaveur_id"].tolist() == [base["g1"]]
    moyennes = queries.moyennes_sites(engine, debut, fin)
    comp = comparaison.ecarts(perf.iloc[0], moyennes.loc[base["site"]]).set_index("indicateur")
    with base["owner"].connect() as conn:
        itm_site = float(conn.execute(sa.text(
            "SELECT round(sum(a.mais_total_kg) / sum(a.poids_foie_total_kg), 2) FROM lots_gavage l "
            "JOIN abattages a USING (lot_id) WHERE l.site_code = :s AND a.date_abattage BETWEEN :d AND :f"),
            {"s": base["site"], "d": debut, "f": fin}).scalar_one())
    assert comp.loc["ITM", "reference"] == pytest.approx(itm_site)
    assert comp.loc["ITM", "valeur"] == pytest.approx(perf["itm"].iloc[0])
    assert comp.loc["ITM", "ecart"] == pytest.approx(perf["itm"].iloc[0] - itm_site)
    assert perf["itm"].iloc[0] != pytest.approx(itm_site)  # the site's mean, not his own lots'
    # The page he reads: the site's means over every gaveur of it, and nothing of another gaveur.
    texte = _comparer(base, "g1", "moyenne_site", base["g1"], debut, fin)
    nb_gaveurs = int(moyennes.loc[base["site"], "nb_gaveurs"])
    assert nb_gaveurs >= 3 and f"moyenne de {nb_gaveurs} gaveurs" in texte
    assert formatting.nombre(itm_site, 2) in texte and f"Moyenne du site {base['site']}" in texte
    assert _autres_vus(base, texte, base["g1"]) == set()
    assert _autres_vus(base, _comparer(base, "sup", "moyenne_site", base["g1"], debut, fin), base["g1"])  # control


def test_a_gaveur_compares_with_his_groups_means_and_learns_no_other_gaveur(base):
    """Issue 23: the group (cluster) means come from moyennes_groupe() (sql/198): the aggregate over his whole
    group, only for a gaveur the caller reads, only for groups of at least three gaveurs."""
    from datetime import date

    from euralis_lib.database import queries
    from euralis_lib.presentation import formatting

    debut, fin = date(2025, 7, 1), date(2026, 6, 30)
    g1, g2 = base["g1"], base["g2"]
    # Before any clustering run, the page says so.
    assert "le job clustering n'a encore jamais réussi" in _comparer(base, "g1", "groupe", g1, debut, fin)
    with base["owner"].begin() as conn:
        autres = conn.execute(sa.text(
            "SELECT gaveur_id FROM gaveurs WHERE gaveur_id NOT IN (:a, :b) ORDER BY site_code <> :s, gaveur_id"),
            {"a": g1, "b": g2, "s": base["site"]}).scalars().all()
        groupe, petit = [g1, *autres[:2], autres[-1]], [g2, autres[-2]]  # his group spans two sites
        run = conn.execute(sa.text("INSERT INTO job_runs (job, statut, fin, etape) "
                                   "VALUES ('clustering', 'success', now(), 'publie') RETURNING run_id")).scalar_one()
        for cluster, nom, membres in ((0, "Réguliers", groupe), (1, "Prudents", petit)):
            for g in membres:
                conn.execute(sa.text("INSERT INTO clusters_gaveurs (run_id, gaveur_id, cluster, nom_cluster) "
                                     "VALUES (:r, :g, :c, :n)"), {"r": run, "g": g, "c": cluster, "n": nom})
        attendu = conn.execute(sa.text(
            "SELECT count(DISTINCT l.gaveur_id), round(sum(a.mais_total_kg) / sum(a.poids_foie_total_kg), 2), "
            "round(avg(a.sigma_g), 1) FROM lots_gavage l JOIN abattages a USING (lot_id) "
            "WHERE l.gaveur_id = ANY(:g) AND a.date_abattage BETWEEN :d AND :f"),
            {"g": groupe, "d": debut, "f": fin}).one()
    try:
        vu = queries.moyennes_groupe(_moteur(base, "g1"), g1, debut, fin)
        assert vu[["nb_gaveurs", "itm_moyen", "sigma_moyen_g"]].astype(float).values.tolist() == [
            pytest.approx([float(x) for x in attendu])]
        assert vu["nom_cluster"].tolist() == ["Réguliers"] and attendu[0] == 4
        sien = queries.gaveur_performances(_moteur(base, "g1"), None, debut, fin)
        assert float(vu["itm_moyen"].iloc[0]) != pytest.approx(sien["itm"].iloc[0])  # the group's, not his own
        # Another gaveur's group: nothing (a gaveur cannot learn who is in which group); too small a group: nothing.
        assert queries.moyennes_groupe(_moteur(base, "g1"), g2, debut, fin).empty
        assert queries.moyennes_groupe(_moteur(base, "g2"), g2, debut, fin).empty
        assert queries.moyennes_groupe(_moteur(base, "sup"), g1, debut, fin).equals(vu)  # a supervisor: the same
        # The page: his group's means, its size, nothing of another gaveur.
        texte = _comparer(base, "g1", "groupe", g1, debut, fin)
        assert "Groupe « Réguliers »" in texte and "moyenne de 4 gaveurs" in texte
        assert formatting.nombre(float(attendu[1]), 2) in texte
        assert _autres_vus(base, texte, g1) == set()
        assert "Pas de moyenne de groupe" in _comparer(base, "g2", "groupe", g2, debut, fin)
        assert "aucun lot abattu" in _comparer(base, "g1", "groupe", g2, debut, fin)  # crafted: another gaveur
    finally:
        with base["owner"].begin() as conn:
            conn.execute(sa.text("DELETE FROM job_runs WHERE run_id = :r"), {"r": run})


def test_only_an_admin_computes_a_plan(base):
    from datetime import date

    from euralis_lib.dashboards import abattages
    from euralis_lib.dashboards.common import Filters

    filtres = Filters(date(2026, 6, 1), date(2026, 6, 30), ["LL", "LS", "MT"])
    with pytest.raises(sa.exc.ProgrammingError):
        abattages.calculer_plan(_moteur(base, "sup"), filtres)
    metriques = abattages.calculer_plan(_moteur(base, "adm"), filtres)
    with base["owner"].connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM planning_abattages WHERE run_id = :r"),
                            {"r": metriques["run_id"]}).scalar_one() > 0


def test_only_an_admin_publishes_a_run_and_the_database_refuses_everyone_else(base):
    """Issue 24: promotion and rollback are decided by PostgreSQL (sql/202): supervisors, gaveurs and the job
    role are refused, even writing the stage directly; an admin's promotion is credited to his login."""
    from euralis_lib.jobs import runs

    with base["owner"].begin() as conn:
        publie, explore = conn.execute(sa.text(
            "INSERT INTO job_runs (job, statut, fin, etape) VALUES ('finance', 'success', now(), 'publie'), "
            "('finance', 'success', now(), 'exploratoire') RETURNING run_id")).scalars().all()
    job = db.get_engine(db.url_en_role(base["owner"].url.render_as_string(hide_password=False), "euralis_job"))
    try:
        for moteur in (_moteur(base, "sup"), _moteur(base, "g1"), _moteur(base, "inconnu"), job):
            with pytest.raises(runs.PublicationError):
                runs.promote(moteur, explore)
            with pytest.raises(runs.PublicationError):
                runs.rollback(moteur, "finance")
        with job.begin() as conn, pytest.raises(sa.exc.ProgrammingError, match="seul un administrateur"):
            conn.execute(sa.text("UPDATE job_runs SET etape = 'publie' WHERE run_id = :r"), {"r": explore})
        assert runs.latest_run(base["owner"], "finance").run_id == publie
        assert runs.promote(_moteur(base, "adm"), explore) == publie  # the control: an admin may
        promu = runs.latest_run(_moteur(base, "sup"), "finance")  # what a supervisor's pages now show
        assert (promu.run_id, promu.publie_par) == (explore, "adm")
        assert runs.rollback(_moteur(base, "adm"), "finance") == publie
        with base["owner"].connect() as conn:
            audit = conn.execute(sa.text("SELECT action, run_avant, run_apres, par FROM job_runs_publications "
                                         "WHERE job = 'finance' ORDER BY publication_id")).all()
        assert [tuple(a) for a in audit] == [("promotion", publie, explore, "adm"), ("retour", explore, publie, "adm")]
    finally:
        job.dispose()
        with base["owner"].begin() as conn:
            conn.execute(sa.text("DELETE FROM job_runs_publications WHERE job = 'finance'"))
            conn.execute(sa.text("DELETE FROM job_runs WHERE run_id IN (:a, :b)"), {"a": publie, "b": explore})


def test_administration_changes_are_an_admins_only(base):
    from datetime import date

    from euralis_lib.auth import administration

    sup, adm = _moteur(base, "sup"), _moteur(base, "adm")
    parametre = administration.prix(adm)["parametre"].iloc[0]
    for faire in (lambda: administration.changer_capacite(sup, "LL", 1),
                  lambda: administration.activer(sup, "g2", False),
                  lambda: administration.fixer_prix(sup, parametre, None, date(2026, 7, 1), 1.0),
                  lambda: administration.utilisateurs(sup)):
        with pytest.raises((sa.exc.ProgrammingError, pd.errors.DatabaseError), match="permission denied"):
            faire()
    avant = administration.capacites(adm).set_index("code")["capacite_abattage_jour"]
    try:
        administration.changer_capacite(adm, "LL", int(avant["LL"]) + 1)
        administration.activer(adm, "g2", False)
        administration.fixer_prix(adm, parametre, "LL", date(2030, 1, 1), 2.5)
        assert administration.capacites(adm).set_index("code").loc["LL", "capacite_abattage_jour"] == avant["LL"] + 1
        assert not administration.utilisateurs(adm).set_index("login").loc["g2", "actif"]
        assert _vu(base, "g2", "gaveur", "lots_gavage") == set()
        with base["owner"].connect() as conn:
            actions = conn.execute(sa.text("SELECT detail->>'action' FROM audit_acces WHERE login = 'adm' "
                                           "AND evenement = 'admin' ORDER BY audit_id")).scalars().all()
        assert actions[-3:] == ["capacite", "desactiver", "prix"]
    finally:
        administration.activer(adm, "g2", True)
        administration.changer_capacite(adm, "LL", int(avant["LL"]))
        # Disabling g2 revoked his session: later tests get a new one.
        _oublier(base, "g2")
        with base["owner"].begin() as conn:
            conn.execute(sa.text("DELETE FROM prix_parametres WHERE valide_du = '2030-01-01'"))


def test_crafted_filter_values_reach_nothing_of_another_gaveur(base):
    """What a crafted widget value can do at most: ask the queries for another gaveur or every site."""
    from datetime import date

    from euralis_lib.database import queries

    debut, fin = date(2024, 7, 1), date(2026, 6, 30)
    g1 = _moteur(base, "g1")
    assert queries.gaveur_performances(g1, None, debut, fin, gaveurs=[base["g2"]]).empty
    assert set(queries.gaveur_performances(g1, None, debut, fin)["gaveur_id"]) == {base["g1"]}
    assert set(queries.gaveur_options(g1)["gaveur_id"]) == {base["g1"]}
    lots = queries.qualite_lots(g1, None, debut, fin)
    assert not lots.empty
    with base["owner"].connect() as conn:
        siens = set(conn.execute(sa.text("SELECT code_lot FROM lots_gavage WHERE gaveur_id = :g"),
                                 {"g": base["g1"]}).scalars())
    assert set(lots["code_lot"]) <= siens
