-- twofactor's SQLite schema, version 1. Apply it with your migration tool (`sqlx migrate`, ...)
-- and build the store with `check_schema()` instead of `migrate()`, which runs this same text.
--
-- user_id sorts bytewise (SQLite's default BINARY collation): `list` pages by it with a keyset
-- predicate on the primary key. The (status, user_id) index serves the status filters.

CREATE TABLE IF NOT EXISTS twofactor_schema (version INTEGER NOT NULL);

CREATE TABLE twofactor_users (
    user_id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    required INTEGER NOT NULL,
    recovery_generation INTEGER NOT NULL,
    recovery TEXT,
    last_step INTEGER,
    drift INTEGER NOT NULL,
    last_used_at INTEGER,
    recovery_used INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    last_failure_at INTEGER
);

CREATE INDEX twofactor_users_status ON twofactor_users (status, user_id);

INSERT INTO twofactor_schema (version) VALUES (1);
