-- Alerts written once, and announced when written (issue 22).
--   * Dedup by key: an alert whose cle_dedup already exists is not written again, whatever its time
--     (the unique (cle_dedup, horodatage) of sql/003 misses a re-run that stamps another time).
--   * NOTIFY: every alert written sends pg_notify('euralis_alertes', {alerte_id, site_code, gaveur_id}),
--     delivered at commit. No message text: any connection may LISTEN. The Voilà server's one listener
--     (euralis_lib.alerts.live) then recounts each open page's unread alerts as its user.
--   * alerte_lever(): how rules raise an alert — the rule's switch, sites and severity apply.

CREATE OR REPLACE FUNCTION alertes_une_fois() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    -- Two writers of one key at once: the second waits for the first's commit, then sees its row.
    PERFORM pg_advisory_xact_lock(hashtext('euralis_alertes'), hashtext(NEW.cle_dedup));
    IF EXISTS (SELECT FROM alertes WHERE cle_dedup = NEW.cle_dedup) THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END;
$f$;
REVOKE ALL ON FUNCTION alertes_une_fois() FROM PUBLIC;
DROP TRIGGER IF EXISTS alertes_une_fois_trg ON alertes;
CREATE TRIGGER alertes_une_fois_trg BEFORE INSERT ON alertes FOR EACH ROW EXECUTE FUNCTION alertes_une_fois();

CREATE OR REPLACE FUNCTION alertes_notifier() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $f$
BEGIN
    PERFORM pg_notify('euralis_alertes', json_build_object(
        'alerte_id', NEW.alerte_id, 'site_code', NEW.site_code, 'gaveur_id', NEW.gaveur_id)::text);
    RETURN NULL;
END;
$f$;
DROP TRIGGER IF EXISTS alertes_notifier_trg ON alertes;
CREATE TRIGGER alertes_notifier_trg AFTER INSERT ON alertes FOR EACH ROW EXECUTE FUNCTION alertes_notifier();

-- A read state changed (alert centre): the open pages recount, each as its user (no login in the payload).
CREATE OR REPLACE FUNCTION alertes_lues_notifier() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $f$
BEGIN
    PERFORM pg_notify('euralis_alertes', '{"lecture": true}');
    RETURN NULL;
END;
$f$;
DROP TRIGGER IF EXISTS alertes_lues_notifier_trg ON alertes_lues;
CREATE TRIGGER alertes_lues_notifier_trg AFTER INSERT OR DELETE ON alertes_lues
    FOR EACH STATEMENT EXECUTE FUNCTION alertes_lues_notifier();

-- Raise an alert of rule p_regle: nothing when the rule is off or does not watch the site; the rule's
-- severity unless p_severite says otherwise. Returns the new alert's id, NULL when nothing was written
-- (rule off, or the key already raised).
CREATE OR REPLACE FUNCTION alerte_lever(p_regle text, p_horodatage timestamptz, p_site text, p_gaveur integer,
                                        p_lot integer, p_message text, p_run_id bigint, p_cle text,
                                        p_severite text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    r regles_alertes;
    id bigint;
BEGIN
    SELECT * INTO r FROM regles_alertes WHERE code = p_regle;
    IF NOT FOUND OR NOT r.actif OR (r.sites IS NOT NULL AND p_site IS NOT NULL AND NOT p_site = ANY (r.sites)) THEN
        RETURN NULL;
    END IF;
    INSERT INTO alertes (horodatage, site_code, gaveur_id, lot_id, type, severite, message, source, run_id, cle_dedup)
    VALUES (p_horodatage, CASE WHEN r.destinataires = 'admins' THEN NULL ELSE p_site END, p_gaveur, p_lot,
            r.type_alerte, COALESCE(p_severite, r.severite), p_message, 'règle ' || r.code, p_run_id, p_cle)
    RETURNING alerte_id INTO id;
    RETURN id;
END;
$f$;
REVOKE ALL ON FUNCTION alerte_lever(text, timestamptz, text, integer, integer, text, bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alerte_lever(text, timestamptz, text, integer, integer, text, bigint, text, text)
    TO euralis_job, euralis_import, euralis_maintenance;
COMMENT ON FUNCTION alerte_lever(text, timestamptz, text, integer, integer, text, bigint, text, text) IS 'Raise an alert of a rule of regles_alertes (switch, sites, severity applied; deduplicated by key); its id or NULL.';
