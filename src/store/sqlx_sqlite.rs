//! A SQLite store on the application's sqlx pool.
//!
//! Its SQL, and why each statement is atomic, are in [`super::sqlite_sql`], shared with the
//! rusqlite driver: the two stores use the same tables and can open one database file together.

use core::future::Future;

use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Executor, Row, Sqlite, SqliteConnection, SqlitePool};

use super::sql_login::{LoginSql, RunSql};
use super::sqlite_sql::{
    self, Columns, Param, SqliteTables, Statement, TRIES, backoff, column_error, read_user,
};
use super::{
    Attempt, ColdFields, Decide, ListFilter, ReadSettled, ReplaceEffects, SecretStore, StoreError,
    StoredUser, settle_loop,
};

/// A [`SecretStore`] in SQLite through sqlx, on the application's own [`SqlitePool`].
///
/// - On the application's pool: [`SqlxSqliteStore::new`] takes the [`SqlitePool`] the service
///   already has, so 2FA adds no second set of connections to its database file.
/// - The schema is the application's to control: [`SqlxSqliteStore::migrate`] creates and
///   migrates it in one `BEGIN IMMEDIATE` transaction (stores opening the file together migrate
///   once); or apply [`SQLITE_MIGRATION_0001`](super::SQLITE_MIGRATION_0001) with your own tool
///   and call [`SqlxSqliteStore::check_schema`], which refuses a version mismatch with
///   [`StoreError::Schema`]. The table name is an option ([`SqlxSqliteStore::with_table_name`]).
/// - Each atomic operation is a single SQL statement whose `WHERE` clause carries the condition,
///   correct under concurrent use from any number of connections, pools and processes: SQLite
///   runs one writing statement at a time on a database, each on the newest committed rows, so
///   exactly one of two racing requests sees the condition hold.
/// - The same tables, statements and semantics as `SqliteStore` (feature `sqlite`): the two
///   drivers can open one file together (for example during a move from one to the other), and
///   an application can change driver without migrating data.
///
/// # The pool
///
/// SQLite admits one writer per database at a time: the pool's connections, other pools and
/// other processes on the file take turns, arbitrated by SQLite's locking. Build the pool as the
/// example does:
///
/// - **WAL journaling** (`journal_mode(SqliteJournalMode::Wal)`), so that reads neither wait for
///   the writer nor make it wait (sqlx leaves a file's journal mode as it is unless told);
/// - **a busy timeout** (`busy_timeout`, sqlx's default is 5 s): a connection that finds another
///   writing waits for it up to that long instead of failing at once.
///
/// A statement that still fails with `SQLITE_BUSY` or `SQLITE_LOCKED` had no effect: the store
/// runs it again after a backoff of a few milliseconds (4 runs at most), then reports
/// [`StoreError::Backend`]. The store needs autocommit statements on the pool's connections
/// (sqlx's default).
///
/// Unlike `SqliteStore`, this store does not queue its writes in-process: a sqlx statement
/// travels to its connection's worker thread and back, and letting several such round trips
/// overlap (SQLite still running one write at a time) measured faster than taking turns before
/// them.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// use std::time::Duration;
///
/// use sqlx::sqlite::{
///     SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
/// };
/// use twofactor::{SecretStore, SqlxSqliteStore};
///
/// # let dir = std::env::temp_dir().join(format!("twofactor-doc-sqlx-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// // The service's pool, built as it builds it: WAL and a busy timeout.
/// let options = SqliteConnectOptions::new()
///     .filename(dir.join("app.sqlite3"))
///     .create_if_missing(true)
///     .journal_mode(SqliteJournalMode::Wal)
///     .synchronous(SqliteSynchronous::Normal)
///     .busy_timeout(Duration::from_secs(10));
/// let pool = SqlitePoolOptions::new()
///     .max_connections(8)
///     .connect_with(options)
///     .await?;
/// let store = SqlxSqliteStore::new(pool);
/// store.migrate().await?; // or, if your migrations applied SQLITE_MIGRATION_0001: check_schema()
/// assert!(store.get("nobody").await?.is_none());
/// # store.pool().close().await;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SqlxSqliteStore {
    pool: SqlitePool,
    /// The tables, and every statement on them.
    tables: SqliteTables,
}

impl core::fmt::Debug for SqlxSqliteStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqlxSqliteStore")
            .field("table", &self.tables.table())
            .finish_non_exhaustive()
    }
}

impl SqlxSqliteStore {
    /// A store on the application's own pool, with the default tables (`twofactor_users` and
    /// `twofactor_schema`). Call [`SqlxSqliteStore::migrate`] (or apply
    /// [`SQLITE_MIGRATION_0001`](super::SQLITE_MIGRATION_0001) and call
    /// [`SqlxSqliteStore::check_schema`]) before use.
    pub fn new(pool: SqlitePool) -> SqlxSqliteStore {
        SqlxSqliteStore {
            pool,
            tables: SqliteTables::default(),
        }
    }

    /// The pool the store uses.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// With the users table named `table` (the version table is then `<table>_schema`).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a name that is not 1 to 56 of `a-z`, `0-9`, `_` starting with
    /// a letter (the PostgreSQL stores' rule), or that starts with SQLite's reserved `sqlite_`.
    pub fn with_table_name(mut self, table: &str) -> Result<SqlxSqliteStore, StoreError> {
        self.tables = SqliteTables::with_table_name(table)?;
        Ok(self)
    }

    /// Creates the tables or migrates them to this crate's version, in one `BEGIN IMMEDIATE`
    /// transaction: it takes the database's write lock before reading the recorded version, so
    /// stores opening the file together (of either driver, in any process) migrate once. Runs
    /// the text of [`SQLITE_MIGRATION_0001`](super::SQLITE_MIGRATION_0001) with the configured
    /// names. If this future is dropped midway, the transaction rolls back.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Schema`] if the schema is newer than this crate.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        retrying(|| self.try_migrate()).await?
    }

    /// One run of [`SqlxSqliteStore::migrate`]; the inner error is the schema's verdict.
    async fn try_migrate(&self) -> Result<Result<(), StoreError>, sqlx::Error> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Through the `Executor` methods on the connection: `RawSql::execute`'s future is not
        // provably `Send` with a borrowed connection.
        (&mut *tx)
            .execute(sqlx::raw_sql(self.tables.create_version_table()))
            .await?;
        let version: Option<i64> = sqlx::query_scalar(self.tables.version())
            .persistent(false)
            .fetch_one(&mut *tx)
            .await?;
        match sqlite_sql::migration_needed(version) {
            Ok(true) => {
                (&mut *tx)
                    .execute(sqlx::raw_sql(self.tables.migration()))
                    .await?;
            }
            Ok(false) => {}
            // Dropping the transaction rolls it back.
            Err(schema) => return Ok(Err(schema)),
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Checks, without changing anything, that the tables exist at this crate's schema
    /// version: for applications whose own migration tool applied
    /// [`SQLITE_MIGRATION_0001`](super::SQLITE_MIGRATION_0001), or whose tables another store
    /// (a `SqliteStore`, another server) migrated.
    ///
    /// # Errors
    /// [`StoreError::Schema`] naming the mismatch (no schema, an older or a newer version);
    /// [`StoreError::Backend`].
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        sqlite_sql::schema_checked(retrying(|| self.recorded_version()).await?)
    }

    /// The recorded schema version (`None` without a version table or a recorded version).
    async fn recorded_version(&self) -> Result<Option<i64>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        let tables: i64 = sqlx::query_scalar(self.tables.schema_exists())
            .persistent(false)
            .fetch_one(&mut *conn)
            .await?;
        if tables == 0 {
            return Ok(None);
        }
        sqlx::query_scalar(self.tables.version())
            .persistent(false)
            .fetch_one(&mut *conn)
            .await
    }

    /// Runs a writing statement, again if it failed with a [retryable](sqlite_sql::retryable)
    /// error; returns the rows it wrote.
    async fn write(&self, statement: &Statement<'_>) -> Result<u64, StoreError> {
        let done = retrying(move || bind(statement).execute(&self.pool)).await?;
        Ok(done.rows_affected())
    }

    /// Like [`SqlxSqliteStore::write`], returning the rows the statement returned.
    async fn write_returning(
        &self,
        statement: &Statement<'_>,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        retrying(move || bind(statement).fetch_all(&self.pool)).await
    }

    /// Runs a reading statement (again if it failed with a retryable error).
    async fn read(&self, statement: &Statement<'_>) -> Result<Vec<SqliteRow>, StoreError> {
        retrying(move || bind(statement).fetch_all(&self.pool)).await
    }

    /// Whether the user has a record.
    async fn exists(&self, user_id: &str) -> Result<bool, StoreError> {
        Ok(!self.read(&self.tables.exists(user_id)).await?.is_empty())
    }
}

/// Runs `run` until it succeeds, fails with an error that is not
/// [retryable](sqlite_sql::retryable), or has run [`TRIES`] times, waiting [`backoff`] between
/// runs.
async fn retrying<T, F, Fut>(mut run: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut tries = 1;
    loop {
        match run().await {
            Err(e) if again(&e, &mut tries).await => {}
            done => return done.map_err(StoreError::backend),
        }
    }
}

/// Whether a statement that failed with `e` on its `tries`-th run runs again: if the error is
/// [retryable](sqlite_sql::retryable) and it ran fewer than [`TRIES`] times, after waiting
/// [`backoff`] (and counting the run).
async fn again(e: &sqlx::Error, tries: &mut u32) -> bool {
    if *tries < TRIES && retryable(e) {
        tokio::time::sleep(backoff(*tries)).await;
        *tries += 1;
        true
    } else {
        false
    }
}

/// A connection held for one operation, each statement run again as [`retrying`] runs it.
impl RunSql for &mut SqliteConnection {
    type Row = SqliteRow;

    async fn read(&mut self, statement: &Statement<'_>) -> Result<Vec<SqliteRow>, StoreError> {
        let mut tries = 1;
        loop {
            match bind(statement).fetch_all(&mut **self).await {
                Err(e) if again(&e, &mut tries).await => {}
                done => return done.map_err(StoreError::backend),
            }
        }
    }

    async fn write(&mut self, statement: &Statement<'_>) -> Result<u64, StoreError> {
        let mut tries = 1;
        loop {
            match bind(statement).execute(&mut **self).await {
                Err(e) if again(&e, &mut tries).await => {}
                done => return Ok(done.map_err(StoreError::backend)?.rows_affected()),
            }
        }
    }
}

/// Whether the statement failed with an error that left no effect and may be run again.
fn retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(sqlite_sql::retryable),
        _ => false,
    }
}

/// The statement with its parameters bound (prepared once per connection by sqlx's statement
/// cache).
fn bind<'q>(statement: &Statement<'q>) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    let mut query = sqlx::query(statement.sql);
    for param in &statement.params {
        query = match *param {
            Param::Text(v) => query.bind(v),
            Param::OptText(v) => query.bind(v),
            Param::Int(v) => query.bind(v),
            Param::OptInt(v) => query.bind(v),
            Param::Bool(v) => query.bind(v),
        };
    }
    query
}

impl Columns for SqliteRow {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.try_get(i).map_err(column_error)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.try_get(i).map_err(column_error)
    }

    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.try_get(i).map_err(column_error)
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.try_get(i).map_err(column_error)
    }

    fn boolean(&self, i: usize) -> Result<bool, StoreError> {
        self.try_get(i).map_err(column_error)
    }
}

impl SecretStore for SqlxSqliteStore {
    async fn get(&self, user_id: &str) -> Result<Option<StoredUser>, StoreError> {
        let rows = self.read(&self.tables.get(user_id)).await?;
        rows.first().map(read_user).transpose()
    }

    async fn insert(&self, user_id: &str, cold: &ColdFields) -> Result<u64, StoreError> {
        let version = super::new_record_version()?;
        let statement = self.tables.insert(user_id, version, cold);
        sqlite_sql::inserted(self.write(&statement).await?, version)
    }

    async fn replace(
        &self,
        user_id: &str,
        expected_version: u64,
        cold: &ColdFields,
        effects: ReplaceEffects,
    ) -> Result<u64, StoreError> {
        let statement = self
            .tables
            .replace(user_id, expected_version, cold, effects);
        let rows = self.write_returning(&statement).await?;
        let version = rows.first().map(|row| row.int(0)).transpose()?;
        sqlite_sql::replaced(version)
            .resolve_async(self.exists(user_id))
            .await
    }

    async fn settle_attempt(
        &self,
        user_id: &str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> Result<bool, StoreError> {
        let statement = self
            .tables
            .settle_attempt(user_id, expected_failures, attempt, at);
        let rows = match statement {
            Some(statement) => self.write(&statement).await?,
            None => 0,
        };
        sqlite_sql::settled(rows)
            .resolve_async(self.exists(user_id))
            .await
    }

    /// One connection from the pool for the read and the write.
    async fn read_and_settle(
        &self,
        user_id: &str,
        at: u64,
        decide: &mut Decide<'_>,
    ) -> Result<ReadSettled, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::backend)?;
        settle_loop(self.tables.login_on(&mut *conn, user_id, at), decide).await
    }

    async fn reset_failures(&self, user_id: &str) -> Result<(), StoreError> {
        sqlite_sql::reset(self.write(&self.tables.reset_failures(user_id)).await?)
    }

    async fn delete(&self, user_id: &str) -> Result<bool, StoreError> {
        Ok(sqlite_sql::deleted(
            self.write(&self.tables.delete(user_id)).await?,
        ))
    }

    async fn list(
        &self,
        filter: ListFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredUser>, StoreError> {
        let rows = self.read(&self.tables.list(filter, after, limit)).await?;
        rows.iter().map(read_user).collect()
    }
}
