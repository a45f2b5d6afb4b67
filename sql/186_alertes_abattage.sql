-- Rules itm_hors_bande and poids_foie_hors_bande (issue 22), evaluated where slaughters land: abattages,
-- written by the simulator (COPY), by imports (COPY of a first import, INSERT / UPDATE … FROM of corrections).
-- One STATEMENT-level trigger per event reads the statement's rows (transition table), so a bulk load runs
-- one set-based query per rule instead of a function call per row; only the lots out of band call
-- alerte_lever (switch, sites and severity of the rule; key itm_hors_bande:<lot> / poids_foie_hors_bande:<lot>,
-- so a re-run or a correction that stays out of band raises nothing new).

CREATE OR REPLACE FUNCTION alertes_regles_abattage() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    bande_itm jsonb := (SELECT parametres FROM regles_alertes WHERE code = 'itm_hors_bande' AND actif);
    bande_poids jsonb := (SELECT parametres FROM regles_alertes WHERE code = 'poids_foie_hors_bande' AND actif);
BEGIN
    IF bande_itm IS NOT NULL THEN
        PERFORM alerte_lever('itm_hors_bande', (n.date_abattage + time '08:00') AT TIME ZONE 'Europe/Paris',
            l.site_code, l.gaveur_id, l.lot_id,
            'ITM de ' || replace(round(n.itm, 1)::text, '.', ',') || ' à l''abattage du lot ' || l.code_lot
                || ' (bande ' || replace(bande_itm ->> 'itm_min', '.', ',') || ' – '
                || replace(bande_itm ->> 'itm_max', '.', ',') || ')',
            NULL, 'itm_hors_bande:' || l.lot_id)
        FROM abattages_ecrits n JOIN lots_gavage l USING (lot_id)
        WHERE (n.itm < (bande_itm ->> 'itm_min')::numeric OR n.itm > (bande_itm ->> 'itm_max')::numeric)
          AND NOT EXISTS (SELECT FROM alertes a WHERE a.cle_dedup = 'itm_hors_bande:' || l.lot_id)
        ORDER BY n.lot_id;
    END IF;
    IF bande_poids IS NOT NULL THEN
        PERFORM alerte_lever('poids_foie_hors_bande', (n.date_abattage + time '08:00') AT TIME ZONE 'Europe/Paris',
            l.site_code, l.gaveur_id, l.lot_id,
            'Poids de foie moyen de ' || round(n.poids_foie_moyen_g)::text
                || ' g à l''abattage du lot ' || l.code_lot || ' (bande ' || (bande_poids ->> 'poids_min_g') || ' – '
                || (bande_poids ->> 'poids_max_g') || ' g)',
            NULL, 'poids_foie_hors_bande:' || l.lot_id)
        FROM abattages_ecrits n JOIN lots_gavage l USING (lot_id)
        WHERE (n.poids_foie_moyen_g < (bande_poids ->> 'poids_min_g')::numeric
               OR n.poids_foie_moyen_g > (bande_poids ->> 'poids_max_g')::numeric)
          AND NOT EXISTS (SELECT FROM alertes a WHERE a.cle_dedup = 'poids_foie_hors_bande:' || l.lot_id)
        ORDER BY n.lot_id;
    END IF;
    RETURN NULL;
END;
$f$;
REVOKE ALL ON FUNCTION alertes_regles_abattage() FROM PUBLIC;
DROP TRIGGER IF EXISTS alertes_regles_abattage_ins_trg ON abattages;
CREATE TRIGGER alertes_regles_abattage_ins_trg AFTER INSERT ON abattages
    REFERENCING NEW TABLE AS abattages_ecrits FOR EACH STATEMENT EXECUTE FUNCTION alertes_regles_abattage();
DROP TRIGGER IF EXISTS alertes_regles_abattage_maj_trg ON abattages;
CREATE TRIGGER alertes_regles_abattage_maj_trg AFTER UPDATE ON abattages
    REFERENCING NEW TABLE AS abattages_ecrits FOR EACH STATEMENT EXECUTE FUNCTION alertes_regles_abattage();

UPDATE regles_alertes SET evaluee = true, actif = true, modifie_le = now(),
       evaluation = 'à l''écriture des abattages (import, simulateur), trigger par instruction sur abattages'
WHERE code IN ('itm_hors_bande', 'poids_foie_hors_bande') AND NOT evaluee;
