-- Finance per lot, kept exact by the database (issue 25). finance_indicateurs (the Sites and Finance pages, the
-- finance job, reports) priced every slaughtered lot on each call, a dozen prix_a() lookups per lot: its cost
-- grew with the lots times the price history (make bench: 70 -> 295 -> 1,937 ms p50 at 1 / 3 / 10 years, still
-- superlinear after sql/204). Each lot's revenue and cost parts are now stored in finance_lots and summed by
-- the query. Statement-level triggers recompute the lots a change touches, in the same transaction:
--   abattages        inserted or updated rows' lots (a deleted abattage's row goes by its foreign key)
--   qualite_foies    inserted, updated, deleted rows' lots; TRUNCATE: every lot
--   lots_gavage      updated lots (site, gaveur, start, ducks entered)
--   gaveurs          lots of the gaveurs whose distance_km changed
--   prix_parametres  inserted, updated, deleted rows: the lots slaughtered from the row's valide_du on, of its
--                    site (every site for an all-sites row); TRUNCATE: every lot
-- The recomputation is set-based: each price row's validity range (valide_du to the next valide_du of the same
-- parameter and site, a window function) is expanded to the days the lots span and hash-joined to the lots by
-- site and day, a site's row winning over the all-sites row, as prix_a() does. Same figures as before: a
-- missing price gives NULL (NaN on the page), a lot without quality rows (or none priced) has its livers priced
-- 'premier choix' from poids_foie_total_kg, the grade products without a price are left out of the sum.
-- Writers of those tables serialise on the recomputation (an advisory lock held to the commit); two transactions
-- each writing several of them in opposite orders may deadlock, which PostgreSQL detects (one is rolled back).

CREATE TABLE IF NOT EXISTS finance_lots (
    lot_id                integer PRIMARY KEY REFERENCES abattages (lot_id) ON DELETE CASCADE ON UPDATE CASCADE,
    site_code             text NOT NULL,
    gaveur_id             integer NOT NULL,
    date_abattage         date NOT NULL,
    mois                  date NOT NULL,
    nb_canards_abattus    integer NOT NULL,
    nb_canards_entres     integer NOT NULL,
    revenu_foie_eur       numeric,
    revenu_carcasse_eur   numeric,
    cout_canards_eur      numeric,
    cout_mais_eur         numeric,
    cout_main_oeuvre_eur  numeric,
    cout_energie_eur      numeric,
    cout_transport_eur    numeric
);
CREATE INDEX IF NOT EXISTS finance_lots_site_date_idx ON finance_lots (site_code, date_abattage);
COMMENT ON TABLE finance_lots IS 'Revenue and cost parts (EUR) of each slaughtered lot at the prices in force, kept '
    'by triggers (sql/206); finance_indicateurs sums it.';

-- Read like the lots (a gaveur his own, a supervisor his sites); written only by the functions below, as the
-- owner.
SELECT euralis_proteger('finance_lots', '(SELECT euralis_acces_tout()) OR site_code = ANY '
    '((SELECT euralis_acces_sites())::text[]) OR gaveur_id = (SELECT euralis_acces_gaveur())', false);
REVOKE ALL ON finance_lots FROM euralis_job, euralis_import, euralis_maintenance, euralis_admin,
    euralis_superviseur, euralis_gaveur;
GRANT SELECT ON finance_lots TO euralis_job, euralis_import, euralis_maintenance, euralis_admin,
    euralis_superviseur, euralis_gaveur;

-- Recompute the rows of the lots p_lots (NULL: every lot). Returns the number of rows written.
CREATE OR REPLACE FUNCTION finance_lots_recalculer(p_lots integer[]) RETURNS integer
LANGUAGE plpgsql SET search_path = public, pg_temp AS $f$
DECLARE
    n integer;
BEGIN
    DELETE FROM finance_lots WHERE p_lots IS NULL OR lot_id = ANY (p_lots);
    INSERT INTO finance_lots (lot_id, site_code, gaveur_id, date_abattage, mois, nb_canards_abattus,
        nb_canards_entres, revenu_foie_eur, revenu_carcasse_eur, cout_canards_eur, cout_mais_eur,
        cout_main_oeuvre_eur, cout_energie_eur, cout_transport_eur)
    WITH cibles AS (
        SELECT l.lot_id, l.site_code, l.gaveur_id, l.debut, l.nb_canards_entres, a.date_abattage,
               a.nb_canards_abattus, a.mais_total_kg, a.poids_foie_total_kg, g.distance_km
        FROM lots_gavage l JOIN abattages a USING (lot_id) JOIN gaveurs g ON g.gaveur_id = l.gaveur_id
        WHERE p_lots IS NULL OR l.lot_id = ANY (p_lots)),
    bornes AS (SELECT min(debut) AS du, max(date_abattage) AS au FROM cibles),
    -- each price row valid from valide_du until the day before the next row of its parameter and site
    plages AS (
        SELECT p.parametre, p.site_code, p.valeur, p.valide_du,
               lead(p.valide_du) OVER (PARTITION BY p.parametre, p.site_code ORDER BY p.valide_du) AS suivant
        FROM prix_parametres p, bornes b WHERE p.valide_du <= b.au),
    -- one row per parameter, site (NULL: all sites) and day of the lots' span
    jours AS (
        SELECT pl.parametre, pl.site_code, pl.site_code IS NOT NULL AS propre, j::date AS jour, pl.valeur
        FROM plages pl CROSS JOIN bornes b
        CROSS JOIN generate_series(greatest(pl.valide_du, b.du), least(pl.suivant - 1, b.au),
                                   interval '1 day') j),
    -- per site of the lots and day, {parametre: price}: the all-sites prices, overridden by the site's own
    prix AS (
        SELECT s.site_code, j.jour,
               COALESCE(jsonb_object_agg(j.parametre, j.valeur) FILTER (WHERE NOT j.propre), '{}')
                   || COALESCE(jsonb_object_agg(j.parametre, j.valeur) FILTER (WHERE j.propre), '{}') AS p
        FROM (SELECT DISTINCT site_code FROM cibles) s
        JOIN jours j ON j.site_code IS NULL OR j.site_code = s.site_code
        GROUP BY s.site_code, j.jour),
    -- livers by grade at the grade's price (any other grade: 'Declasse'); products without a price left out
    foies AS (
        SELECT q.lot_id, sum(q.poids_kg * (p.p ->> CASE q.grade WHEN 'Extra' THEN 'prix_foie_extra_eur_kg'
                                                              WHEN 'Premier choix' THEN 'prix_foie_premier_choix_eur_kg'
                                                              WHEN 'Second choix' THEN 'prix_foie_second_choix_eur_kg'
                                                              ELSE 'prix_foie_declasse_eur_kg' END)::numeric) AS revenu
        FROM qualite_foies q JOIN cibles c USING (lot_id)
        LEFT JOIN prix p ON p.site_code = c.site_code AND p.jour = c.date_abattage
        GROUP BY q.lot_id)
    SELECT c.lot_id, c.site_code, c.gaveur_id, c.date_abattage, date_trunc('month', c.date_abattage)::date,
           c.nb_canards_abattus, c.nb_canards_entres,
           COALESCE(f.revenu, c.poids_foie_total_kg * (pa.p ->> 'prix_foie_premier_choix_eur_kg')::numeric),
           c.nb_canards_abattus * (pa.p ->> 'prix_carcasse_eur_canard')::numeric,
           c.nb_canards_entres * (pd.p ->> 'prix_canard_pag_eur')::numeric,
           c.mais_total_kg * (pa.p ->> 'prix_mais_eur_kg')::numeric,
           c.nb_canards_entres * (pa.p ->> 'cout_main_oeuvre_eur_canard')::numeric,
           c.nb_canards_entres * (pa.p ->> 'cout_energie_eur_canard')::numeric,
           2 * c.distance_km * (pa.p ->> 'cout_transport_eur_km')::numeric
    FROM cibles c
    LEFT JOIN foies f USING (lot_id)
    LEFT JOIN prix pa ON pa.site_code = c.site_code AND pa.jour = c.date_abattage  -- slaughter day
    LEFT JOIN prix pd ON pd.site_code = c.site_code AND pd.jour = c.debut;         -- start day (ducks)
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$f$;
COMMENT ON FUNCTION finance_lots_recalculer(integer[]) IS 'Recompute finance_lots for some lots (NULL: all), at the prices in force (sql/206).';
REVOKE ALL ON FUNCTION finance_lots_recalculer(integer[]) FROM PUBLIC;

-- The statement triggers: which lots the changed rows touch (transition tables nouvelles / anciennes).
CREATE OR REPLACE FUNCTION finance_lots_suivre() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
DECLARE
    lots integer[];
    prix_sites text[] := '{}';
    prix_debuts date[] := '{}';
BEGIN
    -- One recomputation at a time, until the commit: under READ COMMITTED each statement below then reads what
    -- the transactions before it committed. Without it, a price change and a slaughter's update committed at
    -- the same moment would each recompute a shared lot blind to the other's change, and the row would stay wrong.
    PERFORM pg_advisory_xact_lock(74201206);
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM finance_lots_recalculer(NULL);
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME IN ('abattages', 'qualite_foies', 'lots_gavage') THEN
        IF TG_OP = 'INSERT' THEN
            SELECT array_agg(DISTINCT lot_id) INTO lots FROM nouvelles;
        ELSIF TG_OP = 'DELETE' THEN
            SELECT array_agg(DISTINCT lot_id) INTO lots FROM anciennes;
        ELSE
            SELECT array_agg(DISTINCT lot_id) INTO lots
            FROM (SELECT lot_id FROM nouvelles UNION SELECT lot_id FROM anciennes) t;
        END IF;
    ELSIF TG_TABLE_NAME = 'gaveurs' THEN
        SELECT array_agg(l.lot_id) INTO lots FROM lots_gavage l
        WHERE l.gaveur_id IN (SELECT n.gaveur_id FROM nouvelles n WHERE NOT EXISTS (
            SELECT FROM anciennes o WHERE o.gaveur_id = n.gaveur_id AND o.distance_km = n.distance_km));
    ELSIF TG_TABLE_NAME = 'prix_parametres' THEN
        -- a price row is in force from its valide_du on; a lot reads prices on its slaughter day, and on its
        -- start day (ducks), which comes before it. (Each branch names only the transition tables its event has.)
        IF TG_OP <> 'DELETE' THEN
            SELECT prix_sites || array_agg(site_code), prix_debuts || array_agg(valide_du)
            INTO prix_sites, prix_debuts FROM nouvelles;
        END IF;
        IF TG_OP <> 'INSERT' THEN
            SELECT prix_sites || array_agg(site_code), prix_debuts || array_agg(valide_du)
            INTO prix_sites, prix_debuts FROM anciennes;
        END IF;
        WITH changes AS (SELECT c.site_code, min(c.du) AS du FROM unnest(prix_sites, prix_debuts) c(site_code, du)
                         GROUP BY c.site_code)
        SELECT array_agg(a.lot_id) INTO lots
        FROM abattages a JOIN lots_gavage l USING (lot_id)
        WHERE EXISTS (SELECT FROM changes c WHERE a.date_abattage >= c.du
                                              AND (c.site_code IS NULL OR c.site_code = l.site_code));
    END IF;
    IF lots IS NOT NULL THEN
        PERFORM finance_lots_recalculer(lots);
    END IF;
    RETURN NULL;
END;
$f$;
COMMENT ON FUNCTION finance_lots_suivre() IS 'Statement trigger keeping finance_lots exact when lots, slaughters, '
    'grades, distances or prices change (sql/206).';
REVOKE ALL ON FUNCTION finance_lots_suivre() FROM PUBLIC;

-- Transition tables allow one event per trigger.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
            ('abattages', 'INSERT'), ('abattages', 'UPDATE'),
            ('qualite_foies', 'INSERT'), ('qualite_foies', 'UPDATE'), ('qualite_foies', 'DELETE'),
            ('lots_gavage', 'UPDATE'), ('gaveurs', 'UPDATE'),
            ('prix_parametres', 'INSERT'), ('prix_parametres', 'UPDATE'), ('prix_parametres', 'DELETE'),
            ('qualite_foies', 'TRUNCATE'), ('prix_parametres', 'TRUNCATE')) v(tab, evenement) LOOP
        EXECUTE 'DROP TRIGGER IF EXISTS finance_lots_' || lower(t.evenement) || ' ON ' || quote_ident(t.tab);
        EXECUTE 'CREATE TRIGGER finance_lots_' || lower(t.evenement) || ' AFTER ' || t.evenement
                || ' ON ' || quote_ident(t.tab)
                || CASE t.evenement WHEN 'INSERT' THEN ' REFERENCING NEW TABLE AS nouvelles'
                                    WHEN 'DELETE' THEN ' REFERENCING OLD TABLE AS anciennes'
                                    WHEN 'UPDATE' THEN ' REFERENCING NEW TABLE AS nouvelles OLD TABLE AS anciennes'
                                    ELSE '' END
                || ' FOR EACH STATEMENT EXECUTE FUNCTION finance_lots_suivre()';
    END LOOP;
END;
$$;

SELECT finance_lots_recalculer(NULL);
