-- Issue 13: the forecasting job backtests several models per site and horizon and keeps the best one.
-- previsions.modele: the model that produced the stored forecast; previsions_backtest.retenu: the chosen one.
ALTER TABLE previsions ADD COLUMN IF NOT EXISTS modele text;
ALTER TABLE previsions_backtest ADD COLUMN IF NOT EXISTS retenu boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN previsions.modele IS 'Model chosen by backtest for this site and horizon (naif_saisonnier, prophet, harmonique).';
COMMENT ON COLUMN previsions_backtest.retenu IS 'True for the model with the lowest backtest MAPE for this site and horizon (the baseline on a tie).';
