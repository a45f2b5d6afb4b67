-- Every right of the web roles depends on a valid kernel token (issue 21; identity: sql/150).
--
-- Row-level security is enabled and FORCEd, with policies, on EVERY table of the schema, by one loop
-- over pg_catalog (euralis_proteger_tout()): a table a later migration adds is covered by calling it
-- again. On each table:
--   pipeline            euralis_job, euralis_import, euralis_maintenance and the migrating user: every row;
--   lecture_utilisateur the web roles read the rows the token's user may read (rule per table below;
--                       a table without a rule: only users who may read every row);
--   ecriture_admin      euralis_admin writes (and reads) every row, only with an admin's token.
-- Per-site results (previsions, backtests, formulas, ignored pairs, performances, prices) follow the
-- sites of the token's user: all for an admin or a supervisor of all sites, his sites for a limited
-- supervisor, his own site for a gaveur. The performances_sites materialized view, which row-level
-- security cannot filter, is read through performances_sites_lisibles().
--
-- Defense in depth. PostgreSQL cannot make SET ROLE conditional on anything: euralis_web, whatever
-- runs SQL through it, may switch to euralis_admin. What it gets there is decided by the token: every
-- table a web role can reach has FORCEd row-level security whose policies all call the token helpers,
-- and each helper answers only for an open session's token whose user has exactly the role the
-- transaction runs as. So euralis_admin without an admin's token reads no row and writes no row
-- (INSERT is refused by the WITH CHECK, UPDATE and DELETE see nothing), and the guarded functions
-- (refresh_performances_sites, performances_sites_lisibles, moyennes_sites, euralis_fichier_lisible)
-- answer nothing either. Rights that remain unconditional: USAGE on the schema, EXECUTE on the
-- functions (the invoker ones read through the policies, the definer ones check the token), nextval()
-- on the sequences an admin inserts with (burns numbers; setval is no longer granted), temporary
-- tables (TEMP on the database, PUBLIC by default) and the system catalogs every role reads.

-- Row-level security and the three policies on one table. p_lecture: the read rule (NULL keeps the
-- table's rule, or gives a new table the all-rows-users-only rule); p_ecriture_admin: whether admins
-- write it (NULL keeps what the table has, true for a new table).
CREATE OR REPLACE FUNCTION euralis_proteger(p_table regclass, p_lecture text DEFAULT NULL,
                                            p_ecriture_admin boolean DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $f$
DECLARE
    t text := p_table::text;
    pipeline text := 'euralis_job, euralis_import, euralis_maintenance, ' || quote_ident(current_user);
    nouvelle boolean := NOT EXISTS (SELECT FROM pg_policy WHERE polrelid = p_table AND polname = 'lecture_utilisateur');
    ecriture boolean := CASE WHEN p_ecriture_admin IS NOT NULL THEN p_ecriture_admin
                             WHEN nouvelle THEN true
                             ELSE EXISTS (SELECT FROM pg_policy WHERE polrelid = p_table AND polname = 'ecriture_admin') END;
BEGIN
    -- (no format(): the migration runner's driver reads percent signs as parameters)
    EXECUTE 'ALTER TABLE ' || t || ' ENABLE ROW LEVEL SECURITY';
    EXECUTE 'ALTER TABLE ' || t || ' FORCE ROW LEVEL SECURITY';
    EXECUTE 'DROP POLICY IF EXISTS pipeline ON ' || t;
    EXECUTE 'CREATE POLICY pipeline ON ' || t || ' TO ' || pipeline || ' USING (true) WITH CHECK (true)';
    IF p_lecture IS NOT NULL OR nouvelle THEN
        EXECUTE 'DROP POLICY IF EXISTS lecture_utilisateur ON ' || t;
        EXECUTE 'CREATE POLICY lecture_utilisateur ON ' || t
                || ' FOR SELECT TO euralis_admin, euralis_superviseur, euralis_gaveur USING ('
                || COALESCE(p_lecture, '(SELECT euralis_acces_tout())') || ')';
    END IF;
    EXECUTE 'DROP POLICY IF EXISTS ecriture_admin ON ' || t;
    IF ecriture THEN
        EXECUTE 'CREATE POLICY ecriture_admin ON ' || t || ' TO euralis_admin'
                || ' USING ((SELECT euralis_acces_admin())) WITH CHECK ((SELECT euralis_acces_admin()))';
    END IF;
END;
$f$;
COMMENT ON FUNCTION euralis_proteger(regclass, text, boolean) IS 'Row-level security (FORCEd) and the pipeline, lecture_utilisateur and ecriture_admin policies on one table (sql/151).';

-- The loop: every table of the schema (partitions included); returns how many.
CREATE OR REPLACE FUNCTION euralis_proteger_tout() RETURNS integer
LANGUAGE plpgsql AS $f$
DECLARE
    r regclass;
    n integer := 0;
BEGIN
    FOR r IN SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname LOOP
        PERFORM euralis_proteger(r);
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$f$;
COMMENT ON FUNCTION euralis_proteger_tout() IS 'euralis_proteger() on every table of the public schema: a migration adding a table calls it (after euralis_proteger(table, rule) for a specific rule).';
REVOKE ALL ON FUNCTION euralis_proteger(regclass, text, boolean), euralis_proteger_tout() FROM PUBLIC;

DO $$
DECLARE
    t text;
    -- Rows of a gaveur and site; rows of a lot (through the lots the user may read) — as in sql/112.
    par_gaveur text := '(SELECT euralis_acces_tout()) OR site_code = ANY ((SELECT euralis_acces_sites())::text[]) '
                       'OR gaveur_id = (SELECT euralis_acces_gaveur())';
    par_lot text := '(SELECT euralis_acces_tout()) OR lot_id IN (SELECT l.lot_id FROM lots_gavage l)';
    par_site text := '(SELECT euralis_acces_tout()) OR site_code = ANY ((SELECT euralis_sites_lisibles())::text[])';
    connecte text := '(SELECT euralis_acces_login()) IS NOT NULL';
    admin text := '(SELECT euralis_acces_admin())';
    -- table: [read rule, admins write it]
    regles jsonb := jsonb_build_object(
        'gaveurs', jsonb_build_array(par_gaveur, true), 'lots_gavage', jsonb_build_array(par_gaveur, true),
        'alertes', jsonb_build_array(par_gaveur, true), 'finance_indicateurs', jsonb_build_array(par_gaveur, true),
        'doses_gavage', jsonb_build_array(par_lot, true), 'abattages', jsonb_build_array(par_lot, true),
        'qualite_foies', jsonb_build_array(par_lot, true), 'anomalies_lots', jsonb_build_array(par_lot, true),
        'planning_abattages', jsonb_build_array(par_lot, true),
        'clusters_gaveurs', jsonb_build_array(
            '(SELECT euralis_acces_tout()) OR gaveur_id IN (SELECT g.gaveur_id FROM gaveurs g)', true),
        'previsions', jsonb_build_array(par_site, true), 'previsions_backtest', jsonb_build_array(par_site, true),
        'formules_regression', jsonb_build_array(par_site, true),
        'regression_ignores', jsonb_build_array(par_site, true),
        -- prices of the user's sites and the all-sites prices (a gaveur's own margins are computed with them)
        'prix_parametres', jsonb_build_array('(SELECT euralis_acces_tout()) OR ((SELECT euralis_acces_login()) IS NOT '
            'NULL AND (site_code IS NULL OR site_code = ANY ((SELECT euralis_sites_lisibles())::text[])))', true),
        -- reference data and run history, for any logged-in user (job_runs.metriques is withheld below)
        'sites', jsonb_build_array(connecte, true), 'souches', jsonb_build_array(connecte, true),
        'distances_sites', jsonb_build_array(connecte, true), 'job_runs', jsonb_build_array(connecte, true),
        'clusters_centroides', jsonb_build_array(connecte, true),
        -- raw imports, the simulator's truths, import counters, users: admins only
        'imports', jsonb_build_array(admin, true), 'imports_quarantaine', jsonb_build_array(admin, true),
        'simulation_verites', jsonb_build_array(admin, true), 'tables_versions', jsonb_build_array(admin, true),
        'utilisateurs', jsonb_build_array(admin, true),
        -- the audit: admins read it, nobody rewrites it (web inserts: policy insertion_web below)
        'audit_acces', jsonb_build_array(admin, false),
        'sessions_web', jsonb_build_array('false', false), 'schema_migrations', jsonb_build_array('false', false));
BEGIN
    FOR t IN SELECT jsonb_object_keys(regles) LOOP
        IF to_regclass('public.' || t) IS NOT NULL THEN
            PERFORM euralis_proteger(to_regclass('public.' || t), regles -> t ->> 0, (regles -> t ->> 1)::boolean);
        END IF;
    END LOOP;
    PERFORM euralis_proteger_tout();
    IF to_regclass('public.schema_migrations') IS NOT NULL THEN
        REVOKE ALL ON schema_migrations FROM euralis_admin, euralis_superviseur, euralis_gaveur;
    END IF;
END;
$$;

-- A gaveur's Sites and Finance pages compute his margins with the prices (rows: policy above).
GRANT SELECT ON prix_parametres TO euralis_gaveur;

-- The runs' metrics hold per-site figures (finance totals per site, each site's formula and error, lots
-- left out of a plan): supervisors and gaveurs read every other column; the metrics through
-- job_runs_metriques(), which gives them only to users who may read every row.
DO $$
DECLARE
    colonnes text;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO colonnes FROM pg_attribute
    WHERE attrelid = 'job_runs'::regclass AND attnum > 0 AND NOT attisdropped AND attname <> 'metriques';
    REVOKE SELECT ON job_runs FROM euralis_superviseur, euralis_gaveur;
    EXECUTE 'GRANT SELECT (' || colonnes || ') ON job_runs TO euralis_superviseur, euralis_gaveur';
END;
$$;
CREATE OR REPLACE FUNCTION job_runs_metriques(p_run_id bigint) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT CASE WHEN NOT euralis_appel_web() OR euralis_acces_tout() THEN r.metriques ELSE '{}'::jsonb END
    FROM job_runs r WHERE r.run_id = p_run_id AND (NOT euralis_appel_web() OR euralis_acces_login() IS NOT NULL)
$$;
COMMENT ON FUNCTION job_runs_metriques(bigint) IS 'A run''s metrics: to users who may read every row (and the pipeline); {} to other logged-in users, nothing without a token.';

-- The audit credits the database's user, never what a page claims: a web role's row gets the token's
-- login (trigger), and the policy refuses a row without one, or of another kind than refusals and
-- admin actions (a web role cannot forge failed logins to lock someone out).
CREATE OR REPLACE FUNCTION audit_acces_auteur() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $f$
BEGIN
    IF NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) THEN
        NEW.login := euralis_acces_login();
    END IF;
    RETURN NEW;
END;
$f$;
COMMENT ON FUNCTION audit_acces_auteur() IS 'Trigger: an audit row written under row-level security credits the kernel token''s user, whatever login the statement gave.';
DROP TRIGGER IF EXISTS audit_acces_auteur_trg ON audit_acces;
CREATE TRIGGER audit_acces_auteur_trg BEFORE INSERT OR UPDATE ON audit_acces
    FOR EACH ROW EXECUTE FUNCTION audit_acces_auteur();
DROP POLICY IF EXISTS insertion_web ON audit_acces;
CREATE POLICY insertion_web ON audit_acces FOR INSERT TO euralis_admin, euralis_superviseur, euralis_gaveur
    WITH CHECK (login IS NOT NULL AND login = (SELECT euralis_acces_login()) AND evenement IN ('refus', 'admin'));

-- Disabling a user, changing his role or his password (from the Administration page too, which cannot
-- touch sessions_web) revokes his sessions: his kernel tokens stop working at once.
CREATE OR REPLACE FUNCTION utilisateurs_revoquer_sessions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    UPDATE sessions_web SET revoquee_le = now() WHERE login = NEW.login AND revoquee_le IS NULL;
    RETURN NULL;
END;
$f$;
REVOKE ALL ON FUNCTION utilisateurs_revoquer_sessions() FROM PUBLIC;
DROP TRIGGER IF EXISTS utilisateurs_revoquer_sessions_trg ON utilisateurs;
CREATE TRIGGER utilisateurs_revoquer_sessions_trg AFTER UPDATE OF actif, role, gaveur_id, mot_de_passe ON utilisateurs
    FOR EACH ROW WHEN (NOT NEW.actif OR NEW.role IS DISTINCT FROM OLD.role
                       OR NEW.gaveur_id IS DISTINCT FROM OLD.gaveur_id OR NEW.mot_de_passe IS DISTINCT FROM OLD.mot_de_passe)
    EXECUTE FUNCTION utilisateurs_revoquer_sessions();

-- Sequences: admins draw identifiers (nextval), never reset them (setval would break every later insert).
REVOKE SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public FROM euralis_admin, euralis_superviseur, euralis_gaveur;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO euralis_admin;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, UPDATE ON SEQUENCES FROM euralis_admin;

-- performances_sites: a materialized view, which row-level security does not filter. The web roles read
-- it only through this function, with the per-site rule; the owner and the pipeline read every row.
REVOKE ALL ON performances_sites FROM euralis_admin, euralis_superviseur, euralis_gaveur;
CREATE OR REPLACE FUNCTION performances_sites_lisibles() RETURNS SETOF performances_sites
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT p.* FROM performances_sites p
    WHERE (SELECT NOT euralis_appel_web() OR euralis_acces_tout())
       OR p.site_code = ANY ((SELECT euralis_sites_lisibles())::text[])
$$;
REVOKE ALL ON FUNCTION performances_sites_lisibles() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION performances_sites_lisibles() TO euralis_admin, euralis_superviseur, euralis_gaveur,
    euralis_job, euralis_import, euralis_maintenance;
COMMENT ON FUNCTION performances_sites_lisibles() IS 'The rows of performances_sites the caller may read: every row for the pipeline and users who may read all, else the sites of the kernel token''s user.';

-- Refreshing the view (granted to admins for the Import page): only with an admin's token.
CREATE OR REPLACE FUNCTION refresh_performances_sites() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF euralis_appel_web() AND NOT euralis_acces_admin() THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'permission denied for function refresh_performances_sites (an admin''s kernel token is required)';
    END IF;
    -- CONCURRENTLY keeps readers unblocked but needs an already populated view.
    IF (SELECT ispopulated FROM pg_matviews WHERE matviewname = 'performances_sites'
        AND schemaname = current_schema()) THEN
        REFRESH MATERIALIZED VIEW CONCURRENTLY performances_sites;
    ELSE
        REFRESH MATERIALIZED VIEW performances_sites;
    END IF;
END;
$$;

-- Site means for a gaveur's comparison (sql/112): now only over the sites the token's user reads.
CREATE OR REPLACE FUNCTION moyennes_sites(p_debut date, p_fin date)
RETURNS TABLE (site_code text, nb_gaveurs bigint, nb_lots bigint, itm_moyen numeric,
               sigma_moyen_g numeric, poids_foie_moyen_g numeric, mortalite_pct numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT l.site_code, count(DISTINCT l.gaveur_id), count(*),
           round(sum(a.mais_total_kg) / NULLIF(sum(a.poids_foie_total_kg), 0), 2),
           round(avg(a.sigma_g), 1), round(avg(a.poids_foie_moyen_g), 1),
           round(100.0 * sum(l.nb_morts) / NULLIF(sum(l.nb_canards_entres), 0), 2)
    FROM lots_gavage l JOIN abattages a USING (lot_id)
    WHERE a.date_abattage BETWEEN p_debut AND p_fin
      AND l.site_code = ANY ((SELECT euralis_sites_lisibles())::text[])
    GROUP BY l.site_code
    HAVING count(DISTINCT l.gaveur_id) >= 3
$$;
COMMENT ON FUNCTION moyennes_sites(date, date) IS 'Per-site means over slaughtered lots in a period (sites with at least 3 gaveurs), for the sites the kernel token''s user reads (a gaveur: his own).';
