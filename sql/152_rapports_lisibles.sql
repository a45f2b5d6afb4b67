-- Which report files a user may download (issue 21): decided here, in one place, for the reports route
-- of the Voilà server (euralis_lib/auth/rapports.py) and the links of the Accueil page.
-- A job run's executed notebook (job_runs.rapport_path), its HTML export next to it and the plotly
-- script shared by the reports of its folder hold every gaveur's data: only users who may read every
-- row (euralis_acces_tout(): admins, supervisors of all sites) read them, and the owner (no-login
-- mode). Reports written for one audience (a gaveur's, a site's) are to be added to this function.
-- `chemin` is the file's absolute path, as job_runs records it.
CREATE OR REPLACE FUNCTION euralis_fichier_lisible(chemin text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT (NOT euralis_appel_web() OR euralis_acces_tout())
       AND EXISTS (
           SELECT FROM job_runs r
           WHERE r.rapport_path IS NOT NULL
             AND (chemin = r.rapport_path
                  OR (right(r.rapport_path, 6) = '.ipynb' AND chemin = left(r.rapport_path, -6) || '.html')
                  OR chemin = regexp_replace(r.rapport_path, '/[^/]*$', '') || '/plotly.min.js'))
$$;
COMMENT ON FUNCTION euralis_fichier_lisible(text) IS 'True when the caller may download this report file (absolute path): a job run''s notebook, HTML export or shared plotly script, for users who may read every row.';
