-- The alert tables answer to the kernel token like every other table (sql/151), found by
-- tests/security/test_database.py:
--   * alertes_acquittements' reading rule names the token's user, not only the alerts it may read;
--   * the dedup trigger of sql/182 (SECURITY DEFINER) dropped a duplicate insert before row-level security
--     looked at it: a caller without an admin token saw « 0 rows » instead of a refusal (and learnt that the
--     key existed). A dashboard caller's own INSERT now goes to row-level security first (refused without an
--     admin token); an admin's duplicate is a unique violation he is told about. Inserts made by the rules
--     (alerte_lever, inside the data's triggers) and by the jobs keep the silent dedup.

SELECT euralis_proteger('alertes_acquittements',
                        '(SELECT euralis_acces_login()) IS NOT NULL AND alerte_id IN (SELECT a.alerte_id FROM alertes a)',
                        true);

CREATE OR REPLACE FUNCTION alertes_une_fois() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    IF euralis_appel_web() AND pg_trigger_depth() = 1 THEN
        IF NOT euralis_acces_admin() THEN
            RETURN NEW;  -- row-level security refuses it: whether the key exists is not told
        END IF;
        IF EXISTS (SELECT FROM alertes WHERE cle_dedup = NEW.cle_dedup) THEN
            RAISE unique_violation USING MESSAGE = 'alerte déjà levée (clé ' || NEW.cle_dedup || ')';
        END IF;
        RETURN NEW;
    END IF;
    -- Two writers of one key at once: the second waits for the first's commit, then sees its row.
    PERFORM pg_advisory_xact_lock(hashtext('euralis_alertes'), hashtext(NEW.cle_dedup));
    IF EXISTS (SELECT FROM alertes WHERE cle_dedup = NEW.cle_dedup) THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END;
$f$;
REVOKE ALL ON FUNCTION alertes_une_fois() FROM PUBLIC;

-- What was e-mailed is written by the mailer (a job's connection), read by admins: no web role writes it
-- (its reading rule already refused their inserts; the privilege no longer pretends otherwise).
REVOKE INSERT, UPDATE, DELETE ON alertes_envois FROM euralis_admin;
