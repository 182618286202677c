-- keyward's schema, SQLite dialect. The PostgreSQL migration of the same number creates the
-- same tables; differences are noted there. Times are epoch milliseconds (BIGINT) in both, so
-- one set of queries serves both backends.

CREATE TABLE resellers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE domains (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reseller_id BIGINT NOT NULL REFERENCES resellers (id),
    name TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id BIGINT NOT NULL REFERENCES domains (id),
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    permissions TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('domain', 'reseller')),
    domain_id BIGINT REFERENCES domains (id),
    reseller_id BIGINT REFERENCES resellers (id),
    name TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    secret_sealed BLOB NOT NULL,
    previous_secret_sealed BLOB,
    previous_secret_until_ms BIGINT,
    permissions TEXT NOT NULL,
    created_by_user_id BIGINT REFERENCES users (id),
    created_by_key_id BIGINT REFERENCES api_keys (id),
    created_at_ms BIGINT NOT NULL,
    last_used_at_ms BIGINT,
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'revoked')),
    revoked_at_ms BIGINT,
    CHECK ((kind = 'domain' AND domain_id IS NOT NULL) OR (kind = 'reseller' AND reseller_id IS NOT NULL))
);

CREATE TABLE access_tokens (
    digest TEXT PRIMARY KEY,
    user_id BIGINT REFERENCES users (id),
    api_key_id BIGINT REFERENCES api_keys (id),
    domain_id BIGINT NOT NULL REFERENCES domains (id),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    CHECK ((user_id IS NULL) <> (api_key_id IS NULL))
);

CREATE TABLE audit_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    domain_id BIGINT REFERENCES domains (id),
    reseller_id BIGINT REFERENCES resellers (id),
    actor_user_id BIGINT REFERENCES users (id),
    actor_key_id BIGINT REFERENCES api_keys (id),
    actor_name TEXT NOT NULL,
    application TEXT,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_records_domain_at ON audit_records (domain_id, at_ms);

CREATE TABLE activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id BIGINT NOT NULL REFERENCES domains (id),
    name TEXT NOT NULL,
    description TEXT,
    status TEXT,
    version BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    deleted_at_ms BIGINT
);
CREATE INDEX activities_domain ON activities (domain_id, id);

CREATE TABLE activity_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    activity_id BIGINT NOT NULL REFERENCES activities (id),
    version BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    audit_id BIGINT NOT NULL REFERENCES audit_records (id),
    change TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    UNIQUE (activity_id, version)
);
