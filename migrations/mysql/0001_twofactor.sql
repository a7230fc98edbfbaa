-- twofactor's MySQL / MariaDB schema, version 1. Apply it with your migration tool (`sqlx migrate`,
-- refinery, Flyway, the mysql client ...) and build the store with `MySqlStore::new(pool)`
-- followed by `check_schema()` instead of `migrate()`. `MySqlStore::migrate` runs this same text
-- (with the table names replaced when `with_table_name` chose others).
--
-- Every statement is idempotent, so applying the file again changes nothing (MySQL cannot roll
-- back DDL: a run cut short is completed by the next one).
--
-- user_id is VARBINARY: it sorts and compares bytewise, as `list`'s keyset pagination on the
-- primary key needs, and unlike a `_bin` text collation it does not ignore trailing spaces
-- ('a' and 'a ' are two users). The (status, user_id) index serves the status filters. The
-- unsigned columns hold the full u64 range of steps, times, versions and the used-code mask.
-- The text columns are utf8mb4 whatever the server's default character set.

CREATE TABLE IF NOT EXISTS `twofactor_users_schema` (
    version BIGINT UNSIGNED NOT NULL PRIMARY KEY
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS `twofactor_users` (
    user_id VARBINARY(255) NOT NULL PRIMARY KEY,
    version BIGINT UNSIGNED NOT NULL,
    status VARCHAR(16) NOT NULL,
    state MEDIUMTEXT NOT NULL,
    required BOOLEAN NOT NULL,
    recovery_generation BIGINT UNSIGNED NOT NULL,
    recovery MEDIUMTEXT NULL,
    last_step BIGINT UNSIGNED NULL,
    drift BIGINT NOT NULL,
    last_used_at BIGINT UNSIGNED NULL,
    recovery_used BIGINT UNSIGNED NOT NULL,
    failures BIGINT UNSIGNED NOT NULL,
    last_failure_at BIGINT UNSIGNED NULL,
    INDEX by_status (status, user_id)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

INSERT INTO `twofactor_users_schema` (version) VALUES (1) ON DUPLICATE KEY UPDATE version = version;
