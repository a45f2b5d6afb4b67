-- Slaughter plans per truck load ("chargement"): a lot larger than one slaughter slot is split into
-- loads of at most one slot each, so a day's planned ducks never exceed the slaughterhouse capacity.
ALTER TABLE planning_abattages ADD COLUMN IF NOT EXISTS chargement smallint NOT NULL DEFAULT 1
    CHECK (chargement >= 1);
ALTER TABLE planning_abattages ADD COLUMN IF NOT EXISTS nb_canards integer CHECK (nb_canards >= 0);
COMMENT ON COLUMN planning_abattages.chargement IS 'Load number within the lot (1..n); each load takes one slot.';
COMMENT ON COLUMN planning_abattages.nb_canards IS 'Ducks in this load (NULL on plans written before loads existed: the whole lot).';

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
        WHERE c.conrelid = 'planning_abattages'::regclass AND c.contype = 'p' AND a.attname = 'chargement'
    ) THEN
        ALTER TABLE planning_abattages DROP CONSTRAINT IF EXISTS planning_abattages_pkey;
        ALTER TABLE planning_abattages ADD PRIMARY KEY (run_id, methode, lot_id, chargement);
    END IF;
END
$$;
