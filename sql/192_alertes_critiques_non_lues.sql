-- The current user's unread critical alerts (issue 22: a browser notification and a sound when one arrives),
-- under the row-level security of alertes like alertes_non_lues() (sql/181). SECURITY INVOKER on purpose.
CREATE OR REPLACE FUNCTION alertes_critiques_non_lues() RETURNS bigint
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT count(*) FROM alertes a
    WHERE a.severite = 'critique'
      AND NOT EXISTS (SELECT FROM alertes_lues l
                      WHERE l.alerte_id = a.alerte_id AND l.login = (SELECT euralis_lecteur()))
$$;
COMMENT ON FUNCTION alertes_critiques_non_lues() IS 'Number of critical alerts the current dashboard user may read and has not read (row-level security of alertes).';
REVOKE ALL ON FUNCTION alertes_critiques_non_lues() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alertes_critiques_non_lues() TO euralis_admin, euralis_superviseur, euralis_gaveur;
