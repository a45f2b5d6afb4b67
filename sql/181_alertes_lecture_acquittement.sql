-- Per-user read state of alerts and their acknowledgement (issue 22).
--   alertes_lues            (login, alerte_id): the user has read the alert; each user reads and writes
--                           only his own rows, for alerts he may read.
--   alertes_acquittements   one per alert: who, when, a comment and the outcome (real problem / false
--                           alarm); written by any user who may read the alert, credited to the kernel
--                           token's user whatever the statement says, audited (audit_acces, 'admin' row
--                           with action 'acquitter_alerte') and reflected in alertes.acquittee, all in
--                           the acknowledging transaction.
-- alerte_id refers to alertes without a foreign key: alertes is a TimescaleDB hypertable where available.

CREATE TABLE IF NOT EXISTS alertes_lues (
    login      text NOT NULL,
    alerte_id  bigint NOT NULL,
    lue_le     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (login, alerte_id)
);
COMMENT ON TABLE alertes_lues IS 'Alerts each user has read (per-user read state of the alert centre and badge).';

CREATE TABLE IF NOT EXISTS alertes_acquittements (
    alerte_id    bigint PRIMARY KEY,
    login        text NOT NULL,
    horodatage   timestamptz NOT NULL DEFAULT now(),
    commentaire  text NOT NULL DEFAULT '' CHECK (length(commentaire) <= 2000),
    issue        text NOT NULL CHECK (issue IN ('probleme_reel', 'fausse_alerte'))
);
CREATE INDEX IF NOT EXISTS alertes_acquittements_login_idx ON alertes_acquittements (login, horodatage DESC);
COMMENT ON TABLE alertes_acquittements IS 'Acknowledgement of an alert: who, when, comment, outcome (probleme_reel | fausse_alerte).';

CREATE INDEX IF NOT EXISTS alertes_cle_dedup_idx ON alertes (cle_dedup);
CREATE INDEX IF NOT EXISTS alertes_alerte_id_idx ON alertes (alerte_id);

-- Reads: a user his own read rows; the acknowledgements of the alerts he reads.
SELECT euralis_proteger('alertes_lues', 'login = (SELECT euralis_acces_login())', true);
SELECT euralis_proteger('alertes_acquittements', 'alerte_id IN (SELECT a.alerte_id FROM alertes a)', true);
-- Writes by every web role: only as himself, only for an alert he may read.
DROP POLICY IF EXISTS ecriture_utilisateur ON alertes_lues;
CREATE POLICY ecriture_utilisateur ON alertes_lues FOR INSERT TO euralis_admin, euralis_superviseur, euralis_gaveur
    WITH CHECK (login = (SELECT euralis_acces_login()) AND alerte_id IN (SELECT a.alerte_id FROM alertes a));
DROP POLICY IF EXISTS suppression_utilisateur ON alertes_lues;
CREATE POLICY suppression_utilisateur ON alertes_lues FOR DELETE TO euralis_admin, euralis_superviseur, euralis_gaveur
    USING (login = (SELECT euralis_acces_login()));
DROP POLICY IF EXISTS ecriture_utilisateur ON alertes_acquittements;
CREATE POLICY ecriture_utilisateur ON alertes_acquittements FOR INSERT
    TO euralis_admin, euralis_superviseur, euralis_gaveur
    WITH CHECK (login = (SELECT euralis_acces_login()) AND alerte_id IN (SELECT a.alerte_id FROM alertes a));
GRANT SELECT, INSERT, DELETE ON alertes_lues TO euralis_superviseur, euralis_gaveur;
GRANT SELECT, INSERT ON alertes_acquittements TO euralis_superviseur, euralis_gaveur;

-- A web caller's row is credited to the kernel token's user, whatever login the statement gave.
CREATE OR REPLACE FUNCTION alertes_login_auteur() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $f$
BEGIN
    IF euralis_appel_web() THEN
        NEW.login := euralis_acces_login();
    END IF;
    RETURN NEW;
END;
$f$;
DROP TRIGGER IF EXISTS alertes_lues_auteur_trg ON alertes_lues;
CREATE TRIGGER alertes_lues_auteur_trg BEFORE INSERT OR UPDATE ON alertes_lues
    FOR EACH ROW EXECUTE FUNCTION alertes_login_auteur();
DROP TRIGGER IF EXISTS alertes_acquittements_auteur_trg ON alertes_acquittements;
CREATE TRIGGER alertes_acquittements_auteur_trg BEFORE INSERT OR UPDATE ON alertes_acquittements
    FOR EACH ROW EXECUTE FUNCTION alertes_login_auteur();

-- After an acknowledgement: the alert is marked acknowledged and read by its author, and the audit gets
-- its row, in the same transaction.
CREATE OR REPLACE FUNCTION alertes_acquittement_suites() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    UPDATE alertes SET acquittee = true WHERE alerte_id = NEW.alerte_id;
    INSERT INTO alertes_lues (login, alerte_id) VALUES (NEW.login, NEW.alerte_id) ON CONFLICT DO NOTHING;
    INSERT INTO audit_acces (horodatage, evenement, login, detail)
    VALUES (clock_timestamp(), 'admin', NEW.login,
            jsonb_build_object('action', 'acquitter_alerte', 'cible', NEW.alerte_id, 'issue', NEW.issue,
                               'commentaire', NEW.commentaire));
    RETURN NULL;
END;
$f$;
REVOKE ALL ON FUNCTION alertes_acquittement_suites() FROM PUBLIC;
DROP TRIGGER IF EXISTS alertes_acquittement_suites_trg ON alertes_acquittements;
CREATE TRIGGER alertes_acquittement_suites_trg AFTER INSERT ON alertes_acquittements
    FOR EACH ROW EXECUTE FUNCTION alertes_acquittement_suites();

-- Ops alerts (no site: a job, an import, a backup) reach admins only; site alerts follow sql/112's rule.
SELECT euralis_proteger('alertes',
    '(SELECT euralis_acces_admin()) OR (site_code IS NOT NULL AND ((SELECT euralis_acces_tout()) '
    'OR site_code = ANY ((SELECT euralis_acces_sites())::text[]) OR gaveur_id = (SELECT euralis_acces_gaveur())))');

-- Whose read state: the kernel token's user, or, outside the dashboards (no login), the database user.
CREATE OR REPLACE FUNCTION euralis_lecteur() RETURNS text
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT CASE WHEN euralis_appel_web() THEN euralis_acces_login() ELSE current_user::text END
$$;
COMMENT ON FUNCTION euralis_lecteur() IS 'Login whose alert read state applies: the kernel token''s user for a dashboard caller, the database user otherwise.';

-- The current user's unread alerts, under the row-level security of alertes: a gaveur his own, a
-- site-restricted supervisor his sites, an admin every alert. (SECURITY INVOKER on purpose.)
CREATE OR REPLACE FUNCTION alertes_non_lues() RETURNS bigint
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT count(*) FROM alertes a
    WHERE NOT EXISTS (SELECT FROM alertes_lues l
                      WHERE l.alerte_id = a.alerte_id AND l.login = (SELECT euralis_lecteur()))
$$;
COMMENT ON FUNCTION alertes_non_lues() IS 'Number of alerts the current dashboard user may read and has not read (row-level security of alertes).';
GRANT EXECUTE ON FUNCTION alertes_non_lues() TO euralis_admin, euralis_superviseur, euralis_gaveur;
