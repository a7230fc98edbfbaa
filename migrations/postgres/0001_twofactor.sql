-- twofactor's PostgreSQL schema, version 1. Apply it with your migration tool (`sqlx migrate`,
-- refinery, Flyway, psql ...) and build the store with `PostgresStore::new(pool)` followed by
-- `check_schema()` instead of `migrate()`. `PostgresStore::migrate` runs this same text.
--
-- user_id sorts bytewise (COLLATE "C"): `list` pages by it with a keyset predicate on the
-- primary key. The (status, user_id) index serves the status filters.

CREATE TABLE IF NOT EXISTS twofactor_schema (version BIGINT NOT NULL);

CREATE TABLE twofactor_users (
    user_id TEXT COLLATE "C" PRIMARY KEY,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    required BOOLEAN NOT NULL,
    recovery_generation BIGINT NOT NULL,
    recovery TEXT,
    last_step BIGINT,
    drift BIGINT NOT NULL,
    last_used_at BIGINT,
    recovery_used BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT
);

CREATE INDEX twofactor_users_status ON twofactor_users (status, user_id);

INSERT INTO twofactor_schema (version) VALUES (1);
