-- The gaveurs of a site who get their own weekly report (issue 23): gaveurs.rapport_hebdo (sql/190), or an active
-- gaveur user of theirs subscribed to the reports by e-mail (sql/191). utilisateurs is closed to the pipeline
-- roles (password hashes): this function runs as its owner, and only the pipeline roles may call it.
CREATE OR REPLACE FUNCTION rapports_gaveurs_abonnes(p_site text) RETURNS TABLE (gaveur_id integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT g.gaveur_id FROM gaveurs g
    WHERE g.site_code = p_site AND (g.rapport_hebdo OR EXISTS (
        SELECT FROM utilisateurs u JOIN rapports_abonnements b ON b.login = u.login AND b.hebdo
        WHERE u.role = 'gaveur' AND u.actif AND u.gaveur_id = g.gaveur_id))
    ORDER BY g.gaveur_id
$$;
REVOKE ALL ON FUNCTION rapports_gaveurs_abonnes(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rapports_gaveurs_abonnes(text) TO euralis_job, euralis_maintenance;
COMMENT ON FUNCTION rapports_gaveurs_abonnes(text) IS 'Gaveurs of the site who get their own weekly report: asked for it (gaveurs.rapport_hebdo) or subscribed by e-mail as an active gaveur user.';
