//! A PostgreSQL store, for applications running on many servers.

use deadpool_postgres::{Config, Pool, Runtime};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{NoTls, Row, Socket};

use super::sql::{SCHEMA_VERSION, ordered_from_sql, ordered_to_sql};
use super::{
    Attempt, ColdFields, ListFilter, ReplaceEffects, SecretStore, StoreError, StoredStatus,
    StoredUser,
};

/// The columns of a user row, in the order [`read_user`] expects.
const COLUMNS: &str = "user_id, version, status, state, required, recovery_generation, recovery, \
     last_step, drift, last_used_at, recovery_used, failures, last_failure_at";

/// The schema, as shipped in `migrations/postgres/` for applications whose migration tool owns
/// the schema; [`PostgresStore::migrate`] runs the same text.
pub const POSTGRES_MIGRATION_0001: &str =
    include_str!("../../migrations/postgres/0001_twofactor.sql");

/// A [`SecretStore`] in PostgreSQL, shared by every server of an application.
///
/// - On the application's own pool: [`PostgresStore::new`] takes a `deadpool-postgres` pool
///   built however the service builds it (size, timeouts, TLS connector), so 2FA adds no second
///   pool. [`PostgresStore::connect_with`] builds one from a URL, [`PostgresOptions`] and a TLS
///   connector (for example `tokio_postgres_rustls::MakeRustlsConnect` over the service's rustls
///   configuration: with it, `sslmode=require` really uses TLS and a wrong CA fails).
/// - The schema is the application's to control: [`PostgresStore::migrate`] creates and
///   migrates it under a transaction-scoped advisory lock (several servers may start at once);
///   or apply [`POSTGRES_MIGRATION_0001`] (`migrations/postgres/`) with your own tool and call
///   [`PostgresStore::check_schema`], which refuses a version mismatch. Table name and schema are
///   options.
/// - Each atomic operation is a single SQL statement whose `WHERE` clause carries the condition
///   (`last_step < $2`, `(recovery_used & $3) = 0`, `version = $2`), so it stays correct under
///   concurrent use from any number of processes at PostgreSQL's default isolation level: an
///   `UPDATE` re-evaluates its `WHERE` clause on the newest row version after waiting for a
///   concurrent writer's row lock (READ COMMITTED), so of two racing conditional updates exactly
///   one sees the condition hold.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// The users table, schema-qualified if a schema is set.
    table: String,
    /// The schema-version table, likewise.
    schema_table: String,
    /// The schema to create, if one is set.
    schema: Option<String>,
    /// The users table's bare name (for index names).
    bare_table: String,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.table)
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

const DEFAULT_TABLE: &str = "twofactor_users";

/// The error for a schema at `found` (none recorded: `None`) instead of this crate's version.
fn schema_error(found: Option<i64>) -> StoreError {
    StoreError::Schema {
        found: found.map(|v| u64::try_from(v).unwrap_or(0)),
        expected: SCHEMA_VERSION.unsigned_abs(),
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
            table: DEFAULT_TABLE.to_owned(),
            schema_table: "twofactor_schema".to_owned(),
            schema: None,
            bare_table: DEFAULT_TABLE.to_owned(),
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
        if !valid_identifier(schema) {
            return Err(StoreError::Corrupt("invalid schema name"));
        }
        self.schema = Some(schema.to_owned());
        Ok(self.named())
    }

    /// With the users table named `table` (the version table is then `<table>_schema`).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a name that is not a safe identifier (as for the schema),
    /// or longer than 56 characters.
    pub fn with_table_name(mut self, table: &str) -> Result<PostgresStore, StoreError> {
        if !valid_identifier(table) || table.len() > 56 {
            return Err(StoreError::Corrupt("invalid table name"));
        }
        self.bare_table = table.to_owned();
        Ok(self.named())
    }

    /// Recomputes the qualified names.
    fn named(mut self) -> PostgresStore {
        let prefix = self
            .schema
            .as_ref()
            .map_or_else(String::new, |s| format!("{s}."));
        let version_table = if self.bare_table == DEFAULT_TABLE {
            "twofactor_schema".to_owned()
        } else {
            format!("{}_schema", self.bare_table)
        };
        self.table = format!("{prefix}{}", self.bare_table);
        self.schema_table = format!("{prefix}{version_table}");
        self
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
    /// not collide. Runs the text of [`POSTGRES_MIGRATION_0001`] with the configured names.
    ///
    /// # Errors
    /// [`StoreError::Backend`]; [`StoreError::Schema`] if the schema is newer than this crate.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(StoreError::backend)?;
        let tx = client.transaction().await.map_err(StoreError::backend)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('twofactor schema migration'))",
            &[],
        )
        .await
        .map_err(StoreError::backend)?;
        if let Some(schema) = &self.schema {
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(StoreError::backend)?;
        }
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {} (version BIGINT NOT NULL)",
            self.schema_table
        ))
        .await
        .map_err(StoreError::backend)?;
        let version = self.version_in(&*tx).await?;
        if version > SCHEMA_VERSION {
            return Err(schema_error(Some(version)));
        }
        if version < 1 {
            tx.batch_execute(&self.migration_sql())
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
            .query_one("SELECT to_regclass($1)::TEXT", &[&self.schema_table])
            .await
            .map_err(StoreError::backend)?
            .get(0);
        if exists.is_none() {
            return Err(schema_error(None));
        }
        match self.version_in(&**client).await? {
            SCHEMA_VERSION => Ok(()),
            0 => Err(schema_error(None)),
            v => Err(schema_error(Some(v))),
        }
    }

    /// The recorded schema version (0 when none).
    async fn version_in<C: tokio_postgres::GenericClient>(
        &self,
        client: &C,
    ) -> Result<i64, StoreError> {
        let version: Option<i64> = client
            .query_one(
                &format!("SELECT MAX(version) FROM {}", self.schema_table),
                &[],
            )
            .await
            .map_err(StoreError::backend)?
            .get(0);
        Ok(version.unwrap_or(0))
    }

    /// The shipped migration with this store's names.
    fn migration_sql(&self) -> String {
        // Placeholders first, so that a configured name containing a default one is not
        // replaced twice.
        POSTGRES_MIGRATION_0001
            .replace("twofactor_users_status", "\u{0}1")
            .replace("twofactor_users", "\u{0}2")
            .replace("twofactor_schema", "\u{0}3")
            .replace("\u{0}1", &format!("{}_status", self.bare_table))
            .replace("\u{0}2", &self.table)
            .replace("\u{0}3", &self.schema_table)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(StoreError::backend)
    }

    async fn exists(
        &self,
        client: &deadpool_postgres::Object,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        let sql = format!("SELECT 1 FROM {} WHERE user_id = $1", self.table);
        let rows = query(client, &sql, &[&user_id]).await?;
        Ok(!rows.is_empty())
    }

    async fn changed_or_missing(
        &self,
        client: &deadpool_postgres::Object,
        user_id: &str,
        changed: u64,
    ) -> Result<bool, StoreError> {
        if changed > 0 {
            Ok(true)
        } else if self.exists(client, user_id).await? {
            Ok(false)
        } else {
            Err(StoreError::NotFound)
        }
    }
}

/// Runs a statement through the connection's prepared-statement cache.
async fn query(
    client: &deadpool_postgres::Object,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let statement = client
        .prepare_cached(sql)
        .await
        .map_err(StoreError::backend)?;
    client
        .query(&statement, params)
        .await
        .map_err(StoreError::backend)
}

/// Like [`query`], returning the number of rows changed.
async fn execute(
    client: &deadpool_postgres::Object,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = client
        .prepare_cached(sql)
        .await
        .map_err(StoreError::backend)?;
    client
        .execute(&statement, params)
        .await
        .map_err(StoreError::backend)
}

fn read_user(row: &Row) -> Result<StoredUser, StoreError> {
    let get_err = |_| StoreError::Corrupt("unexpected column type");
    let status: String = row.try_get(2).map_err(get_err)?;
    let version: i64 = row.try_get(1).map_err(get_err)?;
    let failures: i64 = row.try_get(11).map_err(get_err)?;
    Ok(StoredUser {
        user_id: row.try_get(0).map_err(get_err)?,
        version: version as u64,
        cold: ColdFields {
            status: StoredStatus::parse(&status)?,
            state: row.try_get(3).map_err(get_err)?,
            required: row.try_get(4).map_err(get_err)?,
            recovery_generation: row.try_get::<_, i64>(5).map_err(get_err)? as u64,
            recovery: row.try_get(6).map_err(get_err)?,
        },
        last_step: row
            .try_get::<_, Option<i64>>(7)
            .map_err(get_err)?
            .map(ordered_from_sql),
        drift: row.try_get(8).map_err(get_err)?,
        last_used_at: row
            .try_get::<_, Option<i64>>(9)
            .map_err(get_err)?
            .map(ordered_from_sql),
        recovery_used: row.try_get::<_, i64>(10).map_err(get_err)? as u64,
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        last_failure_at: row
            .try_get::<_, Option<i64>>(12)
            .map_err(get_err)?
            .map(ordered_from_sql),
    })
}

impl SecretStore for PostgresStore {
    async fn get(&self, user_id: &str) -> Result<Option<StoredUser>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE user_id = $1", self.table);
        let rows = query(&client, &sql, &[&user_id]).await?;
        rows.first().map(read_user).transpose()
    }

    async fn insert(&self, user_id: &str, cold: &ColdFields) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "INSERT INTO {} (user_id, version, status, state, required, recovery_generation,
                recovery, last_step, drift, last_used_at, recovery_used, failures, last_failure_at)
             VALUES ($1, 1, $2, $3, $4, $5, $6, NULL, 0, NULL, 0, 0, NULL)
             ON CONFLICT (user_id) DO NOTHING",
            self.table
        );
        let n = execute(
            &client,
            &sql,
            &[
                &user_id,
                &cold.status.as_str(),
                &cold.state,
                &cold.required,
                &(cold.recovery_generation as i64),
                &cold.recovery,
            ],
        )
        .await?;
        if n == 1 {
            Ok(1)
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn replace(
        &self,
        user_id: &str,
        expected_version: u64,
        cold: &ColdFields,
        effects: ReplaceEffects,
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let (accept, drift) = match effects.accept_step {
            Some((step, drift)) => (Some(ordered_to_sql(step)), drift),
            None => (None, 0),
        };
        // SET expressions all see the old row, so the mask test uses the old generation.
        let sql = format!(
            "UPDATE {} SET
                version = version + 1,
                status = $3, state = $4, required = $5,
                recovery_used = CASE WHEN recovery_generation = $6 THEN recovery_used ELSE 0 END,
                recovery_generation = $6, recovery = $7,
                last_step = CASE WHEN $8::BIGINT IS NULL THEN last_step
                                 ELSE GREATEST(last_step, $8::BIGINT) END,
                drift = CASE WHEN $8::BIGINT IS NULL THEN drift ELSE $9 END,
                failures = CASE WHEN $10 THEN 0 ELSE failures END,
                last_failure_at = CASE WHEN $10 THEN NULL ELSE last_failure_at END
             WHERE user_id = $1 AND version = $2
             RETURNING version",
            self.table
        );
        let rows = query(
            &client,
            &sql,
            &[
                &user_id,
                &(expected_version as i64),
                &cold.status.as_str(),
                &cold.state,
                &cold.required,
                &(cold.recovery_generation as i64),
                &cold.recovery,
                &accept,
                &drift,
                &effects.reset_failures,
            ],
        )
        .await?;
        match rows.first() {
            Some(row) => Ok(row
                .try_get::<_, i64>(0)
                .map_err(|_| StoreError::Corrupt("version"))? as u64),
            None if self.exists(&client, user_id).await? => Err(StoreError::Conflict),
            None => Err(StoreError::NotFound),
        }
    }

    async fn settle_attempt(
        &self,
        user_id: &str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> Result<bool, StoreError> {
        match attempt {
            Attempt::Failed => self.fail_attempt(user_id, expected_failures, at).await,
            Attempt::AcceptStep { step, drift } => {
                self.accept_step(user_id, expected_failures, step, drift, at)
                    .await
            }
            Attempt::ConsumeRecoveryCode { generation, index } => {
                self.consume_code(user_id, expected_failures, generation, index, at)
                    .await
            }
        }
    }

    async fn reset_failures(&self, user_id: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE {} SET failures = 0, last_failure_at = NULL WHERE user_id = $1",
            self.table
        );
        let n = execute(&client, &sql, &[&user_id]).await?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn delete(&self, user_id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let sql = format!("DELETE FROM {} WHERE user_id = $1", self.table);
        Ok(execute(&client, &sql, &[&user_id]).await? == 1)
    }

    async fn list(
        &self,
        filter: ListFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredUser>, StoreError> {
        let client = self.client().await?;
        let condition = match filter {
            ListFilter::All => "",
            ListFilter::Active => "AND status = 'active'",
            ListFilter::NotActive => "AND status <> 'active'",
        };
        // Two statements rather than `($1 IS NULL OR user_id > $1)`: the cached generic plan of
        // that form scans the index from its start; `user_id > $1` is a range on the primary
        // key, so a page costs the same wherever it starts.
        let keyset = if after.is_some() {
            "user_id > $1"
        } else {
            "$1::TEXT IS NULL"
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE {keyset} {condition}
             ORDER BY user_id LIMIT $2",
            self.table
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = query(&client, &sql, &[&after, &limit]).await?;
        rows.iter().map(read_user).collect()
    }
}

impl PostgresStore {
    async fn accept_step(
        &self,
        user_id: &str,
        expected_failures: u32,
        step: u64,
        drift: i64,
        at: u64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE {} SET last_step = $2, drift = $3, last_used_at = $4,
                failures = 0, last_failure_at = NULL
             WHERE user_id = $1 AND failures = $5 AND (last_step IS NULL OR last_step < $2)",
            self.table
        );
        let n = execute(
            &client,
            &sql,
            &[
                &user_id,
                &ordered_to_sql(step),
                &drift,
                &ordered_to_sql(at),
                &i64::from(expected_failures),
            ],
        )
        .await?;
        self.changed_or_missing(&client, user_id, n).await
    }

    async fn consume_code(
        &self,
        user_id: &str,
        expected_failures: u32,
        generation: u64,
        index: u32,
        at: u64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let Some(bit) = 1u64.checked_shl(index) else {
            return self.changed_or_missing(&client, user_id, 0).await;
        };
        let sql = format!(
            "UPDATE {} SET recovery_used = recovery_used | $3, last_used_at = $4,
                failures = 0, last_failure_at = NULL
             WHERE user_id = $1 AND recovery_generation = $2 AND (recovery_used & $3) = 0
               AND failures = $5",
            self.table
        );
        let n = execute(
            &client,
            &sql,
            &[
                &user_id,
                &(generation as i64),
                &(bit as i64),
                &ordered_to_sql(at),
                &i64::from(expected_failures),
            ],
        )
        .await?;
        self.changed_or_missing(&client, user_id, n).await
    }

    async fn fail_attempt(
        &self,
        user_id: &str,
        expected_failures: u32,
        at: u64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE {} SET failures = failures + 1, last_failure_at = $3
             WHERE user_id = $1 AND failures = $2",
            self.table
        );
        let n = execute(
            &client,
            &sql,
            &[&user_id, &i64::from(expected_failures), &ordered_to_sql(at)],
        )
        .await?;
        self.changed_or_missing(&client, user_id, n).await
    }
}
