-- TimescaleDB when the extension is available, plain PostgreSQL otherwise, from this same file.
-- On TimescaleDB: doses_gavage and alertes become hypertables, feeding records are compressed
-- after 90 days and alerts are dropped after 3 years. On plain PostgreSQL the tables stay
-- ordinary tables with their BRIN indexes on time (created in 002/003); nothing else happens.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        RAISE NOTICE 'timescaledb not available: plain PostgreSQL tables with BRIN indexes';
        RETURN;
    END IF;
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    EXECUTE $q$SELECT create_hypertable('doses_gavage', 'horodatage',
        chunk_time_interval => INTERVAL '30 days', if_not_exists => TRUE, migrate_data => TRUE)$q$;
    EXECUTE $q$SELECT create_hypertable('alertes', 'horodatage',
        chunk_time_interval => INTERVAL '90 days', if_not_exists => TRUE, migrate_data => TRUE)$q$;
    EXECUTE $q$ALTER TABLE doses_gavage SET (timescaledb.compress,
        timescaledb.compress_segmentby = 'lot_id', timescaledb.compress_orderby = 'horodatage')$q$;
    EXECUTE $q$SELECT add_compression_policy('doses_gavage', INTERVAL '90 days', if_not_exists => TRUE)$q$;
    EXECUTE $q$SELECT add_retention_policy('alertes', INTERVAL '3 years', if_not_exists => TRUE)$q$;
END;
$$;
