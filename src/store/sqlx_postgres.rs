//! A PostgreSQL store on the application's sqlx pool, for applications running on many servers.
//!
//! Its SQL, and why each statement is atomic, are in [`super::postgres_sql`], shared with the
//! tokio-postgres driver: the two stores use the same tables and can share one database.

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Executor, PgConnection, PgPool, Postgres, Row};

use super::postgres_sql::{
    self, Columns, MIGRATION_LOCK, Param, PgTables, Statement, TRIES, column_error, read_user,
};
use super::sql_login::{LoginSql, RunSql};
use super::{
    Attempt, ColdFields, Decide, ListFilter, ReadSettled, ReplaceEffects, SecretStore, StoreError,
    StoredUser, settle_loop,
};

/// A [`SecretStore`] in PostgreSQL through sqlx, shared by every server of an application.
///
/// - On the application's own sqlx pool: [`SqlxPostgresStore::new`] takes a [`PgPool`] built
///   however the service builds it (size and timeouts with `sqlx::postgres::PgPoolOptions`, TLS
///   with sqlx's TLS features and the URL's `sslmode`), so 2FA adds no second pool.
///   [`SqlxPostgresStore::connect`] builds a default pool from a URL and migrates.
/// - The schema is the application's to control: [`SqlxPostgresStore::migrate`] creates and
///   migrates it under a transaction-scoped advisory lock (several servers may start at once);
///   or apply [`POSTGRES_MIGRATION_0001`](super::POSTGRES_MIGRATION_0001)
///   (`migrations/postgres/`) with your own tool (`sqlx migrate`, refinery, Flyway, `psql`) and
///   call [`SqlxPostgresStore::check_schema`], which refuses a version mismatch with
///   [`StoreError::Schema`]. Table name and schema are options.
/// - Each atomic operation is a single SQL statement whose `WHERE` clause carries the condition,
///   correct under concurrent use from any number of processes: at PostgreSQL's default READ
///   COMMITTED level a conditional `UPDATE` waits for a concurrent writer's row lock and tests
///   its condition again on the row that writer committed, so exactly one of two racing requests
///   sees the condition hold. A statement that fails with a serialization failure or a deadlock
///   (possible at stricter isolation levels) had no effect and runs again.
/// - The same tables, statements and semantics as `PostgresStore` (feature `postgres`), so
///   servers on either driver can share one database, and an application can move from one
///   driver to the other without migrating data.
///
/// The store needs autocommit statements on the pool's connections (sqlx's default).
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use sqlx::postgres::PgPoolOptions;
/// use twofactor::{SecretStore, SqlxPostgresStore};
///
/// // The service's pool, built as it builds it.
/// let pool = PgPoolOptions::new()
///     .max_connections(16)
///     .connect("postgres://app@db.internal/app")
///     .await?;
/// let store = SqlxPostgresStore::new(pool).with_schema("auth")?;
/// store.migrate().await?; // or, if your migrations applied migrations/postgres/: check_schema()
/// assert!(store.get("nobody").await?.is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqlxPostgresStore {
    pool: PgPool,
    /// The tables, and every statement on them.
    tables: PgTables,
}

impl core::fmt::Debug for SqlxPostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqlxPostgresStore")
            .field("table", &self.tables.table())
            .finish_non_exhaustive()
    }
}

impl SqlxPostgresStore {
    /// A store on the application's own pool, with the default tables (`twofactor_users` and
    /// `twofactor_schema`) in the connection's schema. Call [`SqlxPostgresStore::migrate`] (or
    /// apply the shipped migration and call [`SqlxPostgresStore::check_schema`]) before use.
    pub fn new(pool: PgPool) -> SqlxPostgresStore {
        SqlxPostgresStore {
            pool,
            tables: PgTables::default(),
        }
    }

    /// Connects to `url` (`postgres://user:password@host:port/database`) with sqlx's default
    /// pool options and migrates the tables in the connection's default schema. For pool size,
    /// timeouts, TLS or another schema, build the pool yourself and use
    /// [`SqlxPostgresStore::new`].
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the server is unreachable or the migration fails;
    /// [`StoreError::Schema`] if the schema is newer than this crate.
    pub async fn connect(url: &str) -> Result<SqlxPostgresStore, StoreError> {
        let pool = PgPool::connect(url).await.map_err(StoreError::backend)?;
        let store = SqlxPostgresStore::new(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// The pool the store uses (the application's, or the one
    /// [`SqlxPostgresStore::connect`] built).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// With the tables in `schema` (created by [`SqlxPostgresStore::migrate`] if needed).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] unless the name is 1 to 63 of `a-z`, `0-9`, `_`, starting with a
    /// letter.
    pub fn with_schema(mut self, schema: &str) -> Result<SqlxPostgresStore, StoreError> {
        self.tables = self.tables.with_schema(schema)?;
        Ok(self)
    }

    /// With the users table named `table` (the version table is then `<table>_schema`).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a name that is not a safe identifier (as for the schema),
    /// or longer than 56 characters.
    pub fn with_table_name(mut self, table: &str) -> Result<SqlxPostgresStore, StoreError> {
        self.tables = self.tables.with_table_name(table)?;
        Ok(self)
    }

    /// Creates the tables (and the schema, if one is set) or migrates them to this crate's
    /// version, in one transaction holding a transaction-scoped advisory lock (the one
    /// `PostgresStore` takes too), so that servers starting together do not collide. Runs the
    /// text of [`POSTGRES_MIGRATION_0001`](super::POSTGRES_MIGRATION_0001) with the configured
    /// names. If this future is dropped midway, the transaction rolls back and the lock ends.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Schema`] if the schema is newer than this crate.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        // Through the `Executor` methods on the connection: `RawSql::execute`'s future is not
        // provably `Send` with a borrowed connection.
        (&mut *tx)
            .execute(sqlx::raw_sql(MIGRATION_LOCK))
            .await
            .map_err(StoreError::backend)?;
        if let Some(create) = self.tables.create_schema() {
            (&mut *tx)
                .execute(sqlx::raw_sql(create))
                .await
                .map_err(StoreError::backend)?;
        }
        (&mut *tx)
            .execute(sqlx::raw_sql(self.tables.create_version_table()))
            .await
            .map_err(StoreError::backend)?;
        let version: Option<i64> = sqlx::query_scalar(self.tables.version())
            .persistent(false)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        if postgres_sql::migration_needed(version.unwrap_or(0))? {
            (&mut *tx)
                .execute(sqlx::raw_sql(self.tables.migration()))
                .await
                .map_err(StoreError::backend)?;
        }
        tx.commit().await.map_err(StoreError::backend)
    }

    /// Checks, without changing anything, that the tables exist at this crate's schema
    /// version: for applications whose own migration tool applied `migrations/postgres/`.
    ///
    /// # Errors
    /// [`StoreError::Schema`] naming the mismatch (no schema, an older or a newer version);
    /// [`StoreError::Backend`].
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::backend)?;
        let exists: Option<String> = sqlx::query_scalar(self.tables.schema_exists())
            .persistent(false)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::backend)?;
        let found = match exists {
            Some(_) => {
                let version: Option<i64> = sqlx::query_scalar(self.tables.version())
                    .persistent(false)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(StoreError::backend)?;
                Some(version.unwrap_or(0))
            }
            None => None,
        };
        postgres_sql::schema_checked(found)
    }

    /// A connection from the pool, held for every statement of one operation.
    async fn conn(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        self.pool.acquire().await.map_err(StoreError::backend)
    }
}

/// Runs a statement on `conn`, again if it failed with a [retryable](postgres_sql::retryable)
/// error; returns the rows it wrote.
async fn execute(conn: &mut PgConnection, statement: &Statement<'_>) -> Result<u64, StoreError> {
    let mut tries = 1;
    loop {
        match bind(statement).execute(&mut *conn).await {
            Ok(done) => return Ok(done.rows_affected()),
            Err(e) if tries < TRIES && retryable(&e) => tries += 1,
            Err(e) => return Err(StoreError::backend(e)),
        }
    }
}

/// Like [`execute`], returning the rows the statement returned.
async fn fetch(
    conn: &mut PgConnection,
    statement: &Statement<'_>,
) -> Result<Vec<PgRow>, StoreError> {
    let mut tries = 1;
    loop {
        match bind(statement).fetch_all(&mut *conn).await {
            Ok(rows) => return Ok(rows),
            Err(e) if tries < TRIES && retryable(&e) => tries += 1,
            Err(e) => return Err(StoreError::backend(e)),
        }
    }
}

/// Whether the user has a record.
async fn exists(
    conn: &mut PgConnection,
    tables: &PgTables,
    user_id: &str,
) -> Result<bool, StoreError> {
    Ok(!fetch(conn, &tables.exists(user_id)).await?.is_empty())
}

impl RunSql for &mut PgConnection {
    type Row = PgRow;

    async fn read(&mut self, statement: &Statement<'_>) -> Result<Vec<PgRow>, StoreError> {
        fetch(self, statement).await
    }

    async fn write(&mut self, statement: &Statement<'_>) -> Result<u64, StoreError> {
        execute(self, statement).await
    }
}

/// The statement with its parameters bound (prepared once per connection by sqlx's statement
/// cache).
fn bind<'q>(statement: &Statement<'q>) -> Query<'q, Postgres, PgArguments> {
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

/// Whether the statement failed with an error that left no effect and may be run again.
fn retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| postgres_sql::retryable(&code)),
        _ => false,
    }
}

impl Columns for PgRow {
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

impl SecretStore for SqlxPostgresStore {
    async fn get(&self, user_id: &str) -> Result<Option<StoredUser>, StoreError> {
        let rows = fetch(&mut *self.conn().await?, &self.tables.get(user_id)).await?;
        rows.first().map(read_user).transpose()
    }

    async fn insert(&self, user_id: &str, cold: &ColdFields) -> Result<u64, StoreError> {
        let version = super::new_record_version()?;
        let statement = self.tables.insert(user_id, version, cold);
        postgres_sql::inserted(
            execute(&mut *self.conn().await?, &statement).await?,
            version,
        )
    }

    async fn replace(
        &self,
        user_id: &str,
        expected_version: u64,
        cold: &ColdFields,
        effects: ReplaceEffects,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let statement = self
            .tables
            .replace(user_id, expected_version, cold, effects);
        let rows = fetch(&mut conn, &statement).await?;
        let version = rows.first().map(|row| row.int(0)).transpose()?;
        postgres_sql::replaced(version, exists(&mut conn, &self.tables, user_id)).await
    }

    async fn settle_attempt(
        &self,
        user_id: &str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let statement = self
            .tables
            .settle_attempt(user_id, expected_failures, attempt, at);
        let rows = match statement {
            Some(statement) => execute(&mut conn, &statement).await?,
            None => 0,
        };
        postgres_sql::settled(rows, exists(&mut conn, &self.tables, user_id)).await
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
        settle_loop(self.tables.login_on(&mut *conn, user_id, at), decide).await
    }

    async fn reset_failures(&self, user_id: &str) -> Result<(), StoreError> {
        let statement = self.tables.reset_failures(user_id);
        postgres_sql::reset(execute(&mut *self.conn().await?, &statement).await?)
    }

    async fn delete(&self, user_id: &str) -> Result<bool, StoreError> {
        let statement = self.tables.delete(user_id);
        Ok(execute(&mut *self.conn().await?, &statement).await? == 1)
    }

    async fn list(
        &self,
        filter: ListFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredUser>, StoreError> {
        let statement = self.tables.list(filter, after, limit);
        let rows = fetch(&mut *self.conn().await?, &statement).await?;
        rows.iter().map(read_user).collect()
    }
}
