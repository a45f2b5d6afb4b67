-- Site performance per month, refreshed hourly by the scheduler through refresh_performances_sites().

CREATE MATERIALIZED VIEW IF NOT EXISTS performances_sites AS
SELECT l.site_code,
       date_trunc('month', a.date_abattage)::date                         AS mois,
       count(*)                                                           AS nb_lots,
       count(DISTINCT l.gaveur_id)                                        AS nb_gaveurs,
       sum(a.nb_canards_abattus)                                          AS nb_canards_abattus,
       round(sum(a.poids_foie_total_kg), 1)                               AS production_foie_kg,
       round(sum(a.mais_total_kg) / NULLIF(sum(a.poids_foie_total_kg), 0), 2) AS itm_moyen,
       round(avg(a.sigma_g), 1)                                           AS sigma_moyen_g,
       round(avg(a.poids_foie_moyen_g), 1)                                AS poids_foie_moyen_g,
       round(100.0 * sum(l.nb_morts) / NULLIF(sum(l.nb_canards_entres), 0), 2) AS mortalite_pct
FROM lots_gavage l
JOIN abattages a USING (lot_id)
GROUP BY l.site_code, date_trunc('month', a.date_abattage)
WITH NO DATA;

CREATE UNIQUE INDEX IF NOT EXISTS performances_sites_uniq ON performances_sites (site_code, mois);

CREATE OR REPLACE FUNCTION refresh_performances_sites() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- CONCURRENTLY keeps readers unblocked but needs an already populated view.
    IF (SELECT ispopulated FROM pg_matviews WHERE matviewname = 'performances_sites'
        AND schemaname = current_schema()) THEN
        REFRESH MATERIALIZED VIEW CONCURRENTLY performances_sites;
    ELSE
        REFRESH MATERIALIZED VIEW performances_sites;
    END IF;
END;
$$;
COMMENT ON FUNCTION refresh_performances_sites() IS 'Refreshes the performances_sites materialized view (concurrently once populated).';
