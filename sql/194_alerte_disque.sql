-- Rule disque_plein (issue 22): the scheduler measures, every few minutes, how full the disks holding the
-- database's data (when visible from its machine), the reports and the backups are, and hands each figure
-- to alerte_disque(). The rule's threshold (parametres.seuil_occupation_pct, 90 by default) is read here, so
-- an admin who changes it on the Administration page changes what raises: one critical admin alert per
-- folder and day (Paris), whatever the number of measures.
CREATE OR REPLACE FUNCTION alerte_disque(p_dossier text, p_chemin text, p_occupation_pct numeric,
                                         p_libre_octets bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    seuil numeric;
BEGIN
    SELECT COALESCE((parametres->>'seuil_occupation_pct')::numeric, 90) INTO seuil
    FROM regles_alertes WHERE code = 'disque_plein';
    IF seuil IS NULL OR p_occupation_pct < seuil THEN
        RETURN NULL;
    END IF;
    -- No format() and no percent sign in this file: the migration runner's driver reads them as parameters.
    RETURN alerte_lever('disque_plein', clock_timestamp(), NULL, NULL, NULL,
        'Disque des ' || p_dossier || ' occupé à ' || round(p_occupation_pct) || ' ' || chr(37) || ' (seuil '
        || round(seuil) || ' ' || chr(37) || ') : il reste '
        || to_char(p_libre_octets / 1073741824.0, 'FM999999990.0') || ' Gio sur ' || p_chemin
        || '. Libérer de la place ou agrandir le disque avant que les jobs, les imports ou les sauvegardes '
        || 'n''échouent.',
        NULL, 'disque_plein:' || p_dossier || ':' || to_char(clock_timestamp() AT TIME ZONE 'Europe/Paris', 'YYYY-MM-DD'));
END;
$f$;
REVOKE ALL ON FUNCTION alerte_disque(text, text, numeric, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alerte_disque(text, text, numeric, bigint) TO euralis_maintenance;
COMMENT ON FUNCTION alerte_disque(text, text, numeric, bigint) IS 'Rule disque_plein: an admin alert (one per folder and Paris day) when a disk measured by the scheduler is at least as full as the rule''s threshold; its id or NULL.';

UPDATE regles_alertes SET evaluee = true, actif = true, modifie_le = now(),
    evaluation = 'par le planificateur toutes les 5 minutes (disques des données, des rapports et des sauvegardes)'
WHERE code = 'disque_plein' AND NOT evaluee;
