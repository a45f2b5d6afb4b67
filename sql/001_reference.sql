-- Reference data: sites, souches (genetic lines), gaveurs (farmers), price parameters.
-- Idempotent: every object is created only if missing.

CREATE TABLE IF NOT EXISTS sites (
    code                    text PRIMARY KEY CHECK (code ~ '^[A-Z]{2}$'),
    nom                     text NOT NULL,
    region                  text NOT NULL,
    capacite_abattage_jour  integer NOT NULL CHECK (capacite_abattage_jour > 0),
    cree_le                 timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sites IS 'Production sites of the cooperative (LL, LS, MT) with their slaughterhouse daily capacity in ducks.';

CREATE TABLE IF NOT EXISTS souches (
    code  text PRIMARY KEY,
    nom   text NOT NULL
);
COMMENT ON TABLE souches IS 'Genetic lines of ducks (the mulard dominates foie gras).';

CREATE TABLE IF NOT EXISTS gaveurs (
    gaveur_id    integer PRIMARY KEY,
    code         text NOT NULL UNIQUE,
    nom          text NOT NULL,
    site_code    text NOT NULL REFERENCES sites (code),
    distance_km  numeric(6, 1) NOT NULL CHECK (distance_km >= 0 AND distance_km <= 500),
    actif        boolean NOT NULL DEFAULT true,
    origine      text NOT NULL DEFAULT 'import' CHECK (origine IN ('simulation', 'import'))
);
CREATE INDEX IF NOT EXISTS gaveurs_site_idx ON gaveurs (site_code);
COMMENT ON TABLE gaveurs IS 'Independent farmers fattening lots for a site; distance_km to the site slaughterhouse.';

CREATE TABLE IF NOT EXISTS prix_parametres (
    parametre   text NOT NULL,
    site_code   text REFERENCES sites (code),
    valide_du   date NOT NULL,
    valeur      numeric(12, 4) NOT NULL CHECK (valeur >= 0),
    unite       text NOT NULL
);
-- One value per parameter, site (or all sites) and date; COALESCE keeps PostgreSQL 14 support.
CREATE UNIQUE INDEX IF NOT EXISTS prix_parametres_uniq
    ON prix_parametres (parametre, COALESCE(site_code, ''), valide_du);
COMMENT ON TABLE prix_parametres IS 'Price parameters used by finance (EUR), valid from valide_du until the next row of the same parametre/site; site_code NULL = all sites.';
