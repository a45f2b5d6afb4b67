-- Rule capacite_abattage (issue 22), evaluated where forecasts land: the previsions job COPYs each site's
-- chosen forecast (daily liver kg) into previsions. A STATEMENT-level trigger reads the statement's rows:
-- per site, the forecast of the shortest horizon covering horizon_jours, on its first horizon_jours days,
-- is turned into ducks to slaughter (kg / the site's mean liver weight per duck over its last 90 days of
-- slaughters) and compared with the slaughterhouse's daily capacity (sites.capacite_abattage_jour).
-- Key capacite_abattage:<site>:<day>: a later forecast run raises nothing new for the same day.

CREATE OR REPLACE FUNCTION alertes_regle_capacite() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    p jsonb := (SELECT parametres FROM regles_alertes WHERE code = 'capacite_abattage' AND actif);
    horizon integer;
BEGIN
    IF p IS NULL THEN
        RETURN NULL;
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
        FROM previsions_ecrites n
        JOIN (SELECT run_id, site_code, COALESCE(min(horizon_jours) FILTER (WHERE horizon_jours >= horizon),
                                                 max(horizon_jours)) AS horizon_jours,
                     min(date_prevision) AS premier_jour
              FROM previsions_ecrites GROUP BY run_id, site_code) h USING (run_id, site_code, horizon_jours)
        JOIN sites s ON s.code = n.site_code
        JOIN LATERAL (SELECT 1000.0 * sum(a.poids_foie_total_kg) / NULLIF(sum(a.nb_canards_abattus), 0) AS foie_g
                      FROM abattages a JOIN lots_gavage l USING (lot_id)
                      WHERE l.site_code = n.site_code
                        AND a.date_abattage > (SELECT max(date_abattage) FROM abattages) - 90) m ON m.foie_g > 0
        WHERE n.date_prevision < h.premier_jour + horizon
    ) b
    WHERE b.canards > b.capacite
      AND NOT EXISTS (SELECT FROM alertes a WHERE a.cle_dedup = 'capacite_abattage:' || b.site_code || ':'
                                                               || b.date_prevision)
    ORDER BY b.site_code, b.date_prevision;
    RETURN NULL;
END;
$f$;
REVOKE ALL ON FUNCTION alertes_regle_capacite() FROM PUBLIC;
DROP TRIGGER IF EXISTS alertes_regle_capacite_trg ON previsions;
CREATE TRIGGER alertes_regle_capacite_trg AFTER INSERT ON previsions
    REFERENCING NEW TABLE AS previsions_ecrites FOR EACH STATEMENT EXECUTE FUNCTION alertes_regle_capacite();

UPDATE regles_alertes SET evaluee = true, actif = true, modifie_le = now(),
       evaluation = 'à l''écriture des prévisions du job previsions (production en kg ramenée en canards par le '
                    'poids de foie moyen du site), trigger par instruction sur previsions'
WHERE code = 'capacite_abattage' AND NOT evaluee;
