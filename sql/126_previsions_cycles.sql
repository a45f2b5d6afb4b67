-- Issue 13: the forecasting candidates are naif_saisonnier, prophet, harmonique and cycles (each gaveur's
-- rhythm carried forward; it replaces lots_en_cours, whose rows in earlier runs stay as they were).
COMMENT ON COLUMN previsions.modele IS 'Model chosen by backtest for this site and horizon (naif_saisonnier, prophet, harmonique, cycles; lots_en_cours in runs before migration 126).';
