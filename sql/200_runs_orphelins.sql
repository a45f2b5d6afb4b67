-- Orphaned runs (issue 25): a run left `running` by a process that is gone (SIGKILL, crash, lost machine)
-- is recognised from what PostgreSQL already knows, without timers. Every path that starts a run holds
-- its job's session advisory lock (euralis_lib.runs.job_lock) on a dedicated connection for the whole
-- run; the run records that session's backend pid (verrou_pid) when it starts. The run is alive while
-- that session still holds the job's lock; PostgreSQL releases the lock when the session ends, so a
-- `running` run whose lock is free has lost its owner. euralis_marquer_orphelins() marks such runs
-- `failed`, and whoever looks first calls it: a new start of the same job, the scheduler's tick, health,
-- the Ops page's run list.

ALTER TABLE job_runs ADD COLUMN IF NOT EXISTS verrou_pid integer;
COMMENT ON COLUMN job_runs.verrou_pid IS 'Backend pid of the session holding the job''s advisory lock when the run started (NULL: none held); the run is alive while that session holds it (sql/200).';
GRANT SELECT (verrou_pid) ON job_runs TO euralis_superviseur, euralis_gaveur;

-- The advisory lock key of a job: the one definition, used by euralis_lib.runs.job_lock too.
CREATE OR REPLACE FUNCTION euralis_cle_job(p_job text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended('euralis-job:' || p_job, 0)
$$;
COMMENT ON FUNCTION euralis_cle_job(text) IS 'Key of the job''s session advisory lock (pg_try_advisory_lock) taken by every path that runs the job.';

-- Backend pids of the OTHER sessions of this database holding the job's lock (pg_locks shows a bigint
-- key as classid = high half, objid = low half, objsubid = 1). The caller's own session is left out: it
-- asks either without holding the lock, or right after taking it, before recording its run.
CREATE OR REPLACE FUNCTION euralis_verrou_job(p_job text) RETURNS SETOF integer
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT l.pid FROM pg_catalog.pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid <> pg_backend_pid()
      AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
      AND ((l.classid::bigint << 32) | l.objid::bigint) = euralis_cle_job(p_job)
$$;
COMMENT ON FUNCTION euralis_verrou_job(text) IS 'Pids of the other sessions of this database holding the job''s advisory lock (at most one).';

-- A running run is alive while the session it recorded holds its job's lock; a run that recorded no
-- session (started without the lock, or before this migration) while anyone else holds it.
CREATE OR REPLACE FUNCTION euralis_run_vivant(p_job text, p_verrou_pid integer) RETURNS boolean
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT FROM euralis_verrou_job(p_job) v(pid) WHERE p_verrou_pid IS NULL OR v.pid = p_verrou_pid)
$$;
COMMENT ON FUNCTION euralis_run_vivant(text, integer) IS 'True while the session that started a run (its verrou_pid) still holds the job''s advisory lock.';

-- Marks the orphaned runs (of one job, or all) failed and returns them. Runs as its owner (job_runs has
-- FORCEd row-level security); the pipeline roles and the owner may call it, and from the dashboards an
-- admin or a supervisor with a valid token (the Ops page); any other web caller marks nothing.
-- Concurrent callers never mark a run twice: the UPDATE re-reads the row's status under its row lock,
-- and a job completing its run at that moment either wins (success) or finds the run failed and rolls
-- its results back (euralis_lib.runs.complete_run).
CREATE OR REPLACE FUNCTION euralis_marquer_orphelins(p_job text DEFAULT NULL)
RETURNS TABLE (run_id bigint, job text, pid integer, hote text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    IF euralis_appel_web() AND NOT (euralis_acces_login() IS NOT NULL
                                    AND current_setting('role', true) IN ('euralis_admin', 'euralis_superviseur')) THEN
        RETURN;
    END IF;
    RETURN QUERY
    UPDATE job_runs r
    SET statut = 'failed', fin = greatest(clock_timestamp(), r.debut),
        erreur = 'processus interrompu (pid ' || COALESCE(r.pid::text, '?') || ' sur ' || COALESCE(r.hote, '?')
                 || ') : le run a perdu le verrou de son job sans se terminer ; relancez le job. '
                 || 'Les résultats précédents sont conservés.'
    WHERE r.statut = 'running' AND (p_job IS NULL OR r.job = p_job) AND NOT euralis_run_vivant(r.job, r.verrou_pid)
    RETURNING r.run_id, r.job, r.pid, r.hote;
END;
$f$;
COMMENT ON FUNCTION euralis_marquer_orphelins(text) IS 'Marks failed the running runs (of p_job, or all) whose lock session is gone, and returns them (sql/200).';
REVOKE ALL ON FUNCTION euralis_marquer_orphelins(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION euralis_marquer_orphelins(text)
    TO euralis_job, euralis_import, euralis_maintenance, euralis_admin, euralis_superviseur;
