-- Re-import of an unchanged file (issue 14): a write counter per table an import reads or writes,
-- bumped by a statement-level trigger on every INSERT, UPDATE, DELETE or TRUNCATE (any role, any
-- tool: imports, simulator, SQL by hand). An import locks the counters from its start to its commit
-- and records their values in its history row; a later import of the same bytes (same kind, site
-- option and user, nothing rejected or repeated) finding the same values knows that nothing it
-- depends on was written since, so the full import would change nothing: it reports that and
-- writes only its history row (euralis_lib/imports/load.py). A spurious bump (a statement that
-- changed no row, a rolled-back one) only costs a full import.

CREATE TABLE IF NOT EXISTS tables_versions (
    nom_table  text PRIMARY KEY,
    version    bigint NOT NULL DEFAULT 0 CHECK (version >= 0)
);
COMMENT ON TABLE tables_versions IS 'Write counter per table read or written by the imports (statement-level triggers); imports.versions_tables records them at each import.';

CREATE OR REPLACE FUNCTION tables_versions_incrementer() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO tables_versions AS v (nom_table, version) VALUES (TG_TABLE_NAME, 1)
    ON CONFLICT (nom_table) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END;
$f$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sites', 'souches', 'gaveurs', 'lots_gavage', 'doses_gavage', 'abattages',
                             'qualite_foies'] LOOP
        EXECUTE 'DROP TRIGGER IF EXISTS tables_versions_trg ON ' || quote_ident(t);
        EXECUTE 'CREATE TRIGGER tables_versions_trg AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON '
                || quote_ident(t) || ' FOR EACH STATEMENT EXECUTE FUNCTION tables_versions_incrementer()';
        INSERT INTO tables_versions (nom_table) VALUES (t) ON CONFLICT (nom_table) DO NOTHING;
    END LOOP;
END;
$$;

ALTER TABLE imports ADD COLUMN IF NOT EXISTS versions_tables jsonb;
COMMENT ON COLUMN imports.versions_tables IS 'tables_versions (and the file formats'' fingerprint) at the end of the import: equal values later mean nothing it depends on was written since.';
