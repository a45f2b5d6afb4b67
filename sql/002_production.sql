-- Production data: lots de gavage, per-meal feeding records (hypertable), slaughters, liver grades.

CREATE TABLE IF NOT EXISTS lots_gavage (
    lot_id                 integer PRIMARY KEY,
    code_lot               text NOT NULL UNIQUE,
    site_code              text NOT NULL REFERENCES sites (code),
    gaveur_id              integer NOT NULL REFERENCES gaveurs (gaveur_id),
    souche_code            text NOT NULL REFERENCES souches (code),
    debut                  date NOT NULL,
    fin                    date NOT NULL,
    nb_canards_entres      integer NOT NULL CHECK (nb_canards_entres BETWEEN 1 AND 5000),
    nb_morts               integer NOT NULL DEFAULT 0 CHECK (nb_morts >= 0),
    poids_entree_moyen_kg  numeric(5, 3) NOT NULL CHECK (poids_entree_moyen_kg BETWEEN 2.5 AND 6.5),
    origine                text NOT NULL DEFAULT 'import' CHECK (origine IN ('simulation', 'import')),
    CONSTRAINT lots_periode_ck CHECK (fin >= debut AND fin - debut <= 20),
    CONSTRAINT lots_mortalite_ck CHECK (nb_morts <= nb_canards_entres)
);
CREATE INDEX IF NOT EXISTS lots_site_fin_idx ON lots_gavage (site_code, fin);
CREATE INDEX IF NOT EXISTS lots_gaveur_idx ON lots_gavage (gaveur_id);
COMMENT ON TABLE lots_gavage IS 'One gaveur''s batch of ducks fattened from debut to fin (inclusive), about 10-13 days.';

-- Feeding records, one row per lot and meal: the average corn dose given to one duck.
-- A hypertable on TimescaleDB (see 090_timescale.sql); a BRIN-indexed table otherwise.
CREATE TABLE IF NOT EXISTS doses_gavage (
    horodatage        timestamptz NOT NULL,
    lot_id            integer NOT NULL REFERENCES lots_gavage (lot_id),
    jour              smallint NOT NULL CHECK (jour BETWEEN 1 AND 21),
    repas             smallint NOT NULL CHECK (repas BETWEEN 1 AND 42),
    dose_g            numeric(6, 1) NOT NULL CHECK (dose_g >= 0 AND dose_g <= 1500),
    dose_theorique_g  numeric(6, 1) CHECK (dose_theorique_g >= 0 AND dose_theorique_g <= 1500),
    CONSTRAINT doses_gavage_pk PRIMARY KEY (lot_id, horodatage)
);
CREATE INDEX IF NOT EXISTS doses_gavage_time_brin ON doses_gavage USING brin (horodatage);
COMMENT ON TABLE doses_gavage IS 'Per-meal corn dose per duck (g) for each lot; dose_theorique_g is the control curve.';

CREATE TABLE IF NOT EXISTS abattages (
    lot_id               integer PRIMARY KEY REFERENCES lots_gavage (lot_id),
    date_abattage        date NOT NULL,
    nb_canards_abattus   integer NOT NULL CHECK (nb_canards_abattus >= 0),
    poids_foie_moyen_g   numeric(6, 1) NOT NULL CHECK (poids_foie_moyen_g BETWEEN 100 AND 1500),
    sigma_g              numeric(6, 1) NOT NULL CHECK (sigma_g >= 0 AND sigma_g <= 600),
    mais_total_kg        numeric(12, 1) NOT NULL CHECK (mais_total_kg >= 0),
    taux_fonte_pct       numeric(4, 1) CHECK (taux_fonte_pct BETWEEN 0 AND 100),
    poids_foie_total_kg  numeric(12, 2) GENERATED ALWAYS AS (nb_canards_abattus * poids_foie_moyen_g / 1000.0) STORED,
    itm                  numeric(6, 2) GENERATED ALWAYS AS (
        CASE WHEN nb_canards_abattus > 0
             THEN mais_total_kg / (nb_canards_abattus * poids_foie_moyen_g / 1000.0) END) STORED
);
CREATE INDEX IF NOT EXISTS abattages_date_idx ON abattages (date_abattage);
COMMENT ON TABLE abattages IS 'Slaughter of a lot: livers (mean weight, sigma), corn eaten, ITM = kg corn per kg of liver.';

CREATE TABLE IF NOT EXISTS qualite_foies (
    lot_id    integer NOT NULL REFERENCES abattages (lot_id),
    grade     text NOT NULL CHECK (grade IN ('Extra', 'Premier choix', 'Second choix', 'Declasse')),
    nb_foies  integer NOT NULL CHECK (nb_foies >= 0),
    poids_kg  numeric(12, 2) NOT NULL CHECK (poids_kg >= 0),
    PRIMARY KEY (lot_id, grade)
);
COMMENT ON TABLE qualite_foies IS 'Liver quality grades of a slaughtered lot (count and weight per grade).';

-- Truths planted by the simulator, read by tests and model validation (never by dashboards).
CREATE TABLE IF NOT EXISTS simulation_verites (
    genre   text NOT NULL,
    cle     text NOT NULL,
    valeur  jsonb NOT NULL,
    PRIMARY KEY (genre, cle)
);
COMMENT ON TABLE simulation_verites IS 'Truths planted by the simulator: formulas, gaveur archetypes, anomalous lots, seasonality, sanitary stops.';
