-- Daily digest of the alerts by e-mail (issue 22), per-user opt-in.
--   alertes_abonnements.resume_quotidien  the user wants one e-mail a day listing the alerts raised since his
--                                         last digest (since he opted in, for the first one);
--   alertes_abonnements.resume_depuis_alerte  the last alert id when he opted in: older alerts are not listed;
--   alertes_resumes      the digests sent: at most one per user and Paris day (primary key), with the last
--                        alert id it covered, from which the next one starts.
-- Who reads an alert: alertes_lisible(), the read rule of alertes (sql/181) for a given user — a gaveur his
-- own alerts, a supervisor his sites (or all), workbench alerts (no site) admins only — now shared by
-- alertes_courriels_a_envoyer() (sql/184, restated here on it) and alertes_resumes_a_envoyer(). The senders
-- (euralis_lib.alerts.courriels) run as the pipeline, without a user's token: hence a rule per user.

ALTER TABLE alertes_abonnements ADD COLUMN IF NOT EXISTS resume_quotidien boolean NOT NULL DEFAULT false;
ALTER TABLE alertes_abonnements ADD COLUMN IF NOT EXISTS resume_depuis_alerte bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN alertes_abonnements.resume_quotidien IS 'The user wants the daily digest of the alerts he reads by e-mail.';
COMMENT ON COLUMN alertes_abonnements.resume_depuis_alerte IS 'Last alert id when the user opted in to the digest: only later alerts are listed.';

CREATE TABLE IF NOT EXISTS alertes_resumes (
    login          text NOT NULL,
    jour           date NOT NULL,
    courriel       text NOT NULL,
    nb_alertes     integer NOT NULL CHECK (nb_alertes > 0),
    jusqu_a_alerte bigint NOT NULL,
    envoye_le      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (login, jour)
);
COMMENT ON TABLE alertes_resumes IS 'Daily alert digests e-mailed: one per user and Paris day (never twice), the last alert id covered.';
SELECT euralis_proteger('alertes_resumes', '(SELECT euralis_acces_admin()) OR login = (SELECT euralis_acces_login())',
                        true);
GRANT SELECT ON alertes_resumes TO euralis_superviseur, euralis_gaveur;

-- The read rule of alertes for one user (role, sites, gaveur) and one alert (site, gaveur). Plain SQL,
-- IMMUTABLE and without settings, so the planner inlines it into the queries below.
CREATE OR REPLACE FUNCTION alertes_lisible(p_role text, p_sites text[], p_gaveur integer, p_site_alerte text,
                                           p_gaveur_alerte integer) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(p_role = 'admin'
                    OR (p_site_alerte IS NOT NULL AND (
                            (p_role = 'superviseur' AND (p_sites IS NULL OR p_site_alerte = ANY (p_sites)))
                         OR (p_role = 'gaveur' AND p_gaveur_alerte = p_gaveur))), false)
$$;
COMMENT ON FUNCTION alertes_lisible(text, text[], integer, text, integer) IS 'Whether a user (role, sites, gaveur) reads an alert (site, gaveur): the read rule of alertes, for the e-mail senders.';

CREATE OR REPLACE FUNCTION alertes_courriels_a_envoyer()
RETURNS TABLE (alerte_id bigint, login text, courriel text, horodatage timestamptz, site_code text,
               severite text, message text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.alerte_id, u.login, b.courriel, a.horodatage, a.site_code, a.severite, a.message
    FROM alertes a
    JOIN alertes_abonnements b ON b.critique_immediat
    JOIN utilisateurs u ON u.login = b.login AND u.actif
    WHERE a.severite = 'critique' AND a.alerte_id > b.depuis_alerte
      AND NOT EXISTS (SELECT FROM alertes_envois e WHERE e.alerte_id = a.alerte_id AND e.login = u.login)
      AND alertes_lisible(u.role, u.sites, u.gaveur_id, a.site_code, a.gaveur_id)
    ORDER BY a.alerte_id, u.login
$$;

-- The alerts of today's digests: per subscribed active user without a digest on p_jour, the alerts he reads
-- raised after his last digest (or his opt-in) and up to p_jusqu_a (the last alert id when the sender
-- looked, recorded with the digest), with his read state and whether the alert was acknowledged.
CREATE OR REPLACE FUNCTION alertes_resumes_a_envoyer(p_jour date, p_jusqu_a bigint)
RETURNS TABLE (login text, courriel text, alerte_id bigint, horodatage timestamptz, site_code text,
               code_lot text, severite text, message text, lue boolean, acquittee boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.login, b.courriel, a.alerte_id, a.horodatage, a.site_code, l.code_lot, a.severite, a.message,
           EXISTS (SELECT FROM alertes_lues r WHERE r.alerte_id = a.alerte_id AND r.login = u.login), a.acquittee
    FROM alertes_abonnements b
    JOIN utilisateurs u ON u.login = b.login AND u.actif
    JOIN alertes a ON a.alerte_id <= p_jusqu_a
                  AND a.alerte_id > GREATEST(b.resume_depuis_alerte,
                                             (SELECT COALESCE(max(s.jusqu_a_alerte), 0) FROM alertes_resumes s
                                              WHERE s.login = u.login))
    LEFT JOIN lots_gavage l ON l.lot_id = a.lot_id
    WHERE b.resume_quotidien
      AND NOT EXISTS (SELECT FROM alertes_resumes s WHERE s.login = u.login AND s.jour = p_jour)
      AND alertes_lisible(u.role, u.sites, u.gaveur_id, a.site_code, a.gaveur_id)
    ORDER BY u.login, a.alerte_id
$$;
REVOKE ALL ON FUNCTION alertes_resumes_a_envoyer(date, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alertes_resumes_a_envoyer(date, bigint) TO euralis_job, euralis_maintenance;
COMMENT ON FUNCTION alertes_resumes_a_envoyer(date, bigint) IS 'Alerts of the daily digests to send for a Paris day: per subscribed active user without a digest that day, the alerts he reads (alertes_lisible) raised since his last digest, up to an alert id.';
