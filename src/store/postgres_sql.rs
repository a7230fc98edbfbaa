//! The PostgreSQL dialect, written once for the drivers that speak it: `PostgresStore`
//! (tokio-postgres on a deadpool pool) and `SqlxPostgresStore` (sqlx on a `PgPool`).
//!
//! [`PgTables`] holds the table names a store uses and the text of every statement on them;
//! each statement comes out as a [`Statement`]: its text and its parameters, in order, already
//! mapped to SQL values. [`read_user`] reads a row back; [`inserted`], [`replaced`],
//! [`settled`] and [`reset`] turn a statement's result into the
//! [`SecretStore`](super::SecretStore) outcome. A driver only runs statements and reads columns,
//! so the two drivers store the same layout and mean the same by it, and can serve one database
//! together: both migrate under the same advisory lock.
//!
//! # Why each operation is atomic
//!
//! Every [`SecretStore`](super::SecretStore) operation is one SQL statement, run in autocommit
//! mode on a connection of the pool (the stores never open a transaction around one), so it
//! commits whole or has no effect; and each conditional operation carries its condition in its
//! `WHERE` clause (`last_step < $2`, `(recovery_used & $3) = 0`, `failures = $5`,
//! `version = $2`).
//!
//! - **Writers on one row are serialised and see each other.** An `UPDATE … WHERE user_id = $1
//!   AND …` finds the row through the primary key and locks it. If a concurrent statement has
//!   changed the row and not yet committed, it waits for that statement's commit and then, at
//!   PostgreSQL's default READ COMMITTED level, evaluates its `WHERE` clause again on the newest
//!   row version (not on its snapshot). So of two requests accepting step `s`, the second finds
//!   `last_step = s` and changes nothing; of two compare-and-swaps from version `v`, the second
//!   finds `v + 1`; a failure count is raised from each value once; a recovery code's bit is set
//!   once. This holds for any number of processes, pools and drivers, since the lock is the
//!   server's.
//! - **A code counts only on the record it was checked against.** Accepting a step and consuming
//!   a recovery code also carry `version = $6`, the version the caller read: a `replace` in
//!   between (a new device, a reset, 2FA turned off) raised it, so the acceptance matches no row
//!   and the caller's re-read finds the new record, whose secret the code was not checked
//!   against. Versions never repeat for a user id: a new record starts at a random version
//!   (`new_record_version`, bound as a parameter of the `INSERT`), so a record erased and
//!   created again matches no write decided on the erased one. A step is also conditioned on
//!   the recovery generation read (`recovery_generation = $7`; a recovery code already was), a
//!   second identity of the record, random for each one the flow creates. Failures are counted
//!   whatever the record.
//! - **Stricter isolation, and deadlocks.** If the pool's sessions run at REPEATABLE READ or
//!   SERIALIZABLE (`default_transaction_isolation`), the second writer fails with
//!   `serialization_failure` (40001) instead of evaluating again; and the server may pick a
//!   statement as a `deadlock_detected` (40P01) victim in rare interleavings. Either way the
//!   statement was rolled back and had no effect, so the drivers run it again, [`TRIES`] times
//!   at most ([`retryable`]): the new run is a new transaction, whose snapshot holds the row the
//!   winner committed, so it decides on that row as READ COMMITTED would have.
//! - **Inserts** rely on the primary key: `INSERT … ON CONFLICT (user_id) DO NOTHING` inserts no
//!   row for the second of two inserts of one user (it waits for the first to commit), which is
//!   reported as [`StoreError::Conflict`].
//! - **`replace`'s `SET` list**: PostgreSQL evaluates every expression on the old row, so the
//!   used-code mask is kept or cleared by the *old* generation, and `GREATEST` (which ignores a
//!   `NULL`) only ever raises the last step. `RETURNING version` gives the new version in the
//!   same statement.
//! - **Outcomes** come from the count of rows the statement wrote (PostgreSQL counts every row
//!   its `WHERE` matched, changed values or not). A zero count is told apart (condition failed,
//!   or no such user) by a primary-key read after the statement; that read decides nothing,
//!   since the statement had no effect.
//! - **Reads** (`get`, `list`, the read above) are single statements, each on a snapshot taken
//!   when it starts: they see every statement committed before.
//! - **Pages.** `user_id` is `TEXT COLLATE "C"`: bytewise, the order of Rust's `str`, so `list`'s
//!   keyset `user_id > $1` on the primary key returns each user once across pages.
//! - **Integers.** SQL integers are signed: `u64` steps and times are stored through the
//!   order-preserving mapping of [`ordered_to_sql`], so "only if greater" holds over the whole
//!   range; versions, generations and the used-code mask are stored as their bits.
//! - **Migrations** run in one transaction holding the transaction-scoped advisory lock
//!   [`MIGRATION_LOCK`] (the same for both drivers), so servers starting together migrate once;
//!   the lock ends with the transaction, even if the migrating server dies.

use std::future::Future;
use std::sync::Arc;

use super::sql::{SCHEMA_VERSION, ordered_to_sql};
use super::sql_statement::{AttemptSql, bits, from_bits, insert_statement};
pub(crate) use super::sql_statement::{Columns, Param, Statement, column_error, read_user};
use super::{Attempt, ColdFields, ListFilter, ReplaceEffects, StoreError};

/// The schema, as shipped in `migrations/postgres/` for applications whose migration tool owns
/// the schema; the PostgreSQL stores' `migrate` runs the same text.
pub const POSTGRES_MIGRATION_0001: &str =
    include_str!("../../migrations/postgres/0001_twofactor.sql");

/// The users table's default name, and its name in the shipped migration.
pub(crate) const DEFAULT_TABLE: &str = "twofactor_users";

/// The schema-version table's name beside the default users table (for another users table
/// `<name>`, it is `<name>_schema`).
const DEFAULT_SCHEMA_TABLE: &str = "twofactor_schema";

/// The longest users table name: 63 characters less `_status` (the index), so both fit
/// PostgreSQL's identifiers.
const MAX_TABLE_NAME: usize = 56;

/// Takes the server-wide, transaction-scoped lock that serialises schema migrations.
pub(crate) const MIGRATION_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtext('twofactor schema migration'))";

/// How many times a statement runs when it fails with a [`retryable`] error.
pub(crate) const TRIES: u32 = 3;

/// The columns of a user row, in the order [`read_user`] expects.
const COLUMNS: &str = "user_id, version, status, state, required, recovery_generation, recovery, \
     last_step, drift, last_used_at, recovery_used, failures, last_failure_at";

/// Whether a statement that failed with SQLSTATE `code` had no effect and may run again:
/// `serialization_failure` and `deadlock_detected` (see the module docs).
pub(crate) fn retryable(code: &str) -> bool {
    matches!(code, "40001" | "40P01")
}

/// The tables a store uses, and the text of every statement on them.
#[derive(Clone)]
pub(crate) struct PgTables(Arc<Texts>);

struct Texts {
    /// The schema to create, if one is set.
    schema: Option<String>,
    /// The users table's bare name.
    bare_table: String,
    /// The users table, schema-qualified if a schema is set.
    table: String,
    create_schema: Option<String>,
    create_version_table: String,
    version: String,
    schema_exists: String,
    migration: String,
    get: String,
    exists: String,
    insert: String,
    replace: String,
    accept_step: String,
    consume_code: String,
    fail_attempt: String,
    reset_failures: String,
    delete: String,
    /// Indexed by `[after.is_some()][filter]`.
    list: [[String; 3]; 2],
}

impl Default for PgTables {
    fn default() -> Self {
        PgTables::named(None, DEFAULT_TABLE)
    }
}

/// Whether `name` is a safe SQL identifier: 1 to 63 of `a-z`, `0-9`, `_`, starting with a
/// letter (so it needs no quoting and cannot inject SQL).
fn valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl PgTables {
    /// The users table's qualified name.
    pub(crate) fn table(&self) -> &str {
        &self.0.table
    }

    /// With the tables in `schema`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] unless the name is 1 to 63 of `a-z`, `0-9`, `_`, starting with a
    /// letter.
    pub(crate) fn with_schema(&self, schema: &str) -> Result<PgTables, StoreError> {
        if !valid_identifier(schema) {
            return Err(StoreError::Corrupt("invalid schema name"));
        }
        Ok(PgTables::named(Some(schema), &self.0.bare_table))
    }

    /// With the users table named `table`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a name that is not a safe identifier, or longer than 56
    /// characters.
    pub(crate) fn with_table_name(&self, table: &str) -> Result<PgTables, StoreError> {
        if !valid_identifier(table) || table.len() > MAX_TABLE_NAME {
            return Err(StoreError::Corrupt("invalid table name"));
        }
        Ok(PgTables::named(self.0.schema.as_deref(), table))
    }

    /// Every statement for these (validated) names.
    fn named(schema: Option<&str>, bare_table: &str) -> PgTables {
        let prefix = schema.map_or_else(String::new, |s| format!("{s}."));
        let version_table = if bare_table == DEFAULT_TABLE {
            DEFAULT_SCHEMA_TABLE.to_owned()
        } else {
            format!("{bare_table}_schema")
        };
        let table = format!("{prefix}{bare_table}");
        let schema_table = format!("{prefix}{version_table}");
        // Placeholders first, so that a configured name containing a default one is not
        // replaced twice.
        let migration = POSTGRES_MIGRATION_0001
            .replace("twofactor_users_status", "\u{0}1")
            .replace(DEFAULT_TABLE, "\u{0}2")
            .replace(DEFAULT_SCHEMA_TABLE, "\u{0}3")
            .replace("\u{0}1", &format!("{bare_table}_status"))
            .replace("\u{0}2", &table)
            .replace("\u{0}3", &schema_table);
        // Two statements rather than `($1 IS NULL OR user_id > $1)`: the cached generic plan of
        // that form scans the index from its start; `user_id > $1` is a range on the primary
        // key, so a page costs the same wherever it starts.
        let list = |keyset: &str, condition: &str| {
            format!(
                "SELECT {COLUMNS} FROM {table} WHERE {keyset} {condition}
                 ORDER BY user_id LIMIT $2"
            )
        };
        let lists = |keyset: &str| {
            [
                list(keyset, ""),
                list(keyset, "AND status = 'active'"),
                list(keyset, "AND status <> 'active'"),
            ]
        };
        PgTables(Arc::new(Texts {
            schema: schema.map(str::to_owned),
            bare_table: bare_table.to_owned(),
            create_schema: schema.map(|s| format!("CREATE SCHEMA IF NOT EXISTS {s}")),
            create_version_table: format!(
                "CREATE TABLE IF NOT EXISTS {schema_table} (version BIGINT NOT NULL)"
            ),
            version: format!("SELECT MAX(version) FROM {schema_table}"),
            // The name is a validated identifier, so it is safe as a literal; an untyped literal
            // also suits `to_regclass`'s argument type on every server version.
            schema_exists: format!("SELECT to_regclass('{schema_table}')::TEXT"),
            migration,
            get: format!("SELECT {COLUMNS} FROM {table} WHERE user_id = $1"),
            exists: format!("SELECT 1 FROM {table} WHERE user_id = $1"),
            insert: format!(
                "INSERT INTO {table} (user_id, version, status, state, required,
                    recovery_generation, recovery, last_step, drift, last_used_at, recovery_used,
                    failures, last_failure_at)
                 VALUES ($1, $7, $2, $3, $4, $5, $6, NULL, 0, NULL, 0, 0, NULL)
                 ON CONFLICT (user_id) DO NOTHING"
            ),
            // SET expressions all see the old row, so the mask test uses the old generation.
            replace: format!(
                "UPDATE {table} SET
                    version = version + 1,
                    status = $3, state = $4, required = $5,
                    recovery_used = CASE WHEN recovery_generation = $6 THEN recovery_used
                                         ELSE 0 END,
                    recovery_generation = $6, recovery = $7,
                    last_step = CASE WHEN $8::BIGINT IS NULL THEN last_step
                                     ELSE GREATEST(last_step, $8::BIGINT) END,
                    drift = CASE WHEN $8::BIGINT IS NULL THEN drift ELSE $9 END,
                    failures = CASE WHEN $10 THEN 0 ELSE failures END,
                    last_failure_at = CASE WHEN $10 THEN NULL ELSE last_failure_at END
                 WHERE user_id = $1 AND version = $2
                 RETURNING version"
            ),
            accept_step: format!(
                "UPDATE {table} SET last_step = $2, drift = $3, last_used_at = $4,
                    failures = 0, last_failure_at = NULL
                 WHERE user_id = $1 AND failures = $5 AND version = $6
                   AND recovery_generation = $7 AND (last_step IS NULL OR last_step < $2)"
            ),
            consume_code: format!(
                "UPDATE {table} SET recovery_used = recovery_used | $3, last_used_at = $4,
                    failures = 0, last_failure_at = NULL
                 WHERE user_id = $1 AND recovery_generation = $2 AND (recovery_used & $3) = 0
                   AND failures = $5 AND version = $6"
            ),
            fail_attempt: format!(
                "UPDATE {table} SET failures = failures + 1, last_failure_at = $3
                 WHERE user_id = $1 AND failures = $2"
            ),
            reset_failures: format!(
                "UPDATE {table} SET failures = 0, last_failure_at = NULL WHERE user_id = $1"
            ),
            delete: format!("DELETE FROM {table} WHERE user_id = $1"),
            list: [lists("$1::TEXT IS NULL"), lists("user_id > $1")],
            table,
        }))
    }

    /// `CREATE SCHEMA IF NOT EXISTS`, if a schema is set.
    pub(crate) fn create_schema(&self) -> Option<&str> {
        self.0.create_schema.as_deref()
    }

    /// Creates the schema-version table if it is missing (the first step of a migration, so
    /// that [`PgTables::version`] can run).
    pub(crate) fn create_version_table(&self) -> &str {
        &self.0.create_version_table
    }

    /// Reads the recorded schema version: one row, one nullable `BIGINT` (`NULL`: none).
    pub(crate) fn version(&self) -> &str {
        &self.0.version
    }

    /// Whether the schema-version table exists: one row, one nullable `TEXT` (`NULL`: no).
    pub(crate) fn schema_exists(&self) -> &str {
        &self.0.schema_exists
    }

    /// [`POSTGRES_MIGRATION_0001`] with these names (several statements: run it as a batch).
    pub(crate) fn migration(&self) -> &str {
        &self.0.migration
    }

    /// A user's row ([`read_user`]), if any.
    pub(crate) fn get<'a>(&'a self, user_id: &'a str) -> Statement<'a> {
        Statement {
            sql: &self.0.get,
            params: vec![Param::Text(user_id)],
        }
    }

    /// A row if the user has a record.
    pub(crate) fn exists<'a>(&'a self, user_id: &'a str) -> Statement<'a> {
        Statement {
            sql: &self.0.exists,
            params: vec![Param::Text(user_id)],
        }
    }

    /// Creates a record; writes a row unless one exists ([`inserted`]).
    pub(crate) fn insert<'a>(
        &'a self,
        user_id: &'a str,
        version: u64,
        cold: &'a ColdFields,
    ) -> Statement<'a> {
        insert_statement(&self.0.insert, user_id, version, cold)
    }

    /// The compare-and-swap; returns the new version, if it wrote ([`replaced`]).
    pub(crate) fn replace<'a>(
        &'a self,
        user_id: &'a str,
        expected_version: u64,
        cold: &'a ColdFields,
        effects: ReplaceEffects,
    ) -> Statement<'a> {
        let (accept, drift) = match effects.accept_step {
            Some((step, drift)) => (Some(ordered_to_sql(step)), drift),
            None => (None, 0),
        };
        Statement {
            sql: &self.0.replace,
            params: vec![
                Param::Text(user_id),
                Param::Int(bits(expected_version)),
                Param::Text(cold.status.as_str()),
                Param::Text(&cold.state),
                Param::Bool(cold.required),
                Param::Int(bits(cold.recovery_generation)),
                Param::OptText(cold.recovery.as_deref()),
                Param::OptInt(accept),
                Param::Int(drift),
                Param::Bool(effects.reset_failures),
            ],
        }
    }

    /// Settles an attempt; writes the row if the attempt's conditions hold ([`settled`]).
    /// `None` when no statement can (a recovery code index of 64 or more has no bit).
    pub(crate) fn settle_attempt<'a>(
        &'a self,
        user_id: &'a str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> Option<Statement<'a>> {
        let texts = AttemptSql {
            failed: &self.0.fail_attempt,
            accept: &self.0.accept_step,
            consume: &self.0.consume_code,
        };
        texts.settle(user_id, expected_failures, attempt, at)
    }

    /// Resets the failure count; writes the row if there is one ([`reset`]).
    pub(crate) fn reset_failures<'a>(&'a self, user_id: &'a str) -> Statement<'a> {
        Statement {
            sql: &self.0.reset_failures,
            params: vec![Param::Text(user_id)],
        }
    }

    /// Deletes a record; one row written if there was one.
    pub(crate) fn delete<'a>(&'a self, user_id: &'a str) -> Statement<'a> {
        Statement {
            sql: &self.0.delete,
            params: vec![Param::Text(user_id)],
        }
    }

    /// A page of rows ([`read_user`]).
    pub(crate) fn list<'a>(
        &'a self,
        filter: ListFilter,
        after: Option<&'a str>,
        limit: usize,
    ) -> Statement<'a> {
        let filter = match filter {
            ListFilter::All => 0,
            ListFilter::Active => 1,
            ListFilter::NotActive => 2,
        };
        let [first_page, later_page] = &self.0.list;
        let texts = if after.is_some() {
            later_page
        } else {
            first_page
        };
        Statement {
            sql: &texts[filter],
            params: vec![
                Param::OptText(after),
                Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
            ],
        }
    }
}

/// [`SecretStore::insert`](super::SecretStore::insert)'s outcome from the rows
/// [`PgTables::insert`] wrote.
pub(crate) fn inserted(rows: u64, version: u64) -> Result<u64, StoreError> {
    if rows == 1 {
        Ok(version)
    } else {
        Err(StoreError::Conflict)
    }
}

/// [`SecretStore::replace`](super::SecretStore::replace)'s outcome from the version
/// [`PgTables::replace`] returned, if it wrote; `exists` (awaited only if it did not) reads
/// whether the user has a record.
pub(crate) async fn replaced(
    version: Option<i64>,
    exists: impl Future<Output = Result<bool, StoreError>>,
) -> Result<u64, StoreError> {
    match version {
        Some(version) => Ok(from_bits(version)),
        None if exists.await? => Err(StoreError::Conflict),
        None => Err(StoreError::NotFound),
    }
}

/// [`SecretStore::settle_attempt`](super::SecretStore::settle_attempt)'s outcome from the rows
/// [`PgTables::settle_attempt`] wrote (0 when there was no statement); `exists` as for
/// [`replaced`].
pub(crate) async fn settled(
    rows: u64,
    exists: impl Future<Output = Result<bool, StoreError>>,
) -> Result<bool, StoreError> {
    if rows > 0 {
        Ok(true)
    } else if exists.await? {
        Ok(false)
    } else {
        Err(StoreError::NotFound)
    }
}

/// [`SecretStore::reset_failures`](super::SecretStore::reset_failures)' outcome from the rows
/// [`PgTables::reset_failures`] wrote.
pub(crate) fn reset(rows: u64) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// Whether a migration that found recorded version `found` (0: none) must run
/// [`PgTables::migration`].
///
/// # Errors
/// [`StoreError::Schema`] if the schema is newer than this crate.
pub(crate) fn migration_needed(found: i64) -> Result<bool, StoreError> {
    if found > SCHEMA_VERSION {
        Err(schema_error(Some(found)))
    } else {
        Ok(found < 1)
    }
}

/// `check_schema`'s verdict: `found` is `None` without a version table, else the recorded
/// version (0: none).
///
/// # Errors
/// [`StoreError::Schema`] unless the schema is at this crate's version.
pub(crate) fn schema_checked(found: Option<i64>) -> Result<(), StoreError> {
    match found {
        Some(SCHEMA_VERSION) => Ok(()),
        None | Some(0) => Err(schema_error(None)),
        Some(v) => Err(schema_error(Some(v))),
    }
}

/// The error for a schema at `found` (none recorded: `None`) instead of this crate's version.
fn schema_error(found: Option<i64>) -> StoreError {
    StoreError::Schema {
        found: found.map(|v| u64::try_from(v).unwrap_or(0)),
        expected: SCHEMA_VERSION.unsigned_abs(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredStatus;

    #[test]
    fn configured_names_reach_every_statement() {
        let tables = PgTables::default()
            .with_table_name("auth_users")
            .unwrap()
            .with_schema("auth")
            .unwrap();
        assert_eq!(tables.table(), "auth.auth_users");
        let migration = tables.migration();
        assert!(migration.contains("CREATE TABLE auth.auth_users ("));
        assert!(migration.contains("auth.auth_users_schema"));
        assert!(migration.contains("INDEX auth_users_status ON auth.auth_users"));
        assert!(!migration.contains("twofactor_"));
        assert_eq!(
            tables.create_schema(),
            Some("CREATE SCHEMA IF NOT EXISTS auth")
        );
        assert!(tables.version().ends_with("auth.auth_users_schema"));
        let user = ColdFields::new(StoredStatus::Active, String::new());
        for statement in [
            tables.get("u"),
            tables.exists("u"),
            tables.insert("u", 1, &user),
            tables.replace("u", 1, &user, ReplaceEffects::default()),
            tables.reset_failures("u"),
            tables.delete("u"),
            tables.list(ListFilter::Active, Some("u"), 10),
            tables.list(ListFilter::All, None, 10),
        ] {
            assert!(
                statement.sql.contains("auth.auth_users "),
                "{}",
                statement.sql
            );
            let placeholders = (1..=statement.params.len())
                .filter(|i| statement.sql.contains(&format!("${i}")))
                .count();
            assert_eq!(placeholders, statement.params.len(), "{}", statement.sql);
        }
        assert!(
            tables
                .settle_attempt(
                    "u",
                    0,
                    Attempt::ConsumeRecoveryCode {
                        generation: 1,
                        index: 64,
                        version: 1,
                    },
                    1
                )
                .is_none()
        );
    }

    #[test]
    fn names_are_validated() {
        let tables = PgTables::default();
        for bad in [
            "",
            "1abc",
            "UPPER",
            "a-b",
            "x; DROP TABLE y",
            &"a".repeat(64),
        ] {
            assert!(tables.with_schema(bad).is_err(), "{bad}");
            assert!(tables.with_table_name(bad).is_err(), "{bad}");
        }
        assert!(tables.with_table_name(&"a".repeat(57)).is_err());
        assert!(tables.with_table_name(&"a".repeat(56)).is_ok());
        assert!(tables.with_schema(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn stored_bits_round_trip() {
        for x in [0, 1, 1 << 63, u64::MAX] {
            assert_eq!(from_bits(bits(x)), x);
        }
        assert_eq!(bits(u64::MAX), -1);
    }
}
