//! A MySQL / MariaDB store through sqlx, for applications running on many servers.
//!
//! # Why each operation is atomic
//!
//! Every [`SecretStore`] operation is one SQL statement, run in autocommit mode on a connection
//! of the application's pool (the store never opens a transaction), so it commits whole or has no
//! effect; and each conditional operation carries its condition in its `WHERE` clause
//! (`last_step < ?`, `(recovery_used & ?) = 0`, `failures = ?`, `version = ?`).
//!
//! - **Writers on one row are serialised and see each other.** InnoDB finds the row of an
//!   `UPDATE … WHERE user_id = ? AND …` through the primary key and takes an exclusive lock on it
//!   before it tests the rest of the `WHERE` clause; it tests it on the newest committed row
//!   version (a locking read), not on a REPEATABLE READ snapshot, which only plain `SELECT`s use.
//!   A second statement on the row waits for the first's lock, held until the first commits at
//!   its end, and then tests its condition on the row the first wrote. So of two requests
//!   accepting step `s`, the second finds `last_step = s` and changes nothing; of two
//!   compare-and-swaps from version `v`, the second finds `v + 1`; a failure count is raised
//!   from each value once; a recovery code's bit is set once. This holds for any number of
//!   processes and pools, since the lock is the server's.
//! - **A code counts only on the record it was checked against.** Accepting a step and consuming
//!   a recovery code also carry `version = ?`, the version the caller read: a `replace` in
//!   between (a new device, a reset, 2FA turned off) raised it, so the acceptance matches no row
//!   and the caller's re-read finds the new record, whose secret the code was not checked
//!   against. Versions never repeat for a user id: a new record starts at a random version
//!   (`new_record_version`, bound as a parameter of the `INSERT`), so a record erased and
//!   created again matches no write decided on the erased one. A step is also conditioned on
//!   the recovery generation read (`recovery_generation = ?`; a recovery code already was), a
//!   second identity of the record, random for each one the flow creates. Failures are counted
//!   whatever the record.
//! - **Inserts** rely on the primary key: of two inserts of one user, the second fails with a
//!   duplicate-key error, reported as [`StoreError::Conflict`].
//! - **Outcomes** come from the affected-row count. sqlx connects with `CLIENT_FOUND_ROWS`, so
//!   the count is of rows *matched*; without that flag MySQL counts rows *changed*. The two agree
//!   here: every conditional statement changes a column whenever its condition holds (the
//!   version rises, the step grows, an unset bit is set, the count rises). A zero count is told
//!   apart (condition failed, or no such user) by a primary-key read after the statement, as
//!   the PostgreSQL store does; that read decides nothing, since the statement had no effect.
//!   `reset_failures`, the one statement that can match a row without changing it, goes through
//!   the same read, so it is right under either count.
//! - **`replace`'s `SET` list** is ordered for MySQL's rule that single-table `UPDATE`
//!   assignments run left to right, each seeing the values assigned before it (PostgreSQL, and
//!   MariaDB with `SIMULTANEOUS_ASSIGNMENT`, let all of them see the old row instead): every
//!   expression reads only its own column or columns assigned after it, so it means the same
//!   under both rules. Above all, `recovery_used` is computed from the old `recovery_generation`
//!   before that column is overwritten.
//! - **Reads** (`get`, `list`, the read above) are consistent non-locking reads, each in its own
//!   autocommit snapshot taken when it starts: they see every statement committed before.
//! - **Deadlocks.** Single-row statements do not deadlock among themselves, but InnoDB can pick
//!   one as a victim in rare interleavings (such as a delete racing two inserts of one user). The
//!   victim's statement was rolled back and had no effect, so the store runs it again, a few
//!   times at most.
//!
//! The store needs MySQL's default autocommit mode on the pool's connections.

use std::sync::Arc;

use sqlx::mysql::{MySqlArguments, MySqlConnection, MySqlDatabaseError, MySqlRow};
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{Connection, Executor, MySql, MySqlPool, Row};

use super::{
    Attempt, ColdFields, Decide, ListFilter, ReadSettled, ReplaceEffects, SecretStore, SettleOn,
    StoreError, StoredStatus, StoredUser, settle_loop,
};

/// The schema, as shipped in `migrations/mysql/` for applications whose migration tool owns the
/// schema (`sqlx migrate`, refinery, Flyway, the `mysql` client); [`MySqlStore::migrate`] runs
/// the same text.
pub const MYSQL_MIGRATION_0001: &str = include_str!("../../migrations/mysql/0001_twofactor.sql");

/// The schema version [`MYSQL_MIGRATION_0001`] creates: the number of the newest file in
/// `migrations/mysql/`.
const SCHEMA_VERSION: u64 = 1;

/// The users table's name in the shipped migration, and the default.
const DEFAULT_TABLE: &str = "twofactor_users";

/// The longest table name: MySQL identifiers hold 64 characters, and the schema-version table
/// adds `_schema` (7) to the name.
const MAX_TABLE_NAME: usize = 64 - "_schema".len();

/// The longest user id, in bytes (the `user_id` column is `VARBINARY(255)`).
const MAX_USER_ID: usize = 255;

/// The server-wide named lock that serialises schema migrations (`GET_LOCK`), and how long a
/// migration waits for it.
const MIGRATION_LOCK: &str = "twofactor schema migration";
const MIGRATION_LOCK_WAIT_SECONDS: u32 = 60;

/// How many times a statement runs when InnoDB picks it as a deadlock victim.
const DEADLOCK_TRIES: u32 = 3;

/// `ER_LOCK_DEADLOCK` and `ER_NO_SUCH_TABLE`.
const ER_LOCK_DEADLOCK: u16 = 1213;
const ER_NO_SUCH_TABLE: u16 = 1146;

/// The columns of a user row, in the order [`read_user`] expects.
const COLUMNS: &str = "user_id, version, status, state, required, recovery_generation, recovery, \
     last_step, drift, last_used_at, recovery_used, failures, last_failure_at";

/// What this store refuses itself, reported as [`StoreError::Backend`].
#[derive(Debug, thiserror::Error)]
enum Refused {
    /// Longer than the column: a server outside strict SQL mode would silently truncate it, and
    /// two users could share a row.
    #[error("the user id is {0} bytes long; the MySQL store holds at most {MAX_USER_ID}")]
    UserIdTooLong(usize),
    /// Another server held the migration lock too long, or the server refused it.
    #[error(
        "could not take the schema migration lock (GET_LOCK) within \
         {MIGRATION_LOCK_WAIT_SECONDS} s; is another server migrating?"
    )]
    MigrationLock,
}

/// A [`SecretStore`] in MySQL or MariaDB (InnoDB tables), shared by every server of an
/// application.
///
/// - On the application's own sqlx pool: [`MySqlStore::new`] takes a [`MySqlPool`] built however
///   the service builds it (size and timeouts with `sqlx::mysql::MySqlPoolOptions`, TLS with
///   sqlx's TLS features and the URL's `ssl-mode`), so 2FA adds no second pool.
///   [`MySqlStore::connect`] builds a default pool from a URL and migrates.
/// - The schema is the application's to control: [`MySqlStore::migrate`] creates or migrates the
///   tables under a server-wide named lock (several servers may start at once); or apply
///   [`MYSQL_MIGRATION_0001`] (`migrations/mysql/`) with your own tool and call
///   [`MySqlStore::check_schema`], which refuses a version mismatch with
///   [`StoreError::Schema`]. The table name is an option.
/// - Each atomic operation is a single statement whose `WHERE` clause carries the condition,
///   correct under concurrent use from any number of processes at InnoDB's default REPEATABLE
///   READ isolation: a conditional `UPDATE` waits for a concurrent writer's row lock and tests
///   its condition on the row that writer committed, so exactly one of two racing requests sees
///   the condition hold.
/// - User ids are stored as bytes (`VARBINARY(255)`), compared and ordered bytewise; an id longer
///   than 255 bytes cannot be inserted.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use sqlx::mysql::MySqlPoolOptions;
/// use twofactor::{MySqlStore, SecretStore};
///
/// // The service's pool, built as it builds it.
/// let pool = MySqlPoolOptions::new()
///     .max_connections(16)
///     .connect("mysql://app@db.internal/app")
///     .await?;
/// let store = MySqlStore::new(pool).with_table_name("auth_second_factor")?;
/// store.migrate().await?; // or, if your migrations applied migrations/mysql/: check_schema()
/// assert!(store.get("nobody").await?.is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
    /// The users table's name (validated, so safe to put in SQL text).
    table: String,
    /// The text of the statements a login runs, on that table: made once, not per call.
    sql: Arc<LoginTexts>,
}

/// The statements a login runs (and the existence check that tells a lost write from a missing
/// user), on one users table.
struct LoginTexts {
    get: String,
    exists: String,
    accept: String,
    consume: String,
    fail: String,
}

impl LoginTexts {
    fn on(table: &str) -> Arc<LoginTexts> {
        Arc::new(LoginTexts {
            get: format!("SELECT {COLUMNS} FROM `{table}` WHERE user_id = ?"),
            exists: format!("SELECT 1 FROM `{table}` WHERE user_id = ?"),
            accept: format!(
                "UPDATE `{table}` SET last_step = ?, drift = ?, last_used_at = ?,
                    failures = 0, last_failure_at = NULL
                 WHERE user_id = ? AND failures = ? AND version = ? AND recovery_generation = ?
                   AND (last_step IS NULL OR last_step < ?)"
            ),
            consume: format!(
                "UPDATE `{table}` SET recovery_used = recovery_used | ?, last_used_at = ?,
                    failures = 0, last_failure_at = NULL
                 WHERE user_id = ? AND recovery_generation = ? AND (recovery_used & ?) = 0
                   AND failures = ? AND version = ?"
            ),
            fail: format!(
                "UPDATE `{table}` SET failures = failures + 1, last_failure_at = ?
                 WHERE user_id = ? AND failures = ?"
            ),
        })
    }
}

impl core::fmt::Debug for MySqlStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MySqlStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl MySqlStore {
    /// A store on the application's own pool, with the default table names (`twofactor_users`
    /// and `twofactor_users_schema`) in the pool's database. Call [`MySqlStore::migrate`] (or
    /// apply the shipped migration and call [`MySqlStore::check_schema`]) before use.
    pub fn new(pool: MySqlPool) -> MySqlStore {
        MySqlStore {
            pool,
            table: DEFAULT_TABLE.to_owned(),
            sql: LoginTexts::on(DEFAULT_TABLE),
        }
    }

    /// Connects to `url` (`mysql://user:password@host:port/database`) with sqlx's default pool
    /// options and migrates the tables. For pool size, timeouts or TLS, build the pool yourself
    /// and use [`MySqlStore::new`].
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the server is unreachable or the migration fails;
    /// [`StoreError::Schema`] if the schema is newer than this crate.
    pub async fn connect(url: &str) -> Result<MySqlStore, StoreError> {
        let pool = MySqlPool::connect(url).await.map_err(StoreError::backend)?;
        let store = MySqlStore::new(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// With the users table named `table`; the schema-version table is then `<table>_schema`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] unless the name is 1 to 57 of `a-z`, `0-9`, `_`, starting with a
    /// letter (so that it is safe in SQL text, and `<table>_schema` fits MySQL's 64 characters).
    pub fn with_table_name(mut self, table: &str) -> Result<MySqlStore, StoreError> {
        let valid = (1..=MAX_TABLE_NAME).contains(&table.len())
            && table.starts_with(|c: char| c.is_ascii_lowercase())
            && table
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(StoreError::Corrupt("invalid table name"));
        }
        self.table = table.to_owned();
        self.sql = LoginTexts::on(table);
        Ok(self)
    }

    /// The pool the store uses (the application's, or the one [`MySqlStore::connect`] built).
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Creates the tables or migrates them to this crate's schema version, running the text of
    /// [`MYSQL_MIGRATION_0001`] with this store's table names. Idempotent, and safe when several
    /// servers start at once: it holds the server-wide named lock `twofactor schema migration`
    /// (`GET_LOCK`) throughout, on a connection taken out of the pool and closed afterwards, so
    /// the lock is released even if this future is dropped midway.
    ///
    /// # Errors
    /// [`StoreError::Schema`] if the schema is newer than this crate; [`StoreError::Backend`].
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::backend)?
            .detach();
        let result = self.migrate_on(&mut conn).await;
        // Closing ends the session, which releases the lock; if closing fails the socket is
        // dropped, which ends it too.
        let _ = conn.close().await;
        result
    }

    async fn migrate_on(&self, conn: &mut MySqlConnection) -> Result<(), StoreError> {
        let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
            .bind(MIGRATION_LOCK)
            .bind(MIGRATION_LOCK_WAIT_SECONDS)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::backend)?;
        if locked != Some(1) {
            return Err(StoreError::backend(Refused::MigrationLock));
        }
        match schema_version(&mut *conn, &self.table).await? {
            Some(SCHEMA_VERSION) => Ok(()),
            Some(found) if found > SCHEMA_VERSION => Err(StoreError::Schema {
                found: Some(found),
                expected: SCHEMA_VERSION,
            }),
            // MySQL cannot roll DDL back, so the migration is written to be re-run: a run cut
            // short (a crash between two statements) is completed by the next.
            _ => {
                let sql = self.migration_sql();
                // Through the `Executor` method: `RawSql::execute`'s future is not provably
                // `Send` with a borrowed connection.
                conn.execute(sqlx::raw_sql(&sql))
                    .await
                    .map(|_| ())
                    .map_err(StoreError::backend)
            }
        }
    }

    /// Checks, without changing anything, that the tables are at this crate's schema version:
    /// for applications whose own migration tool applied `migrations/mysql/`.
    ///
    /// # Errors
    /// [`StoreError::Schema`] naming the mismatch (no version table or no version recorded, an
    /// older or a newer version); [`StoreError::Backend`].
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::backend)?;
        match schema_version(&mut conn, &self.table).await? {
            Some(SCHEMA_VERSION) => Ok(()),
            found => Err(StoreError::Schema {
                found,
                expected: SCHEMA_VERSION,
            }),
        }
    }

    /// The shipped migration with this store's table names. Only the two back-quoted table
    /// names are replaced, in one pass, so a configured name is never replaced again.
    fn migration_sql(&self) -> String {
        let schema_table = format!("{}_schema", self.table);
        MYSQL_MIGRATION_0001
            .split('`')
            .map(|part| match part {
                "twofactor_users" => self.table.as_str(),
                "twofactor_users_schema" => schema_table.as_str(),
                other => other,
            })
            .collect::<Vec<_>>()
            .join("`")
    }

    /// A connection from the pool, held for every statement of one operation.
    async fn conn(&self) -> Result<PoolConnection<MySql>, StoreError> {
        self.pool.acquire().await.map_err(StoreError::backend)
    }
}

/// Runs a write statement built by `make` on `conn`, running it again if InnoDB picked it as a
/// deadlock victim (it then had no effect); returns the affected-row count.
async fn execute<'q>(
    conn: &mut MySqlConnection,
    make: impl Fn() -> Query<'q, MySql, MySqlArguments>,
) -> Result<u64, sqlx::Error> {
    let mut tries = 1;
    loop {
        match make().execute(&mut *conn).await {
            Ok(done) => return Ok(done.rows_affected()),
            Err(e) if tries < DEADLOCK_TRIES && error_number(&e) == Some(ER_LOCK_DEADLOCK) => {
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads the user's row.
async fn get(
    conn: &mut MySqlConnection,
    sql: &LoginTexts,
    user_id: &str,
) -> Result<Option<StoredUser>, StoreError> {
    let row = sqlx::query(&sql.get)
        .bind(user_id.as_bytes())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::backend)?;
    row.as_ref().map(read_user).transpose()
}

async fn exists(
    conn: &mut MySqlConnection,
    sql: &LoginTexts,
    user_id: &str,
) -> Result<bool, StoreError> {
    let row = sqlx::query(&sql.exists)
        .bind(user_id.as_bytes())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::backend)?;
    Ok(row.is_some())
}

/// `Ok(true)` if the statement affected the row, `Ok(false)` if the user exists but the
/// condition failed, [`StoreError::NotFound`] if there is no such user.
async fn changed_or_missing(
    conn: &mut MySqlConnection,
    sql: &LoginTexts,
    user_id: &str,
    affected: u64,
) -> Result<bool, StoreError> {
    if affected > 0 {
        Ok(true)
    } else if exists(conn, sql, user_id).await? {
        Ok(false)
    } else {
        Err(StoreError::NotFound)
    }
}

/// A login's read and write on one connection of the pool ([`SecretStore::read_and_settle`]).
struct OneConnection<'a> {
    conn: &'a mut MySqlConnection,
    sql: &'a LoginTexts,
    user_id: &'a str,
    at: u64,
}

impl SettleOn for OneConnection<'_> {
    async fn read(&mut self) -> Result<Option<StoredUser>, StoreError> {
        get(self.conn, self.sql, self.user_id).await
    }

    async fn settle(
        &mut self,
        expected_failures: u32,
        attempt: Attempt,
    ) -> Result<bool, StoreError> {
        let affected = settle(
            self.conn,
            self.sql,
            self.user_id,
            expected_failures,
            attempt,
            self.at,
        )
        .await?;
        Ok(affected > 0)
    }
}

/// The schema version recorded in `<table>_schema`, or `None` if there is no such table or it
/// records none.
async fn schema_version(
    conn: &mut MySqlConnection,
    table: &str,
) -> Result<Option<u64>, StoreError> {
    let sql = format!("SELECT MAX(version) FROM `{table}_schema`");
    match sqlx::query_scalar::<_, Option<u64>>(&sql)
        .fetch_one(&mut *conn)
        .await
    {
        Ok(version) => Ok(version),
        Err(e) if error_number(&e) == Some(ER_NO_SUCH_TABLE) => Ok(None),
        Err(e) => Err(StoreError::backend(e)),
    }
}

/// The MySQL error number of a server error.
fn error_number(e: &sqlx::Error) -> Option<u16> {
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<MySqlDatabaseError>()
            .map(MySqlDatabaseError::number),
        _ => None,
    }
}

fn read_user(row: &MySqlRow) -> Result<StoredUser, StoreError> {
    // Text is read as bytes and checked here, whatever the columns' collations (sqlx refuses to
    // decode a `_bin` text column as a `String`).
    fn text(bytes: Vec<u8>) -> Result<String, StoreError> {
        String::from_utf8(bytes).map_err(|_| StoreError::Corrupt("text that is not UTF-8"))
    }
    let get_err = |_| StoreError::Corrupt("unexpected column type");
    let status = text(row.try_get(2).map_err(get_err)?)?;
    let failures: u64 = row.try_get(11).map_err(get_err)?;
    Ok(StoredUser {
        user_id: text(row.try_get(0).map_err(get_err)?)?,
        version: row.try_get(1).map_err(get_err)?,
        cold: ColdFields {
            status: StoredStatus::parse(&status)?,
            state: text(row.try_get(3).map_err(get_err)?)?,
            required: row.try_get(4).map_err(get_err)?,
            recovery_generation: row.try_get(5).map_err(get_err)?,
            recovery: row
                .try_get::<Option<Vec<u8>>, _>(6)
                .map_err(get_err)?
                .map(text)
                .transpose()?,
        },
        last_step: row.try_get(7).map_err(get_err)?,
        drift: row.try_get(8).map_err(get_err)?,
        last_used_at: row.try_get(9).map_err(get_err)?,
        recovery_used: row.try_get(10).map_err(get_err)?,
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        last_failure_at: row.try_get(12).map_err(get_err)?,
    })
}

impl SecretStore for MySqlStore {
    async fn get(&self, user_id: &str) -> Result<Option<StoredUser>, StoreError> {
        get(&mut *self.conn().await?, &self.sql, user_id).await
    }

    async fn insert(&self, user_id: &str, cold: &ColdFields) -> Result<u64, StoreError> {
        if user_id.len() > MAX_USER_ID {
            return Err(StoreError::backend(Refused::UserIdTooLong(user_id.len())));
        }
        let sql = format!(
            "INSERT INTO `{}` (user_id, version, status, state, required, recovery_generation,
                recovery, last_step, drift, last_used_at, recovery_used, failures, last_failure_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL, 0, 0, NULL)",
            self.table
        );
        let version = super::new_record_version()?;
        let inserted = execute(&mut *self.conn().await?, || {
            sqlx::query(&sql)
                .bind(user_id.as_bytes())
                .bind(version)
                .bind(cold.status.as_str())
                .bind(cold.state.as_str())
                .bind(cold.required)
                .bind(cold.recovery_generation)
                .bind(cold.recovery.as_deref())
        })
        .await;
        match inserted {
            Ok(_) => Ok(version),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict),
            Err(e) => Err(StoreError::backend(e)),
        }
    }

    async fn replace(
        &self,
        user_id: &str,
        expected_version: u64,
        cold: &ColdFields,
        effects: ReplaceEffects,
    ) -> Result<u64, StoreError> {
        let (accept, drift) = match effects.accept_step {
            Some((step, drift)) => (Some(step), drift),
            None => (None, 0),
        };
        // MySQL runs these assignments left to right, each seeing the ones before it (see the
        // module docs): every expression reads only its own column or later ones. So the mask
        // is kept or cleared by the OLD generation, before `recovery_generation` is overwritten.
        let sql = format!(
            "UPDATE `{}` SET
                recovery_used = CASE WHEN recovery_generation = ? THEN recovery_used ELSE 0 END,
                recovery_generation = ?,
                version = version + 1,
                status = ?, state = ?, required = ?, recovery = ?,
                last_step = CASE WHEN ? IS NULL THEN last_step
                                 WHEN last_step IS NULL OR last_step < ? THEN ?
                                 ELSE last_step END,
                drift = CASE WHEN ? IS NULL THEN drift ELSE ? END,
                failures = CASE WHEN ? THEN 0 ELSE failures END,
                last_failure_at = CASE WHEN ? THEN NULL ELSE last_failure_at END
             WHERE user_id = ? AND version = ?",
            self.table
        );
        let mut conn = self.conn().await?;
        let affected = execute(&mut conn, || {
            sqlx::query(&sql)
                .bind(cold.recovery_generation)
                .bind(cold.recovery_generation)
                .bind(cold.status.as_str())
                .bind(cold.state.as_str())
                .bind(cold.required)
                .bind(cold.recovery.as_deref())
                .bind(accept)
                .bind(accept)
                .bind(accept)
                .bind(accept)
                .bind(drift)
                .bind(effects.reset_failures)
                .bind(effects.reset_failures)
                .bind(user_id.as_bytes())
                .bind(expected_version)
        })
        .await
        .map_err(StoreError::backend)?;
        if affected > 0 {
            // The row matched `version = expected_version` and now holds one more, which fit
            // in its BIGINT UNSIGNED column.
            Ok(expected_version.saturating_add(1))
        } else if exists(&mut conn, &self.sql, user_id).await? {
            Err(StoreError::Conflict)
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn settle_attempt(
        &self,
        user_id: &str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let affected = settle(
            &mut conn,
            &self.sql,
            user_id,
            expected_failures,
            attempt,
            at,
        )
        .await?;
        changed_or_missing(&mut conn, &self.sql, user_id, affected).await
    }

    /// One connection from the pool for the read and the write (sqlx tests each connection it
    /// hands out, by default with a round trip of its own).
    async fn read_and_settle(
        &self,
        user_id: &str,
        at: u64,
        decide: &mut Decide<'_>,
    ) -> Result<ReadSettled, StoreError> {
        let mut conn = self.conn().await?;
        let on = OneConnection {
            conn: &mut conn,
            sql: &self.sql,
            user_id,
            at,
        };
        settle_loop(on, decide).await
    }

    async fn reset_failures(&self, user_id: &str) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE `{}` SET failures = 0, last_failure_at = NULL WHERE user_id = ?",
            self.table
        );
        let mut conn = self.conn().await?;
        let affected = execute(&mut conn, || sqlx::query(&sql).bind(user_id.as_bytes()))
            .await
            .map_err(StoreError::backend)?;
        // Without CLIENT_FOUND_ROWS a row whose count is already zero reports 0 affected rows.
        changed_or_missing(&mut conn, &self.sql, user_id, affected)
            .await
            .map(|_| ())
    }

    async fn delete(&self, user_id: &str) -> Result<bool, StoreError> {
        let sql = format!("DELETE FROM `{}` WHERE user_id = ?", self.table);
        let affected = execute(&mut *self.conn().await?, || {
            sqlx::query(&sql).bind(user_id.as_bytes())
        })
        .await
        .map_err(StoreError::backend)?;
        Ok(affected == 1)
    }

    async fn list(
        &self,
        filter: ListFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredUser>, StoreError> {
        let status = match filter {
            ListFilter::All => "",
            ListFilter::Active => "AND status = 'active'",
            ListFilter::NotActive => "AND status <> 'active'",
        };
        // Two texts rather than `(? IS NULL OR user_id > ?)`, so the first page, too, is a
        // plain range scan of the primary key.
        let from = if after.is_some() {
            "user_id > ?"
        } else {
            "TRUE"
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM `{}` WHERE {from} {status} ORDER BY user_id LIMIT ?",
            self.table
        );
        let mut query = sqlx::query(&sql);
        if let Some(after) = after {
            query = query.bind(after.as_bytes());
        }
        let rows = query
            .bind(u64::try_from(limit).unwrap_or(u64::MAX))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(StoreError::backend)?;
        rows.iter().map(read_user).collect()
    }
}

/// Runs `attempt`'s conditional `UPDATE` (see [`SecretStore::settle_attempt`]) on `conn`;
/// returns the affected-row count (zero, with no statement, for a code index past the mask).
async fn settle(
    conn: &mut MySqlConnection,
    sql: &LoginTexts,
    user_id: &str,
    expected_failures: u32,
    attempt: Attempt,
    at: u64,
) -> Result<u64, StoreError> {
    let affected = match attempt {
        Attempt::AcceptStep {
            step,
            drift,
            version,
            generation,
        } => {
            execute(conn, || {
                sqlx::query(&sql.accept)
                    .bind(step)
                    .bind(drift)
                    .bind(at)
                    .bind(user_id.as_bytes())
                    .bind(expected_failures)
                    .bind(version)
                    .bind(generation)
                    .bind(step)
            })
            .await
        }
        Attempt::ConsumeRecoveryCode {
            generation,
            index,
            version,
        } => {
            let Some(bit) = 1u64.checked_shl(index) else {
                return Ok(0);
            };
            execute(conn, || {
                sqlx::query(&sql.consume)
                    .bind(bit)
                    .bind(at)
                    .bind(user_id.as_bytes())
                    .bind(generation)
                    .bind(bit)
                    .bind(expected_failures)
                    .bind(version)
            })
            .await
        }
        Attempt::Failed => {
            execute(conn, || {
                sqlx::query(&sql.fail)
                    .bind(at)
                    .bind(user_id.as_bytes())
                    .bind(expected_failures)
            })
            .await
        }
    };
    affected.map_err(StoreError::backend)
}
