-- Database roles of the workbench (issue 12). Roles belong to the whole cluster: each is created only
-- when missing, so this file runs on the embedded server and on an external PostgreSQL where the
-- migrating user has CREATEROLE.
--   euralis_web          login role of the dashboards: not a superuser, no BYPASSRLS, owns nothing,
--                        NOINHERIT: it holds no privilege itself and must SET ROLE to a group role;
--   euralis_admin / euralis_superviseur / euralis_gaveur
--                        group roles the dashboards switch to in each transaction (SET LOCAL ROLE);
--   euralis_job / euralis_import / euralis_maintenance
--                        roles of scheduled jobs, file imports and maintenance (full access to data).
DO $$
DECLARE
    r text;
BEGIN
    -- Row-level security is FORCEd on the tables this role owns (sql/112_rls.sql): the jobs, imports and
    -- COPY loads running as this role must bypass it.
    IF NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION USING MESSAGE = 'The migrating role ' || current_user || ' needs BYPASSRLS (and '
            || 'CREATEROLE): as a superuser run ALTER ROLE ' || quote_ident(current_user)
            || ' CREATEROLE BYPASSRLS, then migrate again. The dashboards use euralis_web, which has neither.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'euralis_web') THEN
        CREATE ROLE euralis_web LOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    FOREACH r IN ARRAY ARRAY['euralis_admin', 'euralis_superviseur', 'euralis_gaveur',
                             'euralis_job', 'euralis_import', 'euralis_maintenance'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            EXECUTE 'CREATE ROLE ' || quote_ident(r) || ' NOLOGIN NOSUPERUSER NOBYPASSRLS';
        END IF;
    END LOOP;
    -- The dashboards' login role may switch to the three user roles, never to the pipeline roles.
    GRANT euralis_admin, euralis_superviseur, euralis_gaveur TO euralis_web;
    -- A migrating user that is not a superuser switches to the pipeline roles too.
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'GRANT euralis_job, euralis_import, euralis_maintenance TO ' || quote_ident(current_user);
    END IF;
END;
$$;

-- Pipeline roles: every right on the workbench's tables, now and for tables added by later migrations.
GRANT USAGE ON SCHEMA public TO euralis_web, euralis_admin, euralis_superviseur, euralis_gaveur,
    euralis_job, euralis_import, euralis_maintenance;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public
    TO euralis_job, euralis_import, euralis_maintenance;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO euralis_job, euralis_import, euralis_maintenance;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO euralis_job, euralis_import, euralis_maintenance;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO euralis_job, euralis_import, euralis_maintenance;
-- An admin also imports, runs jobs and the planning from the dashboards: the same table rights
-- (no TRUNCATE, which ignores row-level security); policies give them only to a real admin user.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO euralis_admin;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO euralis_admin;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO euralis_admin;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO euralis_admin;
-- Tables added later are readable by admins and supervisors; gaveurs get explicit grants only
-- (a new table holding per-gaveur rows needs its own policy in the migration that adds it).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO euralis_admin, euralis_superviseur;
