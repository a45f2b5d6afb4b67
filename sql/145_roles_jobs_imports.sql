-- Scheduled jobs run as euralis_job and command-line imports as euralis_import (issue 12), no longer as
-- the migrating owner. What they need beyond their table rights (sql/110_roles.sql):
-- refreshing the performances_sites materialized view, which PostgreSQL allows its owner only: the
-- function runs as its owner, and only the pipeline roles and admins may call it.
ALTER FUNCTION refresh_performances_sites() SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE ALL ON FUNCTION refresh_performances_sites() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refresh_performances_sites()
    TO euralis_job, euralis_import, euralis_maintenance, euralis_admin;

-- Which role wrote a run's results and an import's rows (audit; the Ops page and the tests read it).
ALTER TABLE job_runs ADD COLUMN IF NOT EXISTS role_db text;
COMMENT ON COLUMN job_runs.role_db IS 'PostgreSQL role (current_user) of the transaction that completed the run.';
ALTER TABLE imports ADD COLUMN IF NOT EXISTS role_db text DEFAULT current_user;
COMMENT ON COLUMN imports.role_db IS 'PostgreSQL role (current_user) that recorded the import.';
