-- Held-out residuals of each regression formula (issue 24, « Simulateur de lot »): the 10th and 90th
-- percentiles of (observed - predicted) liver weight on the formula's held-out lots, written by the job
-- entrainement next to r2_test and mae_test. The lot calculator (euralis_lib/models/lot_calculator.py) adds
-- them to a prediction to give its 80 percent interval. NULL for formulas trained before this migration.
ALTER TABLE formules_regression ADD COLUMN IF NOT EXISTS residu_p10_g double precision;
ALTER TABLE formules_regression ADD COLUMN IF NOT EXISTS residu_p90_g double precision;
COMMENT ON COLUMN formules_regression.residu_p10_g IS '10th percentile of observed - predicted liver weight (g) on the held-out lots (sql/203).';
COMMENT ON COLUMN formules_regression.residu_p90_g IS '90th percentile of observed - predicted liver weight (g) on the held-out lots (sql/203).';
