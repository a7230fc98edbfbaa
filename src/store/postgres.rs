//! A PostgreSQL store, for applications running on many servers.

use deadpool_postgres::{Config, Pool, Runtime};
use tokio_postgres::{NoTls, Row};

use super::sql::{SCHEMA_VERSION, ordered_from_sql, ordered_to_sql};
use super::{
    ColdFields, ListFilter, ReplaceEffects, SecretStore, StoreError, StoredStatus, StoredUser,
};

/// The columns of a user row, in the order [`read_user`] expects.
const COLUMNS: &str = "user_id, version, status, state, required, recovery_generation, recovery, \
     last_step, drift, last_used_at, recovery_used, failures, last_failure_at";

/// A [`SecretStore`] in PostgreSQL, shared by every server of an application.
///
/// - Connections come from a `deadpool-postgres` pool.
/// - The schema is created and migrated on connect, under a transaction-scoped advisory lock, so
///   several servers starting at once do not collide.
/// - Each atomic operation is a single SQL statement whose `WHERE` clause carries the condition
///   (`last_step < $2`, `(recovery_used & $3) = 0`, `version = $2`), so it stays correct under
///   concurrent use from any number of processes at PostgreSQL's default isolation level.
///
/// TLS: this constructor connects without TLS (for a database on the same host or private
/// network); wrap a TLS-enabled pool yourself otherwise.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    table: String,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and migrates the tables in the
    /// connection's default schema.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the pool cannot be built, the server is unreachable or the
    /// migration fails; [`StoreError::Corrupt`] if the schema is newer than this crate.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_in_schema(url, None).await
    }

    /// Like [`PostgresStore::connect`], with the tables in schema `schema` (created if needed),
    /// for example to keep test runs apart. The name must be 1 to 63 of `a-z`, `0-9`, `_`,
    /// starting with a letter.
    ///
    /// # Errors
    /// As [`PostgresStore::connect`], and [`StoreError::Corrupt`] for an invalid schema name.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<PostgresStore, StoreError> {
        let valid = !schema.is_empty()
            && schema.len() <= 63
            && schema.starts_with(|c: char| c.is_ascii_lowercase())
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(StoreError::Corrupt("invalid schema name"));
        }
        PostgresStore::connect_in_schema(url, Some(schema)).await
    }

    async fn connect_in_schema(
        url: &str,
        schema: Option<&str>,
    ) -> Result<PostgresStore, StoreError> {
        let config = Config {
            url: Some(url.to_owned()),
            ..Config::default()
        };
        let pool = config
            .create_pool(Some(Runtime::Tokio1), NoTls)
            .map_err(StoreError::backend)?;
        let prefix = schema.map_or_else(String::new, |s| format!("{s}."));
        let store = PostgresStore {
            pool,
            table: format!("{prefix}twofactor_users"),
        };
        store.migrate(schema, &prefix).await?;
        Ok(store)
    }

    async fn migrate(&self, schema: Option<&str>, prefix: &str) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(StoreError::backend)?;
        let tx = client.transaction().await.map_err(StoreError::backend)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('twofactor schema migration'))",
            &[],
        )
        .await
        .map_err(StoreError::backend)?;
        if let Some(schema) = schema {
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(StoreError::backend)?;
        }
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {prefix}twofactor_schema (version BIGINT NOT NULL)"
        ))
        .await
        .map_err(StoreError::backend)?;
        let version: Option<i64> = tx
            .query_one(
                &format!("SELECT MAX(version) FROM {prefix}twofactor_schema"),
                &[],
            )
            .await
            .map_err(StoreError::backend)?
            .get(0);
        let version = version.unwrap_or(0);
        if version > SCHEMA_VERSION {
            return Err(StoreError::Corrupt(
                "database schema is newer than this library",
            ));
        }
        if version < 1 {
            tx.batch_execute(&format!(
                "CREATE TABLE {prefix}twofactor_users (
                    user_id TEXT COLLATE \"C\" PRIMARY KEY,
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
                CREATE INDEX ON {prefix}twofactor_users (status, user_id);
                INSERT INTO {prefix}twofactor_schema (version) VALUES (1);"
            ))
            .await
            .map_err(StoreError::backend)?;
        }
        tx.commit().await.map_err(StoreError::backend)
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

    async fn advance_step(
        &self,
        user_id: &str,
        step: u64,
        drift: i64,
        at: u64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE {} SET last_step = $2, drift = $3, last_used_at = $4,
                failures = 0, last_failure_at = NULL
             WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)",
            self.table
        );
        let n = execute(
            &client,
            &sql,
            &[&user_id, &ordered_to_sql(step), &drift, &ordered_to_sql(at)],
        )
        .await?;
        self.changed_or_missing(&client, user_id, n).await
    }

    async fn consume_recovery_code(
        &self,
        user_id: &str,
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
             WHERE user_id = $1 AND recovery_generation = $2 AND (recovery_used & $3) = 0",
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
            ],
        )
        .await?;
        self.changed_or_missing(&client, user_id, n).await
    }

    async fn reserve_attempt(
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
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE ($1::TEXT IS NULL OR user_id > $1) {condition}
             ORDER BY user_id LIMIT $2",
            self.table
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = query(&client, &sql, &[&after, &limit]).await?;
        rows.iter().map(read_user).collect()
    }
}
