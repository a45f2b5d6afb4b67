-- Fasting time before slaughter (hours between the lot's last meal and slaughter): liver weight
-- falls with it (domain: ~723 g after 9 h vs ~675 g after 15 h), so the regression and the
-- planning can use it. Nullable: imports that do not carry it stay valid.
ALTER TABLE abattages ADD COLUMN IF NOT EXISTS jeune_h numeric(4, 1) CHECK (jeune_h BETWEEN 0 AND 96);
COMMENT ON COLUMN abattages.jeune_h IS 'Hours between the last meal and slaughter (fasting), from the slaughterhouse reception time.';
