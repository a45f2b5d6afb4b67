-- Immediate e-mails for critical alerts (issue 22), per-user opt-in.
--   alertes_abonnements  a user's address and whether he wants each critical alert by e-mail at once;
--                        each user reads and writes his own row (admins every row).
--   alertes_envois       what was sent to whom: an alert is e-mailed to a user at most once.
-- Who may receive an alert: alertes_destinataires(), the read rule of alertes (sql/181) applied to each
-- subscribed active user — a gaveur his own alerts, a supervisor his sites (or all), workbench alerts
-- (no site) admins only. The sender (euralis_lib.alerts.courriels) runs as the pipeline.

CREATE TABLE IF NOT EXISTS alertes_abonnements (
    login              text PRIMARY KEY,
    courriel           text NOT NULL CHECK (courriel ~ '^[^@[:space:]]+@[^@[:space:]]+[.][^@[:space:]]+$'),
    critique_immediat  boolean NOT NULL DEFAULT true,
    depuis_alerte      bigint NOT NULL DEFAULT 0,
    modifie_le         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE alertes_abonnements IS 'Per-user opt-in: e-mail address, immediate e-mail for each critical alert.';
COMMENT ON COLUMN alertes_abonnements.depuis_alerte IS 'Last alert id when the user subscribed: only later alerts are e-mailed.';

CREATE TABLE IF NOT EXISTS alertes_envois (
    alerte_id  bigint NOT NULL,
    login      text NOT NULL,
    envoye_le  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alerte_id, login)
);
COMMENT ON TABLE alertes_envois IS 'Critical alerts e-mailed, per recipient (never twice).';

SELECT euralis_proteger('alertes_abonnements', 'login = (SELECT euralis_acces_login())', true);
SELECT euralis_proteger('alertes_envois', '(SELECT euralis_acces_admin())', false);
DROP POLICY IF EXISTS ecriture_utilisateur ON alertes_abonnements;
CREATE POLICY ecriture_utilisateur ON alertes_abonnements TO euralis_superviseur, euralis_gaveur
    USING (login = (SELECT euralis_acces_login())) WITH CHECK (login = (SELECT euralis_acces_login()));
GRANT SELECT, INSERT, UPDATE, DELETE ON alertes_abonnements TO euralis_superviseur, euralis_gaveur;
DROP TRIGGER IF EXISTS alertes_abonnements_auteur_trg ON alertes_abonnements;
CREATE TRIGGER alertes_abonnements_auteur_trg BEFORE INSERT OR UPDATE ON alertes_abonnements
    FOR EACH ROW EXECUTE FUNCTION alertes_login_auteur();

-- Critical alerts not yet e-mailed to a subscribed, active user allowed to read them, written after he
-- subscribed (no flood of history on opting in).
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
      AND (u.role = 'admin'
           OR (a.site_code IS NOT NULL AND (
                   (u.role = 'superviseur' AND (u.sites IS NULL OR a.site_code = ANY (u.sites)))
                OR (u.role = 'gaveur' AND a.gaveur_id = u.gaveur_id))))
    ORDER BY a.alerte_id, u.login
$$;
REVOKE ALL ON FUNCTION alertes_courriels_a_envoyer() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alertes_courriels_a_envoyer() TO euralis_job, euralis_maintenance;
COMMENT ON FUNCTION alertes_courriels_a_envoyer() IS 'Critical alerts to e-mail now: per subscribed active user allowed to read them (read rule of alertes), not yet sent.';
