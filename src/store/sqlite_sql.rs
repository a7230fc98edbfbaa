//! The SQLite dialect, written once for the drivers that speak it: `SqliteStore` (rusqlite, on
//! connections it opens itself) and `SqlxSqliteStore` (sqlx, on the application's
//! `SqlitePool`).
//!
//! [`SqliteTables`] holds the table names a store uses and the text of every statement on them;
//! each statement comes out as a [`Statement`]: its text and its parameters, in order, already
//! mapped to SQL values. [`read_user`] reads a row back; [`inserted`], [`replaced`],
//! [`settled`], [`reset`] and [`deleted`] turn a statement's result into the
//! [`SecretStore`](super::SecretStore) outcome ([`Outcome`] when it takes a primary-key read to
//! tell). A driver only runs statements and reads columns, so the two drivers store the same
//! layout and mean the same by it, and can open one database file together: both migrate in an
//! immediate transaction.
//!
//! # Why each operation is atomic
//!
//! Every [`SecretStore`](super::SecretStore) operation is one SQL statement, run in autocommit
//! mode (the stores never open a transaction around one), so it commits whole or has no effect;
//! and each conditional operation carries its condition in its `WHERE` clause (`last_step <
//! ?2`, `(recovery_used & ?3) = 0`, `failures = ?5`, `version = ?2`).
//!
//! - **Writers are serialised and see each other.** SQLite admits one writer per database: a
//!   writing statement runs in its own implicit transaction, which takes the database's write
//!   lock before it reads anything and holds it until it commits. In WAL mode a write
//!   transaction can only start on the newest snapshot, so the statement reads the rows as the
//!   last writer committed them. Its `WHERE` clause is therefore evaluated on the newest row, and
//!   no other write comes between that test and its change: of two requests accepting step `s`,
//!   the second finds `last_step = s` and changes nothing; of two compare-and-swaps from version
//!   `v`, the second finds `v + 1`; a failure count is raised from each value once; a recovery
//!   code's bit is set once. This holds for any number of connections, pools, processes and
//!   drivers on one file, since the lock is the file's.
//! - **A code counts only on the record it was checked against.** Accepting a step and consuming
//!   a recovery code also carry `version = ?6`, the version the caller read: a `replace` in
//!   between (a new device, a reset, 2FA turned off) raised it, so the acceptance matches no row
//!   and the caller's re-read finds the new record, whose secret the code was not checked
//!   against. Versions never repeat for a user id: a new record starts at a random version
//!   (`new_record_version`, bound as a parameter of the `INSERT`), so a record erased and
//!   created again matches no write decided on the erased one. A step is also conditioned on
//!   the recovery generation read (`recovery_generation = ?7`; a recovery code already was), a
//!   second identity of the record, random for each one the flow creates. Failures are counted
//!   whatever the record.
//! - **A busy database.** A statement that cannot take the write lock waits in SQLite's busy
//!   handler for the connection's busy timeout, then fails with `SQLITE_BUSY` (or, between
//!   connections sharing a cache, `SQLITE_LOCKED`) before it has changed anything: its implicit
//!   transaction rolls back. So it may run again: the sqlx driver, whose connections are the
//!   application's (their busy timeout too), does so [`TRIES`] times at most with a short
//!   [`backoff`] ([`retryable`]); the rusqlite driver sets a 10 s busy timeout on its own
//!   connections and queues its process's writes on one connection, so it does not.
//! - **Inserts** rely on the primary key: `INSERT … ON CONFLICT (user_id) DO NOTHING` inserts no
//!   row for the second of two inserts of one user, which is reported as
//!   [`StoreError::Conflict`].
//! - **`replace`'s `SET` list**: SQLite evaluates every expression on the old row, so the
//!   used-code mask is kept or cleared by the *old* generation, and the last step's `CASE` only
//!   ever raises it. `RETURNING version` gives the new version in the same statement (SQLite
//!   makes every change of a `RETURNING` statement on its first step).
//! - **Outcomes** come from the count of rows the statement wrote (`sqlite3_changes`: every row
//!   its `WHERE` matched, changed values or not). A zero count is told apart (condition failed,
//!   or no such user) by a primary-key read after the statement ([`Outcome`]); that read decides
//!   nothing, since the statement had no effect.
//! - **Reads** (`get`, `list`, the read above) are single statements, each on a snapshot taken
//!   when it starts: they see every statement committed before, and in WAL mode they neither
//!   wait for the writer nor make it wait.
//! - **Pages.** `user_id` is `TEXT` under SQLite's default `BINARY` collation, which compares
//!   the UTF-8 bytes: the order of Rust's `str`, so `list`'s keyset `user_id > ?1` on the primary
//!   key returns each user once across pages.
//! - **Integers.** SQL integers are signed: `u64` steps and times are stored through the
//!   order-preserving mapping of [`ordered_to_sql`], so "only if greater" holds over the whole
//!   range; versions, generations and the used-code mask are stored as their bits.
//! - **Migrations** run in one `BEGIN IMMEDIATE` transaction, which takes the write lock before
//!   it reads the recorded version: of stores (of either driver, in any process) opening one file
//!   together, one creates the tables and the others find them.

use std::sync::Arc;

use super::sql::{SCHEMA_VERSION, ordered_to_sql};
use super::sql_statement::{AttemptSql, bits, from_bits, insert_statement};
pub(crate) use super::sql_statement::{Columns, Param, Statement, column_error, read_user};
use super::{Attempt, ColdFields, ListFilter, ReplaceEffects, StoreError};

/// The SQLite schema, version 1, with the default table names, as shipped in
/// `migrations/sqlite/`: what both SQLite stores' `migrate` runs (with the configured names). An application whose own migration tool owns the
/// schema applies this text and builds `SqlxSqliteStore` with `check_schema()` instead of
/// `migrate()`.
///
/// `user_id` sorts bytewise (SQLite's default `BINARY` collation): `list` pages by it with a
/// keyset predicate on the primary key. The `(status, user_id)` index serves the status filters.
pub const SQLITE_MIGRATION_0001: &str = include_str!("../../migrations/sqlite/0001_twofactor.sql");

/// The users table's default name, and its name in [`SQLITE_MIGRATION_0001`].
const DEFAULT_TABLE: &str = "twofactor_users";

/// The schema-version table's name beside the default users table (for another users table
/// `<name>`, it is `<name>_schema`).
const DEFAULT_SCHEMA_TABLE: &str = "twofactor_schema";

/// The longest users table name: the PostgreSQL stores' limit, so that one name suits every
/// store.
const MAX_TABLE_NAME: usize = 56;

/// The columns of a user row, in the order [`read_user`] expects.
const COLUMNS: &str = "user_id, version, status, state, required, recovery_generation, recovery, \
     last_step, drift, last_used_at, recovery_used, failures, last_failure_at";

/// How many times the sqlx driver runs a statement that fails with a [`retryable`] error.
#[cfg(feature = "sqlx-sqlite")]
pub(crate) const TRIES: u32 = 4;

/// Whether a statement that failed with the (extended) result code `code` had no effect and may
/// run again: any `SQLITE_BUSY` (5) or `SQLITE_LOCKED` (6) (see the module docs).
#[cfg(feature = "sqlx-sqlite")]
pub(crate) fn retryable(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6)
}

/// How long to wait before try `tries + 1`: 2 ms, doubling.
#[cfg(feature = "sqlx-sqlite")]
pub(crate) fn backoff(tries: u32) -> std::time::Duration {
    std::time::Duration::from_millis(2u64 << tries.saturating_sub(1).min(8))
}

/// The tables a store uses, and the text of every statement on them.
#[derive(Clone)]
pub(crate) struct SqliteTables(Arc<Texts>);

struct Texts {
    /// The users table.
    table: String,
    create_version_table: String,
    version: String,
    #[cfg(feature = "sqlx-sqlite")]
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

impl Default for SqliteTables {
    fn default() -> Self {
        SqliteTables::named(DEFAULT_TABLE)
    }
}

impl core::fmt::Debug for SqliteTables {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0.table)
    }
}

/// Whether `name` is a safe table name: 1 to 56 of `a-z`, `0-9`, `_`, starting with a letter
/// (so it needs no quoting and cannot inject SQL), as for the PostgreSQL stores; and not in
/// SQLite's reserved `sqlite_` namespace.
fn valid_table_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TABLE_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with("sqlite_")
}

impl SqliteTables {
    /// The users table's name.
    pub(crate) fn table(&self) -> &str {
        &self.0.table
    }

    /// With the users table named `table`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] unless the name is 1 to 56 of `a-z`, `0-9`, `_`, starting with a
    /// letter, and does not start with `sqlite_`.
    pub(crate) fn with_table_name(table: &str) -> Result<SqliteTables, StoreError> {
        if !valid_table_name(table) {
            return Err(StoreError::Corrupt("invalid table name"));
        }
        Ok(SqliteTables::named(table))
    }

    /// Every statement for this (validated) name.
    fn named(table: &str) -> SqliteTables {
        let schema_table = if table == DEFAULT_TABLE {
            DEFAULT_SCHEMA_TABLE.to_owned()
        } else {
            format!("{table}_schema")
        };
        // Placeholders first, so that a configured name containing a default one is not
        // replaced twice.
        let migration = SQLITE_MIGRATION_0001
            .replace("twofactor_users_status", "\u{0}1")
            .replace(DEFAULT_TABLE, "\u{0}2")
            .replace(DEFAULT_SCHEMA_TABLE, "\u{0}3")
            .replace("\u{0}1", &format!("{table}_status"))
            .replace("\u{0}2", table)
            .replace("\u{0}3", &schema_table);
        // Two statements rather than `(?1 IS NULL OR user_id > ?1)`, which the planner cannot
        // turn into a range on the primary key: a page costs the same wherever it starts.
        let list = |keyset: &str, condition: &str| {
            format!(
                "SELECT {COLUMNS} FROM {table}
                 WHERE {keyset} {condition}
                 ORDER BY user_id LIMIT ?2"
            )
        };
        let lists = |keyset: &str| {
            [
                list(keyset, ""),
                list(keyset, "AND status = 'active'"),
                list(keyset, "AND status <> 'active'"),
            ]
        };
        SqliteTables(Arc::new(Texts {
            create_version_table: format!(
                "CREATE TABLE IF NOT EXISTS {schema_table} (version INTEGER NOT NULL)"
            ),
            version: format!("SELECT MAX(version) FROM {schema_table}"),
            // The name is a validated identifier, so it is safe as a literal.
            #[cfg(feature = "sqlx-sqlite")]
            schema_exists: format!(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '{schema_table}'"
            ),
            migration,
            get: format!("SELECT {COLUMNS} FROM {table} WHERE user_id = ?1"),
            exists: format!("SELECT 1 FROM {table} WHERE user_id = ?1"),
            insert: format!(
                "INSERT INTO {table} (user_id, version, status, state, required,
                    recovery_generation, recovery, last_step, drift, last_used_at, recovery_used,
                    failures, last_failure_at)
                 VALUES (?1, ?7, ?2, ?3, ?4, ?5, ?6, NULL, 0, NULL, 0, 0, NULL)
                 ON CONFLICT (user_id) DO NOTHING"
            ),
            // SET expressions all see the old row, so the mask test uses the old generation.
            replace: format!(
                "UPDATE {table} SET
                    version = version + 1,
                    status = ?3, state = ?4, required = ?5,
                    recovery_used = CASE WHEN recovery_generation = ?6
                                         THEN recovery_used ELSE 0 END,
                    recovery_generation = ?6, recovery = ?7,
                    last_step = CASE WHEN ?8 IS NULL THEN last_step
                                     WHEN last_step IS NULL OR last_step < ?8 THEN ?8
                                     ELSE last_step END,
                    drift = CASE WHEN ?8 IS NULL THEN drift ELSE ?9 END,
                    failures = CASE WHEN ?10 THEN 0 ELSE failures END,
                    last_failure_at = CASE WHEN ?10 THEN NULL ELSE last_failure_at END
                 WHERE user_id = ?1 AND version = ?2
                 RETURNING version"
            ),
            accept_step: format!(
                "UPDATE {table} SET last_step = ?2, drift = ?3, last_used_at = ?4,
                    failures = 0, last_failure_at = NULL
                 WHERE user_id = ?1 AND failures = ?5 AND version = ?6
                   AND recovery_generation = ?7 AND (last_step IS NULL OR last_step < ?2)"
            ),
            consume_code: format!(
                "UPDATE {table}
                 SET recovery_used = recovery_used | ?3, last_used_at = ?4,
                     failures = 0, last_failure_at = NULL
                 WHERE user_id = ?1 AND recovery_generation = ?2
                   AND (recovery_used & ?3) = 0 AND failures = ?5 AND version = ?6"
            ),
            fail_attempt: format!(
                "UPDATE {table} SET failures = failures + 1, last_failure_at = ?3
                 WHERE user_id = ?1 AND failures = ?2"
            ),
            reset_failures: format!(
                "UPDATE {table} SET failures = 0, last_failure_at = NULL WHERE user_id = ?1"
            ),
            delete: format!("DELETE FROM {table} WHERE user_id = ?1"),
            list: [lists("?1 IS NULL"), lists("user_id > ?1")],
            table: table.to_owned(),
        }))
    }

    /// Creates the schema-version table if it is missing (the first step of a migration, so
    /// that [`SqliteTables::version`] can run).
    pub(crate) fn create_version_table(&self) -> &str {
        &self.0.create_version_table
    }

    /// Reads the recorded schema version: one row, one nullable `INTEGER` (`NULL`: none).
    pub(crate) fn version(&self) -> &str {
        &self.0.version
    }

    /// Whether the schema-version table exists: one row, one `INTEGER` (0: no).
    #[cfg(feature = "sqlx-sqlite")]
    pub(crate) fn schema_exists(&self) -> &str {
        &self.0.schema_exists
    }

    /// [`SQLITE_MIGRATION_0001`] with these names (several statements: run it as a batch).
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

    /// Deletes a record; one row written if there was one ([`deleted`]).
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

/// An operation's outcome as far as its statement's result decides it: when the statement wrote
/// nothing, whether the user has a record tells a lost condition from a missing user.
#[must_use]
pub(crate) enum Outcome<T> {
    /// Decided by the statement.
    Decided(T),
    /// The outcome if the user has a record; without one, [`StoreError::NotFound`].
    IfExists(Result<T, StoreError>),
}

impl<T> Outcome<T> {
    /// The outcome; `exists` (called only if it decides) reads whether the user has a record.
    #[cfg(any(test, feature = "sqlite"))]
    pub(crate) fn resolve(
        self,
        exists: impl FnOnce() -> Result<bool, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Outcome::Decided(outcome) => Ok(outcome),
            Outcome::IfExists(outcome) if exists()? => outcome,
            Outcome::IfExists(_) => Err(StoreError::NotFound),
        }
    }

    /// Like [`Outcome::resolve`], with `exists` a future (awaited only if it decides).
    #[cfg(feature = "sqlx-sqlite")]
    pub(crate) async fn resolve_async(
        self,
        exists: impl core::future::Future<Output = Result<bool, StoreError>>,
    ) -> Result<T, StoreError> {
        match self {
            Outcome::Decided(outcome) => Ok(outcome),
            Outcome::IfExists(outcome) if exists.await? => outcome,
            Outcome::IfExists(_) => Err(StoreError::NotFound),
        }
    }
}

/// [`SecretStore::insert`](super::SecretStore::insert)'s outcome from the rows
/// [`SqliteTables::insert`] wrote.
pub(crate) fn inserted(rows: u64, version: u64) -> Result<u64, StoreError> {
    if rows == 1 {
        Ok(version)
    } else {
        Err(StoreError::Conflict)
    }
}

/// [`SecretStore::replace`](super::SecretStore::replace)'s outcome from the version
/// [`SqliteTables::replace`] returned, if it wrote.
pub(crate) fn replaced(version: Option<i64>) -> Outcome<u64> {
    match version {
        Some(version) => Outcome::Decided(from_bits(version)),
        None => Outcome::IfExists(Err(StoreError::Conflict)),
    }
}

/// [`SecretStore::settle_attempt`](super::SecretStore::settle_attempt)'s outcome from the rows
/// [`SqliteTables::settle_attempt`] wrote (0 when there was no statement).
pub(crate) fn settled(rows: u64) -> Outcome<bool> {
    if rows > 0 {
        Outcome::Decided(true)
    } else {
        Outcome::IfExists(Ok(false))
    }
}

/// [`SecretStore::reset_failures`](super::SecretStore::reset_failures)' outcome from the rows
/// [`SqliteTables::reset_failures`] wrote.
pub(crate) fn reset(rows: u64) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// [`SecretStore::delete`](super::SecretStore::delete)'s outcome from the rows
/// [`SqliteTables::delete`] wrote.
pub(crate) fn deleted(rows: u64) -> bool {
    rows == 1
}

/// Whether a migration that found recorded version `found` (`None`: none) must run
/// [`SqliteTables::migration`].
///
/// # Errors
/// [`StoreError::Schema`] if the schema is newer than this crate.
pub(crate) fn migration_needed(found: Option<i64>) -> Result<bool, StoreError> {
    let found = found.unwrap_or(0);
    if found > SCHEMA_VERSION {
        Err(schema_error(Some(found)))
    } else {
        Ok(found < 1)
    }
}

/// `check_schema`'s verdict on the recorded version `found` (`None` without a version table or
/// a recorded version).
///
/// # Errors
/// [`StoreError::Schema`] unless the schema is at this crate's version.
#[cfg(feature = "sqlx-sqlite")]
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
        let tables = SqliteTables::with_table_name("auth_users").unwrap();
        assert_eq!(tables.table(), "auth_users");
        let migration = tables.migration();
        assert!(migration.contains("CREATE TABLE auth_users ("));
        assert!(migration.contains("CREATE TABLE IF NOT EXISTS auth_users_schema ("));
        assert!(migration.contains("INSERT INTO auth_users_schema "));
        assert!(migration.contains("INDEX auth_users_status ON auth_users "));
        assert!(!migration.contains("twofactor_"));
        assert!(tables.version().ends_with(" auth_users_schema"));
        #[cfg(feature = "sqlx-sqlite")]
        assert!(tables.schema_exists().ends_with("'auth_users_schema'"));
        assert!(
            tables
                .create_version_table()
                .contains(" auth_users_schema ")
        );
        let user = ColdFields::new(StoredStatus::Active, String::new());
        let mut statements = vec![
            tables.get("u"),
            tables.exists("u"),
            tables.insert("u", 1, &user),
            tables.replace("u", 1, &user, ReplaceEffects::default()),
            tables.reset_failures("u"),
            tables.delete("u"),
        ];
        for filter in [ListFilter::All, ListFilter::Active, ListFilter::NotActive] {
            statements.push(tables.list(filter, Some("u"), 10));
            statements.push(tables.list(filter, None, 10));
        }
        for attempt in [
            Attempt::Failed,
            Attempt::AcceptStep {
                step: 1,
                drift: 0,
                version: 1,
                generation: 1,
            },
            Attempt::ConsumeRecoveryCode {
                generation: 1,
                index: 63,
                version: 1,
            },
        ] {
            statements.extend(tables.settle_attempt("u", 0, attempt, 1));
        }
        for statement in statements {
            assert!(
                statement.sql.split_whitespace().any(|w| w == "auth_users"),
                "{}",
                statement.sql
            );
            // Every parameter is used, and no other (`?N` only: SQLite numbers `$N` by first
            // appearance, not by N).
            let used = (1..=statement.params.len())
                .filter(|i| statement.sql.contains(&format!("?{i}")))
                .count();
            assert_eq!(used, statement.params.len(), "{}", statement.sql);
            let next = format!("?{}", statement.params.len() + 1);
            assert!(!statement.sql.contains(&next), "{}", statement.sql);
            assert!(!statement.sql.contains('$'), "{}", statement.sql);
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
    fn the_default_names_are_the_shipped_migration() {
        let tables = SqliteTables::default();
        assert_eq!(tables.table(), "twofactor_users");
        assert_eq!(tables.migration(), SQLITE_MIGRATION_0001);
        assert!(tables.version().ends_with(" twofactor_schema"));
    }

    #[test]
    fn names_are_validated() {
        for bad in [
            "",
            "1abc",
            "UPPER",
            "a-b",
            "x; DROP TABLE y",
            "sqlite_users",
            &"a".repeat(57),
        ] {
            assert!(SqliteTables::with_table_name(bad).is_err(), "{bad}");
        }
        for good in [
            "a",
            "auth_users",
            "sqlite",
            "twofactor_users",
            &"a".repeat(56),
        ] {
            assert!(SqliteTables::with_table_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn outcomes() {
        let missing = || Ok(false);
        let there = || Ok(true);
        assert!(matches!(replaced(Some(3)).resolve(missing), Ok(3)));
        assert!(matches!(
            replaced(None).resolve(there),
            Err(StoreError::Conflict)
        ));
        assert!(matches!(
            replaced(None).resolve(missing),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(settled(1).resolve(missing), Ok(true)));
        assert!(matches!(settled(0).resolve(there), Ok(false)));
        assert!(matches!(
            settled(0).resolve(missing),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(inserted(0, 7), Err(StoreError::Conflict)));
        assert!(matches!(inserted(1, 7), Ok(7)));
        assert!(matches!(reset(0), Err(StoreError::NotFound)));
        assert!(deleted(1) && !deleted(0));
        assert!(matches!(migration_needed(None), Ok(true)));
        assert!(matches!(migration_needed(Some(1)), Ok(false)));
        assert!(matches!(
            migration_needed(Some(2)),
            Err(StoreError::Schema {
                found: Some(2),
                expected: 1
            })
        ));
    }

    #[cfg(feature = "sqlx-sqlite")]
    #[test]
    fn busy_and_locked_are_retryable() {
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE.
        for code in [5, 6, 517, 262] {
            assert!(retryable(code), "{code}");
        }
        // SQLITE_ERROR, SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_READONLY, SQLITE_IOERR.
        for code in [1, 1555, 8, 10] {
            assert!(!retryable(code), "{code}");
        }
        assert_eq!(backoff(1).as_millis(), 2);
        assert_eq!(backoff(3).as_millis(), 8);
        assert!(backoff(u32::MAX).as_millis() <= 512);
    }
}
