-- Row-level security for the dashboards (issue 12). The dashboards' transactions run
-- `SET LOCAL ROLE euralis_<role>` and `set_config('app.user', <login>, true)`; every policy below
-- reads the user from app.user and the users table, so with no user (or a disabled one) a web role
-- sees no row. A gaveur sees his own gaveur row, lots and everything hanging off them; a supervisor
-- sees everything or the sites he is limited to; an admin sees everything. Pipeline roles
-- (jobs, imports, maintenance) and the migrating user see and write every row.

-- Who the current dashboard user is, evaluated once per query (InitPlans) by the policies.
CREATE OR REPLACE FUNCTION euralis_utilisateur_courant() RETURNS utilisateurs
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.* FROM utilisateurs u
    WHERE u.login = NULLIF(current_setting('app.user', true), '') AND u.actif
$$;
CREATE OR REPLACE FUNCTION euralis_acces_tout() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT COALESCE((SELECT role = 'admin' OR (role = 'superviseur' AND sites IS NULL)
                     FROM euralis_utilisateur_courant() WHERE login IS NOT NULL), false)
$$;
CREATE OR REPLACE FUNCTION euralis_acces_sites() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT COALESCE((SELECT sites FROM euralis_utilisateur_courant()
                     WHERE login IS NOT NULL AND role = 'superviseur'), '{}'::text[])
$$;
CREATE OR REPLACE FUNCTION euralis_acces_gaveur() RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT gaveur_id FROM euralis_utilisateur_courant() WHERE login IS NOT NULL AND role = 'gaveur'
$$;
CREATE OR REPLACE FUNCTION euralis_acces_admin() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT COALESCE((SELECT role = 'admin' FROM euralis_utilisateur_courant() WHERE login IS NOT NULL), false)
$$;
REVOKE ALL ON FUNCTION euralis_utilisateur_courant() FROM PUBLIC;
COMMENT ON FUNCTION euralis_acces_admin() IS 'True when the dashboard user (app.user) is an active admin.';
COMMENT ON FUNCTION euralis_acces_tout() IS 'True when the dashboard user (app.user) may read every row: admin, or supervisor of all sites.';
COMMENT ON FUNCTION euralis_acces_sites() IS 'Sites a supervisor limited to some sites may read (empty otherwise).';
COMMENT ON FUNCTION euralis_acces_gaveur() IS 'The gaveur_id of a gaveur user (NULL otherwise).';

DO $$
DECLARE
    t text;
    pipeline text := 'euralis_job, euralis_import, euralis_maintenance, ' || quote_ident(current_user);
    web text := 'euralis_admin, euralis_superviseur, euralis_gaveur';
    -- Rows of a gaveur and site; rows of a lot (through the lots the user may read).
    par_gaveur text := '(SELECT euralis_acces_tout()) OR site_code = ANY ((SELECT euralis_acces_sites())::text[]) '
                       'OR gaveur_id = (SELECT euralis_acces_gaveur())';
    par_lot text := '(SELECT euralis_acces_tout()) OR lot_id IN (SELECT l.lot_id FROM lots_gavage l)';
    regles jsonb := jsonb_build_object(
        'gaveurs', par_gaveur, 'lots_gavage', par_gaveur, 'alertes', par_gaveur,
        'finance_indicateurs', par_gaveur,
        'doses_gavage', par_lot, 'abattages', par_lot, 'qualite_foies', par_lot,
        'anomalies_lots', par_lot, 'planning_abattages', par_lot,
        'clusters_gaveurs', '(SELECT euralis_acces_tout()) OR gaveur_id IN (SELECT g.gaveur_id FROM gaveurs g)');
BEGIN
    FOR t IN SELECT jsonb_object_keys(regles) LOOP
        -- (no format(): the migration runner's driver reads percent signs as parameters)
        EXECUTE 'ALTER TABLE ' || quote_ident(t) || ' ENABLE ROW LEVEL SECURITY';
        EXECUTE 'ALTER TABLE ' || quote_ident(t) || ' FORCE ROW LEVEL SECURITY';
        EXECUTE 'DROP POLICY IF EXISTS pipeline ON ' || quote_ident(t);
        EXECUTE 'CREATE POLICY pipeline ON ' || quote_ident(t) || ' TO ' || pipeline
                || ' USING (true) WITH CHECK (true)';
        EXECUTE 'DROP POLICY IF EXISTS ecriture_admin ON ' || quote_ident(t);
        EXECUTE 'CREATE POLICY ecriture_admin ON ' || quote_ident(t) || ' TO euralis_admin'
                || ' USING ((SELECT euralis_acces_admin())) WITH CHECK ((SELECT euralis_acces_admin()))';
        EXECUTE 'DROP POLICY IF EXISTS lecture_utilisateur ON ' || quote_ident(t);
        EXECUTE 'CREATE POLICY lecture_utilisateur ON ' || quote_ident(t) || ' FOR SELECT TO ' || web
                || ' USING (' || (regles ->> t) || ')';
        EXECUTE 'GRANT SELECT ON ' || quote_ident(t) || ' TO ' || web;
    END LOOP;
END;
$$;

-- Tables without per-gaveur rows: reference data, per-site results, run history.
GRANT SELECT ON sites, souches, distances_sites, performances_sites, job_runs, formules_regression,
    regression_ignores, previsions, previsions_backtest, clusters_centroides
    TO euralis_admin, euralis_superviseur, euralis_gaveur;
-- Prices are business figures for supervisors and admins; admins edit prices and capacities
-- (admins have the pipeline's table rights, sql/110_roles.sql).
GRANT SELECT ON prix_parametres TO euralis_superviseur;
-- Raw imported files, their quarantine and the simulator's truths name any gaveur: admins only
-- (through euralis_import / euralis_job).
REVOKE ALL ON imports, imports_quarantaine, simulation_verites FROM euralis_superviseur, euralis_gaveur;

-- Site means for a gaveur's comparison: computed over every lot of the site, returned only where at
-- least three gaveurs contribute, and only to a logged-in user.
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
      AND EXISTS (SELECT FROM euralis_utilisateur_courant() WHERE login IS NOT NULL)
    GROUP BY l.site_code
    HAVING count(DISTINCT l.gaveur_id) >= 3
$$;
COMMENT ON FUNCTION moyennes_sites(date, date) IS 'Per-site means over slaughtered lots in a period (sites with at least 3 gaveurs), for the logged-in user of any role.';
