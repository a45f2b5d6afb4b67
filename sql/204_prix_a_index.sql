-- prix_a (sql/006) looked a price up by sorting every row of the parameter valid on the day, site rows first:
-- the simulator adds price rows every month, so each of the finance query's dozen calls per lot cost more as
-- the history grew, and finance_indicateurs grew faster than the data (make bench, 1 / 3 / 10 years:
-- 70 -> 295 -> 1,937 ms p50; issue 25). Same answer (the site's latest row valid on the day, else the
-- all-sites row's), now two index seeks whatever the history's length.
CREATE INDEX IF NOT EXISTS prix_parametres_site_jour_idx ON prix_parametres (parametre, site_code, valide_du DESC);

CREATE OR REPLACE FUNCTION prix_a(p_parametre text, p_site text, p_jour date) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE(
        (SELECT valeur FROM prix_parametres
         WHERE parametre = p_parametre AND site_code = p_site AND valide_du <= p_jour
         ORDER BY valide_du DESC LIMIT 1),
        (SELECT valeur FROM prix_parametres
         WHERE parametre = p_parametre AND site_code IS NULL AND valide_du <= p_jour
         ORDER BY valide_du DESC LIMIT 1))
$$;
COMMENT ON FUNCTION prix_a(text, text, date) IS 'Price parameter in force on a day for a site (site row first, then all-sites row).';
