-- Alert rules as data (issue 22): one row per rule, with its French label, severity, sites, on/off switch
-- and thresholds (parametres, jsonb). Every logged-in user reads the rules (the alert centre shows them);
-- only an admin with an admin's kernel token changes them (ecriture_admin, sql/151), and the library
-- audits each change (euralis_lib.alerts.rules). `evaluee` says whether the workbench evaluates the rule
-- yet: a rule not evaluated is seeded switched off so nobody believes it watches anything.

CREATE TABLE IF NOT EXISTS regles_alertes (
    code          text PRIMARY KEY CHECK (code ~ '^[a-z_]+$'),
    libelle       text NOT NULL,
    type_alerte   text NOT NULL UNIQUE,
    severite      text NOT NULL CHECK (severite IN ('info', 'attention', 'critique')),
    destinataires text NOT NULL DEFAULT 'sites' CHECK (destinataires IN ('sites', 'admins')),
    sites         text[],
    actif         boolean NOT NULL DEFAULT true,
    parametres    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(parametres) = 'object'),
    evaluee       boolean NOT NULL DEFAULT false,
    evaluation    text,
    modifie_le    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE regles_alertes IS 'Alert rules: label, severity, sites (NULL: all), on/off, thresholds; alertes.type = type_alerte links an alert to its rule.';
COMMENT ON COLUMN regles_alertes.sites IS 'Sites the rule watches; NULL for every site.';
COMMENT ON COLUMN regles_alertes.destinataires IS 'sites: the alert has a site and reaches its gaveur and supervisors; admins: workbench alerts (no site), admins only.';
COMMENT ON COLUMN regles_alertes.evaluee IS 'Whether the workbench evaluates this rule yet (see evaluation: where).';

INSERT INTO regles_alertes (code, libelle, type_alerte, severite, destinataires, actif, parametres, evaluee, evaluation)
VALUES
    ('mortalite_lot', 'Mortalité d''un lot au-dessus du seuil', 'mortalite', 'attention', 'sites', true,
     '{"seuil_pct": 3.0, "seuil_critique_pct": 6.0}', true, 'à l''écriture du lot (import, simulateur), trigger sur lots_gavage'),
    ('doses_hors_courbe', 'Doses hors de la courbe de contrôle plusieurs repas de suite', 'doses_hors_courbe',
     'attention', 'sites', false, '{"ecart_pct": 15, "repas_consecutifs": 3}', false, NULL),
    ('itm_hors_bande', 'ITM hors de la bande à l''abattage', 'itm_hors_bande', 'attention', 'sites', false,
     '{"itm_min": 12.0, "itm_max": 16.0}', false, NULL),
    ('poids_foie_hors_bande', 'Poids de foie hors de la bande à l''abattage', 'poids_foie_hors_bande', 'attention',
     'sites', false, '{"poids_min_g": 450, "poids_max_g": 720}', false, NULL),
    ('anomalie_lot', 'Lot signalé par le job anomalies', 'anomalie', 'critique', 'sites', true,
     '{"critiques_seulement": true}', true, 'à l''écriture des scores du job anomalies, trigger sur anomalies_lots'),
    ('capacite_abattage', 'Capacité d''abattage insuffisante pour un jour à venir', 'capacite_abattage', 'attention',
     'sites', false, '{"horizon_jours": 7}', false, NULL),
    ('job_echec', 'Job en échec après ses tentatives', 'job_echec', 'critique', 'admins', true, '{}', true,
     'par le planificateur, dans la transaction qui enregistre l''échec'),
    ('job_saute', 'Job sauté de façon répétée', 'job_saute', 'attention', 'admins', false,
     '{"sauts_consecutifs": 3}', false, NULL),
    ('import_rejets', 'Import avec des lignes rejetées', 'import_rejets', 'attention', 'admins', false,
     '{"lignes_min": 1}', false, NULL),
    ('sauvegarde_echec', 'Sauvegarde en échec ou non vérifiée', 'sauvegarde_echec', 'critique', 'admins', false,
     '{}', false, NULL),
    ('disque_plein', 'Disque presque plein', 'disque_plein', 'critique', 'admins', false,
     '{"seuil_occupation_pct": 90}', false, NULL)
ON CONFLICT (code) DO NOTHING;

-- Read by every logged-in user; written by admins only (policies of sql/151).
SELECT euralis_proteger('regles_alertes', '(SELECT euralis_acces_login()) IS NOT NULL', true);
GRANT SELECT ON regles_alertes TO euralis_admin, euralis_superviseur, euralis_gaveur;
GRANT UPDATE (libelle, severite, sites, actif, parametres, modifie_le) ON regles_alertes TO euralis_admin;

-- Every change of a rule from the dashboards is audited (an `admin` row of audit_acces, credited to the
-- kernel token's user), in the transaction of the change, whatever code made it.
CREATE OR REPLACE FUNCTION regles_alertes_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $f$
BEGIN
    IF euralis_appel_web() THEN
        INSERT INTO audit_acces (horodatage, evenement, login, detail)
        VALUES (clock_timestamp(), 'admin', euralis_acces_login(),
                jsonb_build_object('action', 'regle_alerte', 'cible', NEW.code,
                                   'avant', jsonb_build_object('severite', OLD.severite, 'sites', OLD.sites,
                                                               'actif', OLD.actif, 'parametres', OLD.parametres),
                                   'apres', jsonb_build_object('severite', NEW.severite, 'sites', NEW.sites,
                                                               'actif', NEW.actif, 'parametres', NEW.parametres)));
    END IF;
    RETURN NULL;
END;
$f$;
REVOKE ALL ON FUNCTION regles_alertes_audit() FROM PUBLIC;
DROP TRIGGER IF EXISTS regles_alertes_audit_trg ON regles_alertes;
CREATE TRIGGER regles_alertes_audit_trg AFTER UPDATE ON regles_alertes
    FOR EACH ROW EXECUTE FUNCTION regles_alertes_audit();
