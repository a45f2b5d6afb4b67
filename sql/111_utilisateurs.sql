-- Users of the dashboards, their server-side sessions, and the access audit (issue 12).
-- Read and written by the Voilà server process (login) and the `users` command; the dashboards'
-- roles never read password hashes or sessions.

CREATE TABLE IF NOT EXISTS utilisateurs (
    login         text PRIMARY KEY CHECK (login ~ '^[a-z0-9][a-z0-9._-]{1,39}$'),
    nom           text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'superviseur', 'gaveur')),
    gaveur_id     integer REFERENCES gaveurs (gaveur_id),
    sites         text[],
    actif         boolean NOT NULL DEFAULT true,
    mot_de_passe  text NOT NULL,
    cree_le       timestamptz NOT NULL DEFAULT now(),
    modifie_le    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT utilisateurs_gaveur_ck CHECK ((role = 'gaveur') = (gaveur_id IS NOT NULL)),
    CONSTRAINT utilisateurs_sites_ck CHECK (sites IS NULL OR role = 'superviseur')
);
COMMENT ON TABLE utilisateurs IS 'Dashboard users: role, the gaveur a gaveur user is, the sites a supervisor is limited to (NULL = all), argon2 password hash.';

CREATE TABLE IF NOT EXISTS sessions_web (
    session_id   text PRIMARY KEY,
    login        text NOT NULL REFERENCES utilisateurs (login) ON DELETE CASCADE,
    cree_le      timestamptz NOT NULL DEFAULT now(),
    expire_le    timestamptz NOT NULL,
    revoquee_le  timestamptz,
    ip           text
);
CREATE INDEX IF NOT EXISTS sessions_web_login_idx ON sessions_web (login);
COMMENT ON TABLE sessions_web IS 'Login sessions (session_id = sha256 of the cookie token): logout and disabling a user revoke them.';

CREATE TABLE IF NOT EXISTS audit_acces (
    audit_id    bigserial PRIMARY KEY,
    horodatage  timestamptz NOT NULL DEFAULT now(),
    evenement   text NOT NULL CHECK (evenement IN ('connexion', 'echec', 'blocage', 'deconnexion', 'refus', 'admin')),
    login       text,
    ip          text,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_acces_login_idx ON audit_acces (login, horodatage DESC);
CREATE INDEX IF NOT EXISTS audit_acces_ip_idx ON audit_acces (ip, horodatage DESC);
COMMENT ON TABLE audit_acces IS 'Logins, failed logins, throttling, logouts, refused actions and admin actions.';

-- Pipeline roles have no business with accounts.
REVOKE ALL ON utilisateurs, sessions_web, audit_acces FROM euralis_job, euralis_import, euralis_maintenance,
    euralis_admin, euralis_superviseur;
-- The Administration page: admins list and edit users (never the hash) and read the audit; every
-- role writes the audit rows of its own refused or admin actions.
GRANT SELECT (login, nom, role, gaveur_id, sites, actif, cree_le, modifie_le) ON utilisateurs TO euralis_admin;
GRANT UPDATE (nom, role, gaveur_id, sites, actif, modifie_le) ON utilisateurs TO euralis_admin;
GRANT SELECT ON audit_acces TO euralis_admin;
GRANT INSERT ON audit_acces TO euralis_admin, euralis_superviseur, euralis_gaveur;
GRANT USAGE ON SEQUENCE audit_acces_audit_id_seq TO euralis_admin, euralis_superviseur, euralis_gaveur;
