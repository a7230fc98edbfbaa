//! A PostgreSQL store on tokio-postgres and deadpool, for applications running on many servers.
//!
//! Its SQL, and why each statement is atomic, are in [`super::postgres_sql`], shared with the
//! sqlx driver.

use deadpool_postgres::{Config, Pool, Runtime};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row, Socket};

use super::postgres_sql::{
    self, Columns, DEFAULT_TABLE, MIGRATION_LOCK, Param, PgTables, Statement, TRIES, column_error,
    read_user,
};
use super::sql_login::{LoginSql, RunSql};
use super::{
    Attempt, ColdFields, Decide, ListFilter, ReadSettled, ReplaceEffects, SecretStore, StoreError,
    StoredUser, settle_loop,
};

/// A [`SecretStore`] in PostgreSQL, shared by every server of an application.
///
/// - On the application's own pool: [`PostgresStore::new`] takes a `deadpool-postgres` pool
///   built however the service builds it (size, timeouts, TLS connector), so 2FA adds no second
///   pool. [`PostgresStore::connect_with`] builds one from a URL, [`PostgresOptions`] and a TLS
///   connector (for example `tokio_postgres_rustls::MakeRustlsConnect` over the service's rustls
///   configuration: with it, `sslmode=require` really uses TLS and a wrong CA fails).
/// - The schema is the application's to control: [`PostgresStore::migrate`] creates and
///   migrates it under a transaction-scoped advisory lock (several servers may start at once);
///   or apply [`POSTGRES_MIGRATION_0001`](super::POSTGRES_MIGRATION_0001)
///   (`migrations/postgres/`) with your own tool and call
///   [`PostgresStore::check_schema`], which refuses a version mismatch. Table name and schema are
///   options.
/// - Each atomic operation is a single SQL statement whose `WHERE` clause carries the condition
///   (`last_step < $2`, `(recovery_used & $3) = 0`, `version = $2`), so it stays correct under
///   concurrent use from any number of processes at PostgreSQL's default isolation level: an
///   `UPDATE` re-evaluates its `WHERE` clause on the newest row version after waiting for a
///   concurrent writer's row lock (READ COMMITTED), so of two racing conditional updates exactly
///   one sees the condition hold. A statement that fails with a serialization failure or a
///   deadlock (possible at stricter isolation levels) had no effect and runs again.
/// - The same tables, SQL and semantics as `SqlxPostgresStore` (feature `sqlx-postgres`): the
///   two drivers can share one database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// The tables, and every statement on them.
    tables: PgTables,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.tables.table())
            .finish_non_exhaustive()
    }
}

/// How [`PostgresStore::connect_with`] builds its pool and where its tables live.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// Most connections open at once (default 16).
    pub max_size: usize,
    /// How long a request waits for a free connection (default 5 s).
    pub wait_timeout: Option<core::time::Duration>,
    /// How long opening a connection may take (default 5 s).
    pub create_timeout: Option<core::time::Duration>,
    /// The schema holding the tables (default: the connection's search path).
    pub schema: Option<String>,
    /// The users table's name (default `twofactor_users`; the version table is
    /// `twofactor_schema`, or `<name>_schema` for another name).
    pub table: String,
    /// Whether to create and migrate the tables on connect (default `true`); `false` checks the
    /// schema version instead ([`PostgresStore::check_schema`]).
    pub migrate: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_size: 16,
            wait_timeout: Some(core::time::Duration::from_secs(5)),
            create_timeout: Some(core::time::Duration::from_secs(5)),
            schema: None,
            table: DEFAULT_TABLE.to_owned(),
            migrate: true,
        }
    }
}

impl PostgresOptions {
    /// With at most `max_size` connections.
    #[must_use]
    pub fn with_max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// With the tables in `schema`.
    #[must_use]
    pub fn with_schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.to_owned());
        self
    }

    /// With the users table named `table`.
    #[must_use]
    pub fn with_table_name(mut self, table: &str) -> Self {
        self.table = table.to_owned();
        self
    }

    /// Checks the schema version instead of migrating.
    #[must_use]
    pub fn without_migration(mut self) -> Self {
        self.migrate = false;
        self
    }
}

impl PostgresStore {
    /// A store on the application's own pool, with the default table in the connection's
    /// schema. Call [`PostgresStore::migrate`] (or apply the shipped migration and call
    /// [`PostgresStore::check_schema`]) before use.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use twofactor::PostgresStore;
    ///
    /// // The service's pool, built as it builds it (here without TLS, on a private network).
    /// let mut config = deadpool_postgres::Config::new();
    /// config.url = Some("postgres://app@db.internal/app".to_owned());
    /// let pool = config.create_pool(Some(deadpool_postgres::Runtime::Tokio1), tokio_postgres::NoTls)?;
    /// let store = PostgresStore::new(pool).with_schema("auth")?;
    /// store.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(pool: Pool) -> PostgresStore {
        PostgresStore {
            pool,
            tables: PgTables::default(),
        }
    }

    /// The pool the store uses (the application's, or the one it built).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// With the tables in `schema` (created by [`PostgresStore::migrate`] if needed).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] unless the name is 1 to 63 of `a-z`, `0-9`, `_`, starting with a
    /// letter.
    pub fn with_schema(mut self, schema: &str) -> Result<PostgresStore, StoreError> {
        self.tables = self.tables.with_schema(schema)?;
        Ok(self)
    }

    /// With the users table named `table` (the version table is then `<table>_schema`).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a name that is not a safe identifier (as for the schema),
    /// or longer than 56 characters.
    pub fn with_table_name(mut self, table: &str) -> Result<PostgresStore, StoreError> {
        self.tables = self.tables.with_table_name(table)?;
        Ok(self)
    }

    /// Connects to `url` (`postgres://user@host:port/db`) without TLS (for a database on the
    /// same host or a private network) and migrates the tables in the connection's default
    /// schema. For TLS, a pool size or timeouts use [`PostgresStore::connect_with`]; for the
    /// service's existing pool, [`PostgresStore::new`].
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the pool cannot be built, the server is unreachable or the
    /// migration fails (an URL with `sslmode=require` fails here: it needs a TLS connector);
    /// [`StoreError::Corrupt`] if the schema is newer than this crate.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_with(url, PostgresOptions::default(), NoTls).await
    }

    /// Like [`PostgresStore::connect`], with the tables in schema `schema` (created if needed),
    /// for example to keep test runs apart. The name must be 1 to 63 of `a-z`, `0-9`, `_`,
    /// starting with a letter.
    ///
    /// # Errors
    /// As [`PostgresStore::connect`], and [`StoreError::Corrupt`] for an invalid schema name.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_with(url, PostgresOptions::default().with_schema(schema), NoTls)
            .await
    }

    /// Builds a pool for `url` with `options` and the TLS connector `tls`, then migrates (or,
    /// with [`PostgresOptions::without_migration`], checks the schema version).
    ///
    /// With a TLS connector, the URL's `sslmode` decides: `require` refuses to talk without TLS;
    /// `prefer` (tokio-postgres's default) falls back to plain text if the server offers no TLS,
    /// so use `require` when the database is across a network.
    ///
    /// # Errors
    /// As [`PostgresStore::connect`], and [`StoreError::Corrupt`] for invalid names.
    pub async fn connect_with<T>(
        url: &str,
        options: PostgresOptions,
        tls: T,
    ) -> Result<PostgresStore, StoreError>
    where
        T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
        T::Stream: Sync + Send,
        T::TlsConnect: Sync + Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let mut config = Config {
            url: Some(url.to_owned()),
            ..Config::default()
        };
        let mut pool_config = deadpool_postgres::PoolConfig::new(options.max_size);
        pool_config.timeouts.wait = options.wait_timeout;
        pool_config.timeouts.create = options.create_timeout;
        config.pool = Some(pool_config);
        let pool = config
            .create_pool(Some(Runtime::Tokio1), tls)
            .map_err(StoreError::backend)?;
        let mut store = PostgresStore::new(pool).with_table_name(&options.table)?;
        if let Some(schema) = &options.schema {
            store = store.with_schema(schema)?;
        }
        if options.migrate {
            store.migrate().await?;
        } else {
            store.check_schema().await?;
        }
        Ok(store)
    }

    /// Creates the tables (and the schema, if one is set) or migrates them to this crate's
    /// version, under a transaction-scoped advisory lock so that servers starting together do
    /// not collide. Runs the text of [`POSTGRES_MIGRATION_0001`](super::POSTGRES_MIGRATION_0001)
    /// with the configured names.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Schema`] if the schema is newer than this crate.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(StoreError::backend)?;
        tx.execute(MIGRATION_LOCK, &[])
            .await
            .map_err(StoreError::backend)?;
        if let Some(create) = self.tables.create_schema() {
            tx.batch_execute(create)
                .await
                .map_err(StoreError::backend)?;
        }
        tx.batch_execute(self.tables.create_version_table())
            .await
            .map_err(StoreError::backend)?;
        if postgres_sql::migration_needed(self.version_in(&*tx).await?)? {
            tx.batch_execute(self.tables.migration())
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
        let client = self.client().await?;
        let exists: Option<String> = client
            .query_one(self.tables.schema_exists(), &[])
            .await
            .map_err(StoreError::backend)?
            .get(0);
        let found = match exists {
            Some(_) => Some(self.version_in(&**client).await?),
            None => None,
        };
        postgres_sql::schema_checked(found)
    }

    /// The recorded schema version (0 when none).
    async fn version_in<C: tokio_postgres::GenericClient>(
        &self,
        client: &C,
    ) -> Result<i64, StoreError> {
        let version: Option<i64> = client
            .query_one(self.tables.version(), &[])
            .await
            .map_err(StoreError::backend)?
            .get(0);
        Ok(version.unwrap_or(0))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(StoreError::backend)
    }

    /// Whether the user has a record.
    async fn exists(
        &self,
        client: &deadpool_postgres::Object,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        let rows = query(client, &self.tables.exists(user_id)).await?;
        Ok(!rows.is_empty())
    }
}

/// Runs a statement through the connection's prepared-statement cache, again if it failed
/// with a [retryable](postgres_sql::retryable) error.
async fn query(
    client: &deadpool_postgres::Object,
    statement: &Statement<'_>,
) -> Result<Vec<Row>, StoreError> {
    let prepared = client
        .prepare_cached(statement.sql)
        .await
        .map_err(StoreError::backend)?;
    let params: Vec<&(dyn ToSql + Sync)> = statement.params.iter().map(to_sql).collect();
    let mut tries = 1;
    loop {
        match client.query(&prepared, &params).await {
            Ok(rows) => return Ok(rows),
            Err(e) if tries < TRIES && retryable(&e) => tries += 1,
            Err(e) => return Err(StoreError::backend(e)),
        }
    }
}

/// Like [`query`], returning the number of rows written.
async fn execute(
    client: &deadpool_postgres::Object,
    statement: &Statement<'_>,
) -> Result<u64, StoreError> {
    let prepared = client
        .prepare_cached(statement.sql)
        .await
        .map_err(StoreError::backend)?;
    let params: Vec<&(dyn ToSql + Sync)> = statement.params.iter().map(to_sql).collect();
    let mut tries = 1;
    loop {
        match client.execute(&prepared, &params).await {
            Ok(rows) => return Ok(rows),
            Err(e) if tries < TRIES && retryable(&e) => tries += 1,
            Err(e) => return Err(StoreError::backend(e)),
        }
    }
}

impl RunSql for &deadpool_postgres::Object {
    type Row = Row;

    async fn read(&mut self, statement: &Statement<'_>) -> Result<Vec<Row>, StoreError> {
        query(self, statement).await
    }

    async fn write(&mut self, statement: &Statement<'_>) -> Result<u64, StoreError> {
        execute(self, statement).await
    }
}

/// Whether the statement failed with an error that left no effect and may be run again.
fn retryable(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|code| postgres_sql::retryable(code.code()))
}

/// A parameter as tokio-postgres binds it.
fn to_sql<'p>(param: &'p Param<'_>) -> &'p (dyn ToSql + Sync) {
    match param {
        Param::Text(v) => v,
        Param::OptText(v) => v,
        Param::Int(v) => v,
        Param::OptInt(v) => v,
        Param::Bool(v) => v,
    }
}

impl Columns for Row {
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

impl SecretStore for PostgresStore {
    async fn get(&self, user_id: &str) -> Result<Option<StoredUser>, StoreError> {
        let client = self.client().await?;
        let rows = query(&client, &self.tables.get(user_id)).await?;
        rows.first().map(read_user).transpose()
    }

    async fn insert(&self, user_id: &str, cold: &ColdFields) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let version = super::new_record_version()?;
        let statement = self.tables.insert(user_id, version, cold);
        postgres_sql::inserted(execute(&client, &statement).await?, version)
    }

    async fn replace(
        &self,
        user_id: &str,
        expected_version: u64,
        cold: &ColdFields,
        effects: ReplaceEffects,
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let statement = self
            .tables
            .replace(user_id, expected_version, cold, effects);
        let rows = query(&client, &statement).await?;
        let version = rows.first().map(|row| row.int(0)).transpose()?;
        postgres_sql::replaced(version, self.exists(&client, user_id)).await
    }

    async fn settle_attempt(
        &self,
        user_id: &str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let statement = self
            .tables
            .settle_attempt(user_id, expected_failures, attempt, at);
        let rows = match statement {
            Some(statement) => execute(&client, &statement).await?,
            None => 0,
        };
        postgres_sql::settled(rows, self.exists(&client, user_id)).await
    }

    /// One connection from the pool for the read and the write.
    async fn read_and_settle(
        &self,
        user_id: &str,
        at: u64,
        decide: &mut Decide<'_>,
    ) -> Result<ReadSettled, StoreError> {
        let client = self.client().await?;
        settle_loop(self.tables.login_on(&client, user_id, at), decide).await
    }

    async fn reset_failures(&self, user_id: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        postgres_sql::reset(execute(&client, &self.tables.reset_failures(user_id)).await?)
    }

    async fn delete(&self, user_id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        Ok(execute(&client, &self.tables.delete(user_id)).await? == 1)
    }

    async fn list(
        &self,
        filter: ListFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredUser>, StoreError> {
        let client = self.client().await?;
        let rows = query(&client, &self.tables.list(filter, after, limit)).await?;
        rows.iter().map(read_user).collect()
    }
}
