-- Fair baselines of the liver-weight formulas (issue 24): per run and site × souche, the held-out R² of
-- ridge and lasso over the formula search's own term library and of gradient boosting, on the same
-- split as the formula (euralis_lib/models/baselines.py). est_polynomiale marks the polynomial baseline
-- kept by cross-validation (ridge or lasso), est_meilleure the best baseline the formula is judged against.
CREATE TABLE IF NOT EXISTS regression_references (
    run_id          bigint NOT NULL REFERENCES job_runs (run_id) ON DELETE CASCADE,
    site_code       text NOT NULL REFERENCES sites (code),
    souche_code     text NOT NULL REFERENCES souches (code),
    cible           text NOT NULL,
    reference       text NOT NULL CHECK (reference IN ('polynomiale_ridge', 'polynomiale_lasso', 'boosting')),
    r2_test         double precision,
    nb_termes       integer CHECK (nb_termes >= 0),
    est_polynomiale boolean NOT NULL DEFAULT false,
    est_meilleure   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (run_id, site_code, souche_code, cible, reference)
);
COMMENT ON TABLE regression_references IS 'Baselines of each regression formula on the same held-out lots: ridge/lasso over the same term library, gradient boosting; est_meilleure marks the best.';

GRANT SELECT ON regression_references TO euralis_admin, euralis_superviseur, euralis_gaveur;
-- Per-site results, read like formules_regression (sql/151_rls_partout.sql).
SELECT euralis_proteger('regression_references',
    '(SELECT euralis_acces_tout()) OR site_code = ANY ((SELECT euralis_sites_lisibles())::text[])');
