-- Rules evaluated where the data lands, in the transaction that writes it (issue 22). Re-writing the
-- same data raises nothing new (alerte_lever's key).
--   mortalite_lot  a lot written (import, simulator) or its deaths updated: mortality above seuil_pct
--                  raises the rule's severity, above seuil_critique_pct a critical alert; key mortalite:<lot>.
--   anomalie_lot   a score of the anomalies job flags a lot (critical ones only while
--                  critiques_seulement): key anomalie:<lot>, with the job's explanation and run.
-- (job_echec is raised by the scheduler when it records a job's last failed attempt: scheduler/runner.py.)

CREATE OR REPLACE FUNCTION alertes_regle_mortalite() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    p jsonb := (SELECT parametres FROM regles_alertes WHERE code = 'mortalite_lot' AND actif);
    taux numeric := 100.0 * NEW.nb_morts / NEW.nb_canards_entres;
BEGIN
    IF p IS NULL OR taux <= (p ->> 'seuil_pct')::numeric THEN
        RETURN NULL;
    END IF;
    PERFORM alerte_lever('mortalite_lot', (NEW.fin + time '08:00') AT TIME ZONE 'Europe/Paris', NEW.site_code,
        NEW.gaveur_id, NEW.lot_id,
        'Mortalité de ' || replace(round(taux, 1)::text, '.', ',') || ' ' || chr(37) || ' sur le lot ' || NEW.code_lot
            || ' (seuil ' || replace((p ->> 'seuil_pct'), '.', ',') || ' ' || chr(37) || ')',
        NULL, 'mortalite:' || NEW.lot_id,
        CASE WHEN taux > COALESCE((p ->> 'seuil_critique_pct')::numeric, taux) THEN 'critique' END);
    RETURN NULL;
END;
$f$;
REVOKE ALL ON FUNCTION alertes_regle_mortalite() FROM PUBLIC;
DROP TRIGGER IF EXISTS alertes_regle_mortalite_trg ON lots_gavage;
CREATE TRIGGER alertes_regle_mortalite_trg AFTER INSERT OR UPDATE OF nb_morts, nb_canards_entres ON lots_gavage
    FOR EACH ROW EXECUTE FUNCTION alertes_regle_mortalite();

CREATE OR REPLACE FUNCTION alertes_regle_anomalie() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    p jsonb := (SELECT parametres FROM regles_alertes WHERE code = 'anomalie_lot' AND actif);
    l lots_gavage;
BEGIN
    IF p IS NULL OR NOT NEW.est_anomalie OR (COALESCE((p ->> 'critiques_seulement')::boolean, true) AND NOT NEW.critique) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO l FROM lots_gavage WHERE lot_id = NEW.lot_id;
    PERFORM alerte_lever('anomalie_lot', (l.fin + time '08:00') AT TIME ZONE 'Europe/Paris', l.site_code, l.gaveur_id,
        l.lot_id, 'Lot ' || l.code_lot || ' anormal : ' || COALESCE(NEW.explication, 'score inhabituel'),
        NEW.run_id, 'anomalie:' || l.lot_id, CASE WHEN NOT NEW.critique THEN 'attention' END);
    RETURN NULL;
END;
$f$;
REVOKE ALL ON FUNCTION alertes_regle_anomalie() FROM PUBLIC;
DROP TRIGGER IF EXISTS alertes_regle_anomalie_trg ON anomalies_lots;
CREATE TRIGGER alertes_regle_anomalie_trg AFTER INSERT ON anomalies_lots
    FOR EACH ROW EXECUTE FUNCTION alertes_regle_anomalie();
