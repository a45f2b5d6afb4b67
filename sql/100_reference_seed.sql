-- Reference data every installation needs, seeded here rather than by the simulator: the three
-- sites with their slaughterhouse capacity (ducks per day), the duck genetic lines and the road
-- distances between the sites' slaughterhouses (used by slaughter planning). Idempotent: rows an
-- administrator changed since (a capacity, a name) are left as they are.

INSERT INTO sites (code, nom, region, capacite_abattage_jour) VALUES
    ('LL', 'Site de Lanne', 'Landes', 3600),
    ('LS', 'Site de Lescar', 'Pyrénées-Atlantiques', 3600),
    ('MT', 'Site de Maubourguet', 'Hautes-Pyrénées', 5400)
ON CONFLICT (code) DO NOTHING;

INSERT INTO souches (code, nom) VALUES
    ('MULARD', 'Mulard'),
    ('BARBARIE', 'Barbarie'),
    ('HYBRIDE', 'Hybride PKB')
ON CONFLICT (code) DO NOTHING;

CREATE TABLE IF NOT EXISTS distances_sites (
    site_a       text NOT NULL REFERENCES sites (code),
    site_b       text NOT NULL REFERENCES sites (code),
    distance_km  numeric(6, 1) NOT NULL CHECK (distance_km > 0),
    PRIMARY KEY (site_a, site_b),
    CHECK (site_a < site_b)
);
COMMENT ON TABLE distances_sites IS 'Road distance between two sites'' slaughterhouses (one row per pair, site_a < site_b), for moving a lot to another site''s slaughterhouse.';

INSERT INTO distances_sites (site_a, site_b, distance_km) VALUES
    ('LL', 'LS', 62.0),
    ('LL', 'MT', 95.0),
    ('LS', 'MT', 58.0)
ON CONFLICT (site_a, site_b) DO NOTHING;
