-- Price lookup used by the finance queries: the value in force on a day, a site-specific row
-- winning over the all-sites row (site_code NULL). NULL when no price is defined yet.
CREATE OR REPLACE FUNCTION prix_a(p_parametre text, p_site text, p_jour date) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT valeur
    FROM prix_parametres
    WHERE parametre = p_parametre
      AND (site_code = p_site OR site_code IS NULL)
      AND valide_du <= p_jour
    ORDER BY (site_code IS NULL), valide_du DESC
    LIMIT 1
$$;
COMMENT ON FUNCTION prix_a(text, text, date) IS 'Price parameter in force on a day for a site (site row first, then all-sites row).';

CREATE INDEX IF NOT EXISTS prix_parametres_lookup_idx ON prix_parametres (parametre, valide_du DESC);
