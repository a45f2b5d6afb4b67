-- Rule doses_hors_courbe (issue 22), judged on the MEAN gap of n consecutive meals: a run of
-- repas_consecutifs meals (consecutive repas numbers) whose doses are on average more than ecart_pct off the
-- control curve, on one side (signed mean). sql/189 asked every meal of the run to be more than ecart_pct off,
-- on either side: doses alternating 25 percent above and below (a gaveur's irregular hand, which the Gaveurs
-- page's curve-gap figures show) raised alerts, and a real cut whose noise put one meal at 25 percent among
-- 33 to 61 was missed. A feeding cut lowers the doses for several meals in a row; its mean says so.
-- Measured on the simulator, planted feeding cuts against alerts (precision / recall, worst data set):
--   calibration, 3 years, seeds 20 to 29 (used nowhere else):
--     every meal over 25 percent, either side (sql/189):   0.95 / 0.96
--     mean of 4 meals over 25 percent:                      0.93 / 0.96   (11 false alerts in 10 data sets)
--     mean of 4 meals over 30 or 35 percent:                1.0  / 0.96   (none; one cut missed)
--     mean of 3 meals over 30 percent:                      0.86 / 0.96
--   the validation slice (2 years, seeds 3, 5, 7, 11, 42), where the per-meal rule had shown a false alert
--   (seed 5, at 25 percent) and a miss (seed 42, at 30 percent): mean of 4 meals over 30 percent, 1.0 / 1.0.
-- Default now 30 percent over 4 meals; a threshold an admin has changed is kept. The message gives the side
-- and the mean gap.

UPDATE regles_alertes SET parametres = parametres || '{"ecart_pct": 30}', modifie_le = now()
WHERE code = 'doses_hors_courbe' AND (parametres -> 'ecart_pct') = '25'::jsonb;

CREATE OR REPLACE FUNCTION alertes_regle_doses() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    p jsonb := (SELECT parametres FROM regles_alertes WHERE code = 'doses_hors_courbe' AND actif);
    ecart numeric;
    serie integer;
    lots integer[];
BEGIN
    IF p IS NULL THEN
        RETURN NULL;
    END IF;
    ecart := COALESCE((p ->> 'ecart_pct')::numeric, 30);
    serie := GREATEST(COALESCE((p ->> 'repas_consecutifs')::integer, 4), 1);
    -- A mean beyond ecart needs one meal beyond it: only the lots of such a written meal are read.
    SELECT array_agg(DISTINCT n.lot_id) INTO lots FROM doses_ecrites n
    WHERE n.dose_theorique_g > 0 AND abs(n.dose_g - n.dose_theorique_g) * 100 > ecart * n.dose_theorique_g;
    IF lots IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM alerte_lever('doses_hors_courbe', s.fin, l.site_code, l.gaveur_id, l.lot_id,
        serie || ' repas de suite ' || CASE WHEN s.moyenne < 0 THEN 'sous' ELSE 'au-dessus de' END
            || ' la courbe de contrôle de ' || round(abs(s.moyenne)) || ' ' || chr(37) || ' en moyenne (seuil '
            || replace(ecart::text, '.', ',') || ' ' || chr(37) || ') sur le lot ' || l.code_lot
            || ' (repas ' || s.r0 || ' à ' || s.repas || ')',
        NULL, 'doses_hors_courbe:' || l.lot_id)
    FROM (
        SELECT DISTINCT ON (lot_id) lot_id, repas, r0, fin, moyenne
        FROM (
            SELECT g.lot_id, g.repas, g.horodatage AS fin,
                   avg(100.0 * (g.dose_g - g.dose_theorique_g) / g.dose_theorique_g) OVER w AS moyenne,
                   count(*) OVER w AS nb, min(g.repas) OVER w AS r0
            FROM doses_gavage g
            WHERE g.lot_id = ANY (lots) AND g.dose_theorique_g > 0
            WINDOW w AS (PARTITION BY g.lot_id ORDER BY g.repas ROWS BETWEEN serie - 1 PRECEDING AND CURRENT ROW)
        ) fenetres
        WHERE nb = serie AND repas - r0 = serie - 1 AND abs(moyenne) > ecart
        ORDER BY lot_id, repas
    ) s
    JOIN lots_gavage l USING (lot_id)
    WHERE NOT EXISTS (SELECT FROM alertes a WHERE a.cle_dedup = 'doses_hors_courbe:' || l.lot_id)
    ORDER BY l.lot_id;
    RETURN NULL;
END;
$f$;
REVOKE ALL ON FUNCTION alertes_regle_doses() FROM PUBLIC;
