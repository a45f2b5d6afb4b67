"""Attacks on the database layer (issue 21): what SQL run as ``euralis_web`` gets without the right kernel token.

The takeover of the issue, replayed at the database: a connection as ``euralis_web`` switches to
``euralis_admin`` (PostgreSQL lets it) with no token, a forged one, a superviseur's, a gaveur's, a
logged-out admin's or an expired one, and tries every read and write on every table a web role can reach —
enumerated from pg_catalog, so a table added by a later migration is attacked too. Each attack has its
control: the same statements with a valid admin token go through. Also: every relation and function a web
role can touch is guarded (and a new unguarded table is caught), a superviseur cannot make himself admin,
the audit credits the database's user, per-site results follow the user's sites, a logout stops an open
engine at its next transaction, report files are readable only by users who read every row, and every page
opens for every role without an unexpected error.
"""

from __future__ import annotations

import html
import importlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import ipywidgets as w
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from euralis_lib import jobs
from euralis_lib.auth import acces, administration, utilisateurs
from euralis_lib.auth.acces import Utilisateur, engine_utilisateur, web_url
from euralis_lib.dashboards import PAGES, common
from euralis_lib.database import db, queries
from euralis_lib.jobs import results, runs
from tests.helpers.connexion import creer_utilisateur, engine_de, ouvrir_session

WEB = ("euralis_admin", "euralis_superviseur", "euralis_gaveur")
# What a guard looks like in a policy or a SECURITY DEFINER function: a call to the token helpers (sql/150).
GARDE = re.compile(r"euralis_(session_courante|utilisateur_courant|acces_\w+|sites_lisibles)\(")
RAPIDES = {"previsions": {"nb_origines": 2}, "entrainement": {"generations": 30}}
SANS_RESULTATS = {"refresh_performances", "backup"}
UTILISATEURS = [("adm", "admin", {}), ("sup", "superviseur", {}), ("sup-ll", "superviseur", {"sites": ["LL"]}),
                ("g1", "gaveur", {}), ("g2", "gaveur", {})]


@pytest.fixture(scope="module")
def base(pg_cluster, sim_template) -> Iterator[dict]:
    """Simulated data with the results of every job, and users: an admin, a superviseur of all sites, one of
    LL only, a gaveur of LL (g1) and one of MT (g2)."""
    name = pg_cluster.clone(sim_template)
    url = pg_cluster.url(name)
    owner = db.get_engine(url)
    for job in jobs.JOBS:
        if job not in SANS_RESULTATS:
            jobs.run_job(job, owner, publier=True, **RAPIDES.get(job, {}))
    with owner.connect() as conn:
        premier = ("SELECT gaveur_id FROM lots_gavage WHERE site_code = :s GROUP BY 1 ORDER BY count(*) DESC, 1 "
                   "LIMIT 1")
        gaveurs = {s: conn.execute(sa.text(premier), {"s": s}).scalar_one() for s in ("LL", "MT")}
    for login, role, kwargs in UTILISATEURS:
        gaveur = {"g1": gaveurs["LL"], "g2": gaveurs["MT"]}.get(login)
        creer_utilisateur(url, login, role, **kwargs, **({"gaveur_id": gaveur} if gaveur else {}))
    web = db.get_engine(web_url(url))
    yield {"url": url, "owner": owner, "web": web, "g1": gaveurs["LL"], "g2": gaveurs["MT"]}
    web.dispose()
    owner.dispose()
    pg_cluster.drop(name)


@contextmanager
def _en_tant_que(base, role: str, jeton: str | None) -> Iterator[Connection]:
    """A transaction of ``euralis_web`` switched to ``role``, with ``jeton`` set as an attacker would set it
    (``set_config``); rolled back."""
    with base["web"].connect() as conn:
        conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
        if jeton is not None:
            conn.execute(sa.text("SELECT set_config('app.jeton', :j, true)"), {"j": jeton})
        yield conn
        conn.rollback()


def _pgcode(exc: BaseException) -> str | None:
    return getattr(getattr(exc, "orig", None), "pgcode", None)


def _essayer(conn: Connection, sql: str, params: dict | None = None) -> tuple[int | None, str | None]:
    """Run ``sql`` in a savepoint rolled back afterwards: (rows it returned or touched, None) or (None, the
    SQLSTATE it failed with)."""
    point = conn.begin_nested()
    try:
        res = conn.execute(sa.text(sql), params or {})
        return (res.scalar_one() if res.returns_rows else res.rowcount), None
    except sa.exc.DBAPIError as exc:
        return None, _pgcode(exc)
    finally:
        point.rollback()


def _relations(conn: Connection) -> list[sa.Row]:
    """Every relation of the public schema and, per web role (and euralis_web), what it may do with it."""
    return conn.execute(sa.text("""
        SELECT c.oid::regclass::text AS nom, c.relkind, c.relrowsecurity AS rls, c.relforcerowsecurity AS force,
               r.role, has_any_column_privilege(r.role, c.oid, 'SELECT') AS lire,
               has_any_column_privilege(r.role, c.oid, 'INSERT') AS inserer,
               has_any_column_privilege(r.role, c.oid, 'UPDATE') AS modifier,
               has_table_privilege(r.role, c.oid, 'DELETE') AS supprimer,
               has_table_privilege(r.role, c.oid, 'TRUNCATE') OR has_table_privilege(r.role, c.oid, 'TRIGGER')
                   OR has_any_column_privilege(r.role, c.oid, 'REFERENCES') AS autre
        FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
        CROSS JOIN (VALUES ('euralis_web'), ('euralis_admin'), ('euralis_superviseur'), ('euralis_gaveur')) r(role)
        WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        ORDER BY 1, 5""")).all()


def _non_gardees(conn: Connection) -> list[str]:
    """What a web role can touch without the token deciding: relations without FORCEd row-level security,
    views and materialized views, rights row-level security does not filter, policies that do not call the
    token helpers; SECURITY DEFINER functions that do not; sequences it may read or reset."""
    fautes = []
    for r in _relations(conn):
        droits = r.lire or r.inserer or r.modifier or r.supprimer or r.autre
        if r.relkind == "S":
            if r.lire or r.modifier:
                fautes.append(f"{r.role} may read or reset sequence {r.nom}")
        elif droits and r.role == "euralis_web":
            fautes.append(f"euralis_web has a right of its own on {r.nom}")
        elif droits and r.relkind not in ("r", "p"):
            fautes.append(f"{r.role} reaches {r.nom} (relkind {r.relkind}), which row-level security does not filter")
        elif droits and not (r.rls and r.force):
            fautes.append(f"{r.role} reaches {r.nom}, whose row-level security is not enabled and forced")
        elif r.autre:
            fautes.append(f"{r.role} may TRUNCATE, reference or add triggers to {r.nom}")
    for p in conn.execute(sa.text("""
            SELECT p.polrelid::regclass::text AS nom, p.polname,
                   coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' ' ||
                   coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '') AS regle,
                   array(SELECT CASE WHEN o = 0 THEN 'public' ELSE o::regrole::text END
                         FROM unnest(p.polroles) o) AS roles
            FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace s ON s.oid = c.relnamespace
            WHERE s.nspname = 'public'""")):
        if "public" in p.roles or set(p.roles) & set(WEB):
            if not (GARDE.search(p.regle) or p.regle.strip() == "false"):
                fautes.append(f"policy {p.polname} on {p.nom} for {p.roles} does not check the token: {p.regle}")
    for f in conn.execute(sa.text("""
            SELECT p.oid::regprocedure::text AS nom, p.prosrc
            FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace
            WHERE s.nspname = 'public' AND p.prosecdef
              AND EXISTS (SELECT FROM unnest(ARRAY['euralis_web', 'euralis_admin', 'euralis_superviseur',
                                                   'euralis_gaveur']) r
                          WHERE has_function_privilege(r, p.oid, 'EXECUTE'))""")):
        if not GARDE.search(f.prosrc):
            fautes.append(f"SECURITY DEFINER function {f.nom} runs for a web role without checking the token")
    return fautes


def test_every_relation_and_function_a_web_role_can_touch_is_guarded_by_the_token(base):
    with base["owner"].connect() as conn:
        assert _non_gardees(conn) == []
        touchees = {r.nom for r in _relations(conn) if r.relkind in ("r", "p") and r.role in WEB and r.lire}
    assert {"utilisateurs", "audit_acces", "sites", "prix_parametres", "job_runs", "previsions"} <= touchees


def test_a_table_added_later_without_row_level_security_is_caught_then_covered_by_the_loop(base):
    """The check can fail: a migration that adds a table (the default privileges give it to the web roles)
    without protecting it is reported; calling the loop of sql/151 covers it."""
    with base["owner"].connect() as conn:
        conn.execute(sa.text("CREATE TABLE public.ajout_ulterieur (site_code text, valeur int)"))
        conn.execute(sa.text("CREATE VIEW public.vue_ulterieure AS SELECT 1 AS un"))
        conn.execute(sa.text("CREATE FUNCTION public.fonction_ulterieure() RETURNS bigint LANGUAGE sql "
                             "SECURITY DEFINER AS 'SELECT count(*) FROM utilisateurs'"))
        fautes = _non_gardees(conn)
        assert any("ajout_ulterieur" in f and "not enabled" in f for f in fautes), fautes
        assert any("vue_ulterieure" in f for f in fautes) and any("fonction_ulterieure" in f for f in fautes)
        conn.execute(sa.text("DROP VIEW public.vue_ulterieure; DROP FUNCTION public.fonction_ulterieure()"))
        conn.execute(sa.text("SELECT euralis_proteger_tout()"))
        assert _non_gardees(conn) == []
        conn.rollback()


ATTAQUES = ["sans jeton", "jeton forgé", "jeton d'un superviseur", "jeton d'un gaveur",
            "jeton d'une session fermée", "jeton expiré"]


def _jeton(base, cas: str) -> str | None:
    """The token an attacker holds in each case (a real session's where there is one)."""
    if cas == "sans jeton":
        return None
    if cas == "jeton forgé":
        return secrets.token_hex(32)
    login = {"jeton d'un superviseur": "sup", "jeton d'un gaveur": "g1"}.get(cas, "adm")
    session, utilisateur = ouvrir_session(base["url"], login)
    if cas == "jeton d'une session fermée":
        utilisateurs.fermer_session(base["owner"], session)
    elif cas == "jeton expiré":
        with base["owner"].begin() as conn:
            conn.execute(sa.text("UPDATE sessions_web SET expire_le = now() - interval '1 second' "
                                 "WHERE jeton_noyau = encode(sha256(convert_to(:j, 'UTF8')), 'hex')"),
                         {"j": utilisateur.jeton})
    return utilisateur.jeton


def _ecritures(base, role: str) -> list[tuple[str, str, str, dict]]:
    """Per table ``role`` may reach: (table, kind, statement, parameters) — a count, an UPDATE and a DELETE of
    every row, an INSERT of a copy of a real row (read by the owner)."""
    essais = []
    with base["owner"].connect() as conn:
        for r in _relations(conn):
            if r.role != role or r.relkind not in ("r", "p"):
                continue
            if r.lire:
                essais.append((r.nom, "lecture", f"SELECT count(*) FROM {r.nom}", {}))
            if r.modifier:
                colonne = conn.execute(sa.text(
                    "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
                    "AND attnum > 0 AND NOT attisdropped AND has_column_privilege(:r, attrelid, attnum, 'UPDATE') "
                    "ORDER BY attnum LIMIT 1"), {"t": r.nom, "r": role}).scalar_one()
                essais.append((r.nom, "modification", f"UPDATE {r.nom} SET {colonne} = {colonne}", {}))
            if r.supprimer:
                essais.append((r.nom, "suppression", f"DELETE FROM {r.nom}", {}))
            if r.inserer:
                ligne = conn.execute(sa.text(f"SELECT to_json(t)::text FROM {r.nom} t LIMIT 1")).scalar() or "{}"
                colonnes = conn.execute(sa.text(
                    "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
                    "WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped AND attgenerated = '' "
                    "AND attidentity <> 'a' AND has_column_privilege(:r, attrelid, attnum, 'INSERT')"),
                    {"t": r.nom, "r": role}).scalar_one()
                essais.append((r.nom, "insertion", f"INSERT INTO {r.nom} ({colonnes}) SELECT {colonnes} "
                                                   f"FROM json_populate_record(NULL::{r.nom}, CAST(:l AS json))",
                               {"l": ligne}))
    return essais


@pytest.mark.parametrize("cas", ATTAQUES)
def test_the_admin_role_without_an_admin_token_reads_and_writes_nothing(base, cas):
    essais = _ecritures(base, "euralis_admin")
    assert len({t for t, genre, _, _ in essais if genre == "modification"}) >= 20, "too few tables to attack"
    jeton = _jeton(base, cas)
    with _en_tant_que(base, "euralis_admin", jeton) as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM euralis_moi()")).scalar_one() == (
            1 if cas in ("jeton d'un superviseur", "jeton d'un gaveur") else 0), "the token is what the case says"
        for table, genre, sql, params in essais:
            lignes, code = _essayer(conn, sql, params)
            if genre == "insertion":
                assert code == "42501", f"{cas}: {genre} in {table} was not refused ({lignes}, {code})"
            else:
                assert lignes == 0 or code == "42501", f"{cas}: {genre} of {table} reached {lignes} rows ({code})"


def test_control_a_valid_admin_token_reads_and_writes_every_table(base):
    """The attack above can fail: with a valid admin token, the same statements reach the rows."""
    essais = _ecritures(base, "euralis_admin")
    jeton = ouvrir_session(base["url"], "adm")[1].jeton
    with base["owner"].connect() as conn:
        totaux = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t, *_ in essais}
    assert sum(1 for n in totaux.values() if n) >= 20
    with _en_tant_que(base, "euralis_admin", jeton) as conn:
        for table, genre, sql, params in essais:
            lignes, code = _essayer(conn, sql, params)
            if genre in ("lecture", "modification"):
                assert lignes == totaux[table], f"{genre} of {table}: {lignes} of {totaux[table]} rows ({code})"
            else:
                # an insertion may hit a key already there, a deletion a reference: never the rights
                assert code != "42501" and (code or lignes == (totaux[table] if genre == "suppression" else 1)), \
                    f"{genre} in {table}: {lignes} rows, {code}"


def test_a_superviseur_cannot_make_himself_admin_and_the_audit_credits_him(base):
    """The takeover of the issue, at the database: whatever role he switches to and whatever login he writes,
    a superviseur's token changes no role and every audit row he writes names him."""
    creer_utilisateur(base["url"], "sup-ambitieux", "superviseur")
    sup = ouvrir_session(base["url"], "sup-ambitieux")[1]
    for role in ("euralis_superviseur", "euralis_admin"):
        with _en_tant_que(base, role, sup.jeton) as conn:
            lignes, code = _essayer(conn, "UPDATE utilisateurs SET role = 'admin' WHERE login = 'sup-ambitieux'")
            assert lignes == 0 or code == "42501", role
    # What the Administration page's button does, run by his kernel switched to the admin role.
    with pytest.raises(sa.exc.DBAPIError) as err:
        administration.changer_role(engine_utilisateur(base["web"], Utilisateur("sup-ambitieux", "admin", sup.jeton)),
                                    "sup-ambitieux", "admin")
    assert _pgcode(err.value) == "42501"
    with base["owner"].connect() as conn:
        assert conn.execute(sa.text("SELECT role FROM utilisateurs WHERE login = 'sup-ambitieux'")).scalar_one() \
            == "superviseur"
    # Audit rows: his own login whatever he claims; a failed-login row (which locks accounts) is refused.
    with engine_de(base["url"], "sup-ambitieux").connect() as conn:
        utilisateurs.audit(conn, "refus", "adm", action="essai")
        conn.execute(sa.text("INSERT INTO audit_acces (evenement, login) VALUES ('admin', NULL)"))
        conn.commit()
        assert _essayer(conn, "INSERT INTO audit_acces (evenement, login) VALUES ('echec', 'adm')")[1] == "42501"
    with _en_tant_que(base, "euralis_admin", sup.jeton) as conn:
        assert _essayer(conn, "INSERT INTO audit_acces (evenement, login) VALUES ('admin', 'adm')")[1] == "42501"
    # Control: an admin's change goes through, credited to him.
    adm = engine_de(base["url"], "adm")
    administration.changer_role(adm, "sup-ambitieux", "admin")
    with base["owner"].connect() as conn:
        role = conn.execute(sa.text("SELECT role FROM utilisateurs WHERE login = 'sup-ambitieux'")).scalar_one()
        assert role == "admin"
        auteurs = conn.execute(sa.text("SELECT login, evenement, detail->>'action' FROM audit_acces "
                                       "WHERE evenement IN ('refus', 'admin') AND (login = 'sup-ambitieux' "
                                       "OR detail->>'cible' = 'sup-ambitieux') ORDER BY audit_id")).all()
    assert [tuple(a) for a in auteurs] == [(None, "admin", "users add"), ("sup-ambitieux", "refus", "essai"),
                                           ("sup-ambitieux", "admin", None), ("adm", "admin", "role")]


def _site_des_lignes(conn: Connection, table: str) -> dict[str, str]:
    """How to tell the site of a row of ``table``: its lot's, else its gaveur's, else its own site_code."""
    colonnes = set(conn.execute(sa.text("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                        "'public' AND table_name = :t"), {"t": table}).scalars())
    if "lot_id" in colonnes:
        return "(SELECT l.site_code FROM lots_gavage l WHERE l.lot_id = t.lot_id)"
    if "gaveur_id" in colonnes:
        return "COALESCE((SELECT g.site_code FROM gaveurs g WHERE g.gaveur_id = t.gaveur_id), t.site_code)"
    return "t.site_code"


def _sites_vus(conn: Connection, table: str, site: str) -> set[str | None]:
    return set(conn.execute(sa.text(f"SELECT DISTINCT {site} FROM {table} t")).scalars())


def test_per_site_rows_follow_the_users_sites(base):
    """Every table with a site_code a web role reads (enumerated), and the performances view: a superviseur of
    LL reads no LS or MT row, a gaveur of LL only LL rows; controls: the owner and a superviseur of all sites
    read the other sites' rows."""
    with base["owner"].connect() as conn:
        tables = conn.execute(sa.text(
            "SELECT c.table_name FROM information_schema.columns c JOIN pg_class k ON k.relname = c.table_name "
            "AND k.relnamespace = 'public'::regnamespace WHERE c.table_schema = 'public' AND c.column_name = "
            "'site_code' AND k.relkind IN ('r', 'p') AND (has_table_privilege('euralis_superviseur', k.oid, 'SELECT') "
            "OR has_table_privilege('euralis_gaveur', k.oid, 'SELECT')) ORDER BY 1")).scalars().all()
        sites = {t: _site_des_lignes(conn, t) for t in tables}
        proprietaire = {t: _sites_vus(conn, t, sites[t]) for t in tables}
    assert {"previsions", "previsions_backtest", "formules_regression", "prix_parametres",
            "finance_indicateurs", "gaveurs"} <= set(tables)
    vus = {}
    for login in ("sup-ll", "g1", "sup"):
        with engine_de(base["url"], login).connect() as conn:
            vus[login] = {t: _sites_vus(conn, t, sites[t]) for t in tables}
            vus[login]["performances_sites_lisibles()"] = set(conn.execute(sa.text(
                "SELECT DISTINCT site_code FROM performances_sites_lisibles()")).scalars())
            assert _essayer(conn, "SELECT count(*) FROM performances_sites")[1] == "42501", login
    autres = {"LS", "MT"}
    for table in [*tables, "performances_sites_lisibles()"]:
        assert not vus["sup-ll"][table] & autres, f"a superviseur of LL reads LS/MT rows of {table}"
        assert vus["g1"][table] <= {"LL", None}, f"a gaveur of LL reads other sites' rows of {table}"
        if table in proprietaire and proprietaire[table] & autres:
            assert vus["sup"][table] & autres, f"control: a superviseur of all sites reads {table}'s other sites"
    assert vus["sup"]["performances_sites_lisibles()"] == {"LL", "LS", "MT"}
    assert {"LL"} <= vus["sup-ll"]["previsions"] and vus["g1"]["previsions"] == {"LL"}
    assert sum(1 for t in tables if proprietaire[t] & autres) >= 6, "too few per-site tables hold other sites' rows"


def test_run_metrics_with_per_site_figures_go_only_to_users_who_read_every_row(base):
    finance = results.finance(base["owner"]).run
    assert set(finance.metriques["par_site"]) == {"LL", "LS", "MT"}
    for login, attendu in (("adm", finance.metriques), ("sup", finance.metriques), ("sup-ll", {}), ("g1", {})):
        engine = engine_de(base["url"], login)
        assert runs.latest_run(engine, "finance").metriques == attendu, login
        assert runs.get_run(engine, finance.run_id).metriques == attendu, login
        with engine.connect() as conn:
            code = _essayer(conn, "SELECT count(metriques) FROM job_runs")[1]
        # the column itself only to admins; supervisors of all sites read it through the guarded function
        assert (code == "42501") == (login != "adm"), login


def test_a_session_ended_mid_way_stops_the_same_engine_at_its_next_transaction(base):
    """Pages stop serving data when the session ends: logout, disabling from the Administration page, a
    password change; each time the engine a page holds reads nothing at its next transaction."""
    creer_utilisateur(base["url"], "g-temp", "gaveur", gaveur_id=base["g1"])
    compter = "SELECT count(*) FROM lots_gavage"
    fins = {"déconnexion": lambda s: utilisateurs.fermer_session(base["owner"], s),
            "désactivation par un admin": lambda s: administration.activer(engine_de(base["url"], "adm"), "g-temp",
                                                                           False),
            "nouveau mot de passe": lambda s: utilisateurs.changer_mot_de_passe(base["owner"], "g-temp",
                                                                               secrets.token_urlsafe(12))}
    for fin, terminer in fins.items():
        session, utilisateur = ouvrir_session(base["url"], "g-temp")
        engine = engine_utilisateur(base["web"], utilisateur)
        with engine.connect() as conn:
            assert conn.execute(sa.text(compter)).scalar_one() > 0, fin
            terminer(session)
            conn.commit()
            assert conn.execute(sa.text(compter)).scalar_one() == 0, fin
        assert queries.gaveur_options(engine).empty, fin
        engine.dispose()
        administration.activer(engine_de(base["url"], "adm"), "g-temp", True)


def test_job_reports_are_readable_only_by_users_who_read_every_row(base, tmp_path):
    dossier = tmp_path / "rapports" / "2026-06-30"
    with base["owner"].begin() as conn:
        run_id = conn.execute(sa.text("SELECT max(run_id) FROM job_runs WHERE job = 'anomalies'")).scalar_one()
        conn.execute(sa.text("UPDATE job_runs SET rapport_path = :p WHERE run_id = :r"),
                     {"p": str(dossier / f"anomalies-{run_id}.ipynb"), "r": run_id})
    rapport = dossier / f"anomalies-{run_id}.html"
    lisibles = [rapport, rapport.with_suffix(".ipynb"), dossier / "plotly.min.js"]
    jamais = [dossier / "autre.html", tmp_path / "rapports" / "2026-07-01" / "plotly.min.js",
              dossier / f"anomalies-{run_id}.html.bak", tmp_path / "etc" / "passwd"]
    for login, attendu in (("adm", True), ("sup", True), ("sup-ll", False), ("g1", False)):
        utilisateur = ouvrir_session(base["url"], login)[1]
        assert [acces.fichier_lisible(base["web"], utilisateur, f) for f in lisibles] == [attendu] * 3, login
        assert not any(acces.fichier_lisible(base["web"], utilisateur, f) for f in jamais), login
    # Tokens that are no open admin session's, and the admin role claimed with a superviseur's token.
    session, adm = ouvrir_session(base["url"], "adm")
    utilisateurs.fermer_session(base["owner"], session)
    sup = ouvrir_session(base["url"], "sup")[1]
    for faux in (adm, Utilisateur("adm", "admin", secrets.token_hex(32)), Utilisateur("adm", "admin"),
                 Utilisateur("sup", "admin", sup.jeton)):
        assert not acces.fichier_lisible(base["web"], faux, rapport)
    # The page's engine asks the same function; without login, the owner reads the reports.
    assert acces.chemin_lisible(engine_de(base["url"], "sup"), rapport)
    assert not acces.chemin_lisible(engine_de(base["url"], "g1"), rapport)
    assert acces.chemin_lisible(base["owner"], rapport) and not acces.chemin_lisible(base["owner"], jamais[0])


def test_the_accueil_page_links_a_report_only_for_who_may_read_it(base, tmp_path):
    from euralis_lib.dashboards import accueil

    with base["owner"].begin() as conn:
        conn.execute(sa.text("UPDATE job_runs SET rapport_path = :d || '/' || job || '-' || run_id || '.ipynb' "
                             "WHERE statut = 'success'"), {"d": str(tmp_path / "2026-06-30")})
    for login, liens in (("adm", True), ("sup", True), ("sup-ll", False), ("g1", False)):
        engine = engine_de(base["url"], login)
        etat = accueil.etat_jobs(common.Contexte(engine, None, lambda: None, ouvrir_session(base["url"], login)[1]))
        assert etat["run_id"].notna().sum() >= 5, login
        assert etat["rapport_path"].notna().any() == liens and (liens or etat["rapport_path"].isna().all()), login


def page_text(page: common.Page) -> str:
    return html.unescape(common.instantane(w.VBox([page.contenu])))


@pytest.mark.parametrize("login", ["g1", "sup-ll", "sup", "adm"])
def test_every_page_opens_for_each_role_without_an_unexpected_error(base, login):
    """A role lacking a right gets a French message, never « Erreur inattendue »; the gaveur's Sites and Finance
    pages show his own figures."""
    engine = engine_de(base["url"], login)
    utilisateur = ouvrir_session(base["url"], login)[1]
    textes = {}
    for spec in PAGES:
        if utilisateur.role not in spec.roles:
            continue
        module = importlib.import_module(f"euralis_lib.dashboards.{spec.nom_module}")
        textes[spec.slug] = texte = page_text(common.Page(spec, module.build, module.FILTERS, engine=engine,
                                                       utilisateur=utilisateur))
        assert "Erreur inattendue" not in texte and "DatabaseError" not in texte, f"{login} {spec.slug}: {texte[:800]}"
        assert "Votre rôle ne donne pas accès" not in texte, f"{login} {spec.slug}: {texte[:800]}"
    if login == "g1":
        with base["owner"].connect() as conn:
            code = conn.execute(sa.text("SELECT code FROM gaveurs WHERE gaveur_id = :g"),
                                {"g": base["g1"]}).scalar_one()
        assert "Chiffre d'affaires" in textes["finance"] and "Marge" in textes["sites"], textes["sites"][:500]
        assert code in textes["gaveurs"]


def test_a_permission_error_becomes_a_french_message(base):
    engine = engine_de(base["url"], "g1")
    for sql, objet in (("SELECT count(*) FROM imports", "la table imports"),
                       ("SELECT count(*) FROM performances_sites", "la vue performances_sites"),
                       ("INSERT INTO prix_parametres (parametre, valide_du, valeur, unite) "
                        "VALUES ('x', '2026-01-01', 1, 'x')", "la table prix_parametres")):
        with pytest.raises(sa.exc.DBAPIError) as err, engine.connect() as conn:
            conn.execute(sa.text(sql))
        assert common.french_error(err.value) == (f"Votre rôle ne donne pas accès à {objet} : demandez à un "
                                                  "administrateur si vous en avez besoin."), sql
    # An insertion the policies refuse (admin role, another user's token) says the same, through pandas too.
    sup = ouvrir_session(base["url"], "sup")[1]
    refuse = engine_utilisateur(base["web"], Utilisateur("sup", "admin", sup.jeton))
    with pytest.raises(sa.exc.DBAPIError) as err, refuse.begin() as conn:
        conn.execute(sa.text("INSERT INTO prix_parametres (parametre, valide_du, valeur, unite) "
                             "VALUES ('x', '2026-01-01', 1, 'x')"))
    assert "la table prix_parametres" in common.french_error(err.value)
    with pytest.raises((sa.exc.DBAPIError, pd.errors.DatabaseError)) as err:
        db.read_df(engine, "SELECT * FROM simulation_verites")
    assert "Votre rôle ne donne pas accès à la table simulation_verites" in common.french_error(err.value)


def test_guarded_functions_answer_nothing_without_a_token_and_their_user_something(base):
    """Every SECURITY DEFINER function a web role may call (enumerated) answers nothing, as each web role,
    without a token; with the token of a user it is for, it answers (the check can fail)."""
    with base["owner"].connect() as conn:
        run_id = conn.execute(sa.text("SELECT max(run_id) FROM job_runs WHERE job = 'finance'")).scalar_one()
        fonctions = conn.execute(sa.text("""
            SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args
            FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef
              AND EXISTS (SELECT FROM unnest(ARRAY['euralis_admin', 'euralis_superviseur', 'euralis_gaveur']) r
                          WHERE has_function_privilege(r, p.oid, 'EXECUTE'))""")).all()
    runs.start_run(base["owner"], "orphelin-securite")  # an orphan: no session holds its job's lock
    with base["owner"].begin() as conn:  # a run to promote, and a job with a published run to go back to
        explore, _, _ = conn.execute(sa.text(
            "INSERT INTO job_runs (job, statut, fin, etape) SELECT 'publication-securite', 'success', now(), e "
            "FROM unnest(ARRAY['exploratoire', 'publie', 'publie']) e RETURNING run_id")).scalars()
    exemples = {"moyennes_sites": "('2000-01-01', '2100-01-01')", "job_runs_metriques": f"({run_id})",
                "euralis_marquer_orphelins": "('orphelin-securite')",  # marks it (only) for a user with a token
                "refresh_performances_sites": None,  # refreshing answers nothing: checked by its refusal
                "moyennes_groupe": f"({base['g1']}, '2000-01-01', '2100-01-01')",  # g1's group (clustering run)
                # an admin's promotion and rollback, rolled back with the connection
                "euralis_promouvoir_run": f"({explore})", "euralis_retour_run": "('publication-securite')"}
    pour = {"euralis_acces_gaveur": "g1", "euralis_acces_sites": "sup-ll", "moyennes_groupe": "g1"}
    assert {f.proname for f in fonctions} >= {"euralis_moi", "euralis_acces_tout", "moyennes_sites",
                                              "performances_sites_lisibles", "job_runs_metriques"}
    for f in fonctions:
        assert not f.args or f.proname in exemples, f"give an example call of {f.proname}({f.args})"
        appel = exemples.get(f.proname, "()")
        if appel is None:
            for role in WEB:
                with _en_tant_que(base, role, None) as conn:
                    assert _essayer(conn, f"SELECT count(*) FROM {f.proname}()")[1] == "42501", role
            continue
        compte = (f"SELECT count(*) FILTER (WHERE NOT (x IS NULL) AND x::text NOT IN ('false', '{{}}')) "
                  f"FROM {f.proname}{appel} AS x")
        for role in WEB:
            with _en_tant_que(base, role, None) as conn:
                lignes, code = _essayer(conn, compte)
                assert lignes == 0 or code == "42501", f"{f.proname} as {role} without a token: {lignes}"
        login = pour.get(f.proname, "adm")
        with engine_de(base["url"], login).connect() as conn:
            assert conn.execute(sa.text(compte)).scalar_one() > 0, f"control: {f.proname} for {login}"
    with _en_tant_que(base, "euralis_admin", ouvrir_session(base["url"], "sup")[1].jeton) as conn:
        assert _essayer(conn, "SELECT count(*) FROM refresh_performances_sites()")[1] == "42501"
    with engine_de(base["url"], "adm").connect() as conn:
        conn.execute(sa.text("SELECT refresh_performances_sites()"))
        conn.rollback()


def test_the_kernel_token_never_appears_in_a_query_text_other_sessions_can_read(base):
    """pg_stat_activity shows euralis_web the queries of every euralis_web session: the token travels as a
    connection option, never in a statement."""
    utilisateur = ouvrir_session(base["url"], "adm")[1]
    engine = engine_utilisateur(base["web"], utilisateur)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM utilisateurs")).scalar_one() >= 5
        with base["web"].connect() as espion:
            requetes = espion.execute(sa.text("SELECT query FROM pg_stat_activity WHERE usename = 'euralis_web' "
                                              "AND pid <> pg_backend_pid()")).scalars().all()
        assert any("utilisateurs" in q for q in requetes), "the spy sees the other session's query"
        assert not any(utilisateur.jeton in q for q in requetes)
    engine.dispose()
