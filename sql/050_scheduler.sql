-- Scheduler: a job that still fails after its retries raises an alert that belongs to no site.
ALTER TABLE alertes ALTER COLUMN site_code DROP NOT NULL;
COMMENT ON COLUMN alertes.site_code IS 'Site concerned; NULL for alerts about the workbench itself (a scheduled job that failed).';

-- Ops page and start-up clean-up look for runs still marked running.
CREATE INDEX IF NOT EXISTS job_runs_running_idx ON job_runs (debut) WHERE statut = 'running';
