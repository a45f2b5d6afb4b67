-- Exploration never publishes (issue 24), alerts included: the rules that read a job's result rows raise alerts
-- for a published run only (job_runs.etape, sql/202). An exploratory anomalies or previsions run (a notebook run
-- by hand, other parameters) wrote its rows without telling anyone; when an admin promotes it, its alerts are
-- raised then (the same rules, the same dedup keys: nothing twice).
--   anomalie_lot       (sql/183) per anomalies_lots row
--   capacite_abattage  (sql/188) per previsions run

CREATE OR REPLACE FUNCTION euralis_run_est_publie(p_run_id bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT COALESCE((SELECT etape = 'publie' FROM job_runs WHERE run_id = p_run_id), false)
$$;
REVOKE ALL ON FUNCTION euralis_run_est_publie(bigint) FROM PUBLIC;

-- The rule anomalie_lot for one row (body of sql/183's trigger).
CREATE OR REPLACE FUNCTION alertes_anomalie_lever(r anomalies_lots) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    p jsonb := (SELECT parametres FROM regles_alertes WHERE code = 'anomalie_lot' AND actif);
    l lots_gavage;
BEGIN
    IF p IS NULL OR NOT r.est_anomalie OR (COALESCE((p ->> 'critiques_seulement')::boolean, true) AND NOT r.critique) THEN
        RETURN;
    END IF;
    SELECT * INTO l FROM lots_gavage WHERE lot_id = r.lot_id;
    PERFORM alerte_lever('anomalie_lot', (l.fin + time '08:00') AT TIME ZONE 'Europe/Paris', l.site_code, l.gaveur_id,
        l.lot_id, 'Lot ' || l.code_lot || ' anormal : ' || COALESCE(r.explication, 'score inhabituel'),
        r.run_id, 'anomalie:' || l.lot_id, CASE WHEN NOT r.critique THEN 'attention' END);
END;
$f$;
REVOKE ALL ON FUNCTION alertes_anomalie_lever(anomalies_lots) FROM PUBLIC;

CREATE OR REPLACE FUNCTION alertes_regle_anomalie() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    IF euralis_run_est_publie(NEW.run_id) THEN
        PERFORM alertes_anomalie_lever(NEW);
    END IF;
    RETURN NULL;
END;
$f$;
REVOKE ALL ON FUNCTION alertes_regle_anomalie() FROM PUBLIC;

-- The rule capacite_abattage for one previsions run (body of sql/188's trigger, reading the run's rows).
CREATE OR REPLACE FUNCTION alertes_capacite_evaluer(p_run_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    p jsonb := (SELECT parametres FROM regles_alertes WHERE code = 'capacite_abattage' AND actif);
    horizon integer;
BEGIN
    IF p IS NULL THEN
        RETURN;
    END IF;
    horizon := COALESCE((p ->> 'horizon_jours')::integer, 7);
    PERFORM alerte_lever('capacite_abattage', (b.date_prevision + time '08:00') AT TIME ZONE 'Europe/Paris',
        b.site_code, NULL, NULL,
        'Capacité d''abattage insuffisante le ' || to_char(b.date_prevision, 'DD/MM/YYYY') || ' au site '
            || b.site_code || ' : environ ' || round(b.canards) || ' canards à abattre d''après la prévision ('
            || round(b.yhat) || ' kg de foie à ' || round(b.foie_g) || ' g par canard) pour une capacité de '
            || b.capacite || ' par jour',
        b.run_id, 'capacite_abattage:' || b.site_code || ':' || b.date_prevision)
    FROM (
        SELECT n.run_id, n.site_code, n.date_prevision, n.yhat, s.capacite_abattage_jour AS capacite,
               m.foie_g, n.yhat * 1000.0 / m.foie_g AS canards
        FROM previsions n
        JOIN (SELECT run_id, site_code, COALESCE(min(horizon_jours) FILTER (WHERE horizon_jours >= horizon),
                                                 max(horizon_jours)) AS horizon_jours,
                     min(date_prevision) AS premier_jour
              FROM previsions WHERE run_id = p_run_id GROUP BY run_id, site_code) h
             USING (run_id, site_code, horizon_jours)
        JOIN sites s ON s.code = n.site_code
        JOIN LATERAL (SELECT 1000.0 * sum(a.poids_foie_total_kg) / NULLIF(sum(a.nb_canards_abattus), 0) AS foie_g
                      FROM abattages a JOIN lots_gavage l USING (lot_id)
                      WHERE l.site_code = n.site_code
                        AND a.date_abattage > (SELECT max(date_abattage) FROM abattages) - 90) m ON m.foie_g > 0
        WHERE n.run_id = p_run_id AND n.date_prevision < h.premier_jour + horizon
    ) b
    WHERE b.canards > b.capacite
      AND NOT EXISTS (SELECT FROM alertes a WHERE a.cle_dedup = 'capacite_abattage:' || b.site_code || ':'
                                                               || b.date_prevision)
    ORDER BY b.site_code, b.date_prevision;
END;
$f$;
REVOKE ALL ON FUNCTION alertes_capacite_evaluer(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION alertes_regle_capacite() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    run bigint;
BEGIN
    FOR run IN SELECT DISTINCT run_id FROM previsions_ecrites ORDER BY run_id LOOP
        IF euralis_run_est_publie(run) THEN
            PERFORM alertes_capacite_evaluer(run);
        END IF;
    END LOOP;
    RETURN NULL;
END;
$f$;
REVOKE ALL ON FUNCTION alertes_regle_capacite() FROM PUBLIC;

-- A run promoted from exploratoire: its alerts now (a run published again after a rollback raised them already).
CREATE OR REPLACE FUNCTION alertes_run_promu() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    r anomalies_lots;
BEGIN
    IF NEW.job = 'anomalies' THEN
        FOR r IN SELECT * FROM anomalies_lots WHERE run_id = NEW.run_id ORDER BY lot_id LOOP
            PERFORM alertes_anomalie_lever(r);
        END LOOP;
    ELSIF NEW.job = 'previsions' THEN
        PERFORM alertes_capacite_evaluer(NEW.run_id);
    END IF;
    RETURN NULL;
END;
$f$;
REVOKE ALL ON FUNCTION alertes_run_promu() FROM PUBLIC;
DROP TRIGGER IF EXISTS alertes_run_promu_trg ON job_runs;
CREATE TRIGGER alertes_run_promu_trg AFTER UPDATE OF etape ON job_runs
    FOR EACH ROW WHEN (OLD.etape = 'exploratoire' AND NEW.etape = 'publie') EXECUTE FUNCTION alertes_run_promu();
