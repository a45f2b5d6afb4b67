-- One key per fact (issue 14): a meal is (lot, meal number), whatever its time. A corrected file
-- that gives meal 1 a real time (06:15) instead of the default 06:00, or a per-day file after a
-- per-meal one, replaces the meal instead of adding a second row.
-- Existing duplicates are removed first, keeping the latest meal time of each (lot_id, repas).
-- Plain PostgreSQL: a real UNIQUE constraint doses_gavage_repas_uk (lot_id, repas).
-- TimescaleDB: a unique index on a hypertable must contain the time column, so the same key is
-- enforced by a trigger (doses_gavage_repas_uk_trg) over a plain index on (lot_id, repas); imports
-- are serialised by an advisory lock, which closes the trigger's race between two importers.

DELETE FROM doses_gavage d
USING doses_gavage plus_recent
WHERE plus_recent.lot_id = d.lot_id AND plus_recent.repas = d.repas
  AND plus_recent.horodatage > d.horodatage;

-- The stand-in's check (created everywhere, attached as a trigger only on TimescaleDB; tested on PostgreSQL).
CREATE OR REPLACE FUNCTION doses_gavage_repas_unique() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF EXISTS (SELECT 1 FROM doses_gavage
               WHERE lot_id = NEW.lot_id AND repas = NEW.repas AND horodatage <> NEW.horodatage
                 AND NOT (TG_OP = 'UPDATE' AND lot_id = OLD.lot_id AND horodatage = OLD.horodatage)) THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "doses_gavage_repas_uk"'
            USING ERRCODE = 'unique_violation',
                  DETAIL = 'Key (lot_id, repas)=(' || NEW.lot_id || ', ' || NEW.repas || ') already exists.';
    END IF;
    RETURN NEW;
END;
$f$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        CREATE INDEX IF NOT EXISTS doses_gavage_repas_idx ON doses_gavage (lot_id, repas);
        DROP TRIGGER IF EXISTS doses_gavage_repas_uk_trg ON doses_gavage;
        CREATE TRIGGER doses_gavage_repas_uk_trg BEFORE INSERT OR UPDATE OF lot_id, repas, horodatage
            ON doses_gavage FOR EACH ROW EXECUTE FUNCTION doses_gavage_repas_unique();
    ELSIF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'doses_gavage_repas_uk') THEN
        ALTER TABLE doses_gavage ADD CONSTRAINT doses_gavage_repas_uk UNIQUE (lot_id, repas);
    END IF;
END;
$$;

-- Exact copies of a row inside one file are counted apart from the rows already in the database.
ALTER TABLE imports ADD COLUMN IF NOT EXISTS nb_doublons integer NOT NULL DEFAULT 0 CHECK (nb_doublons >= 0);
COMMENT ON COLUMN imports.nb_doublons IS 'Rows that exactly repeat an earlier row of the same file (stored once).';
