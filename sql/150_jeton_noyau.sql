-- Identity the database can verify (issue 21). Until now the policies trusted `app.user`, a login any
-- SQL run as euralis_web could set to anyone's. Now each login session has a kernel token: the raw
-- token is HMAC-SHA256(session secret, session token + a fixed label), derived by the Voilà server
-- (euralis_lib/auth/jeton.py) and handed to the session's kernels; the database keeps only its sha256,
-- in sessions_web.jeton_noyau, written when the session opens. A dashboard connection carries the raw
-- token as `app.jeton` (set at connection start, never in a query text other sessions can read in
-- pg_stat_activity); every right of the web roles is looked up from it, on every query:
--   * the session must be open (not revoked: logout, password change, disabling or a role change
--     revoke it), unexpired, and its user active — so a page stops reading data the moment its
--     session ends;
--   * the transaction must run as the group role of that user (SET LOCAL ROLE euralis_<role>): the
--     `role` setting, which SECURITY DEFINER functions still see as the caller's, must match. A
--     superviseur's token under SET ROLE euralis_admin is worth nothing, not even a superviseur's rows.
-- `app.user` is no longer read anywhere.

ALTER TABLE sessions_web ADD COLUMN IF NOT EXISTS jeton_noyau text
    CHECK (jeton_noyau ~ '^[0-9a-f]{64}$');
CREATE UNIQUE INDEX IF NOT EXISTS sessions_web_jeton_noyau_uniq ON sessions_web (jeton_noyau);
COMMENT ON COLUMN sessions_web.jeton_noyau IS 'sha256 (hex) of the session''s kernel token (HMAC of the session token, derived by the server); NULL for sessions opened before issue 21, which then give no right.';

-- The user of the token in app.jeton, whatever role the transaction runs as (only euralis_moi() uses it).
CREATE OR REPLACE FUNCTION euralis_session_courante() RETURNS utilisateurs
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.* FROM sessions_web s JOIN utilisateurs u USING (login)
    WHERE s.jeton_noyau = encode(sha256(convert_to(NULLIF(current_setting('app.jeton', true), ''), 'UTF8')), 'hex')
      AND s.revoquee_le IS NULL AND s.expire_le > now() AND u.actif
$$;
REVOKE ALL ON FUNCTION euralis_session_courante() FROM PUBLIC;
COMMENT ON FUNCTION euralis_session_courante() IS 'The active user whose open, unexpired session holds the kernel token in app.jeton (no row otherwise).';

-- The user every policy and guarded function reads: the token's user, when the transaction runs as his
-- role. (A SECURITY DEFINER function sees the caller's SET ROLE in the `role` setting; a definer
-- function cannot change it.)
CREATE OR REPLACE FUNCTION euralis_utilisateur_courant() RETURNS utilisateurs
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.* FROM euralis_session_courante() u
    WHERE u.login IS NOT NULL AND current_setting('role', true) = 'euralis_' || u.role
$$;
REVOKE ALL ON FUNCTION euralis_utilisateur_courant() FROM PUBLIC;
COMMENT ON FUNCTION euralis_utilisateur_courant() IS 'The dashboard user of the kernel token in app.jeton, when the transaction runs as that user''s group role (SET LOCAL ROLE euralis_<role>); no row otherwise.';

-- What a kernel asks to learn whom it serves (before it knows which role to switch to).
CREATE OR REPLACE FUNCTION euralis_moi() RETURNS TABLE (login text, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.login, u.role FROM euralis_session_courante() u WHERE u.login IS NOT NULL
$$;
REVOKE ALL ON FUNCTION euralis_moi() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION euralis_moi() TO euralis_web, euralis_admin, euralis_superviseur, euralis_gaveur;
COMMENT ON FUNCTION euralis_moi() IS 'Login and role of the open session whose kernel token is in app.jeton (no row for a missing, forged, revoked or expired token).';

-- True when the caller comes through the dashboards' login role or runs as one of the web roles, i.e.
-- when the rules of this file apply to it (the owner and the pipeline roles are not web callers).
CREATE OR REPLACE FUNCTION euralis_appel_web() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT session_user = 'euralis_web'
        OR current_setting('role', true) IN ('euralis_admin', 'euralis_superviseur', 'euralis_gaveur')
$$;
COMMENT ON FUNCTION euralis_appel_web() IS 'True for a dashboard caller (login euralis_web, or SET ROLE to a web role), even inside a SECURITY DEFINER function.';

-- The helpers of sql/112_rls.sql (euralis_acces_tout, _sites, _gaveur, _admin) read euralis_utilisateur_courant(),
-- so they and every policy calling them now answer for the token's user. Two more:
CREATE OR REPLACE FUNCTION euralis_acces_login() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT login FROM euralis_utilisateur_courant() WHERE login IS NOT NULL
$$;
-- Sites whose per-site figures the user reads: every site (admin, supervisor of all sites), a limited
-- supervisor's sites, a gaveur's own site; empty without a valid token.
CREATE OR REPLACE FUNCTION euralis_sites_lisibles() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT COALESCE((
        SELECT CASE WHEN u.role = 'admin' OR (u.role = 'superviseur' AND u.sites IS NULL)
                        THEN (SELECT array_agg(code ORDER BY code) FROM sites)
                    WHEN u.role = 'superviseur' THEN u.sites
                    ELSE (SELECT ARRAY[g.site_code] FROM gaveurs g WHERE g.gaveur_id = u.gaveur_id) END
        FROM euralis_utilisateur_courant() u WHERE u.login IS NOT NULL), '{}'::text[])
$$;
COMMENT ON FUNCTION euralis_acces_admin() IS 'True when the kernel token (app.jeton) is an active admin''s and the transaction runs as euralis_admin.';
COMMENT ON FUNCTION euralis_acces_tout() IS 'True when the token''s user may read every row: admin, or supervisor of all sites.';
COMMENT ON FUNCTION euralis_acces_sites() IS 'Sites a supervisor limited to some sites may read (empty otherwise).';
COMMENT ON FUNCTION euralis_acces_gaveur() IS 'The gaveur_id of a gaveur user (NULL otherwise).';
COMMENT ON FUNCTION euralis_acces_login() IS 'Login of the token''s user (NULL without a valid token for the current role).';
COMMENT ON FUNCTION euralis_sites_lisibles() IS 'Sites whose per-site rows the token''s user reads: all, a limited supervisor''s, a gaveur''s own.';
