//! An embedded SQLite store: one file, no server, bundled SQLite.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::sql::{SCHEMA_VERSION, ordered_from_sql, ordered_to_sql};
use super::{
    Attempt, ColdFields, ListFilter, ReplaceEffects, SecretStore, StoreError, StoredStatus,
    StoredUser,
};

/// Read connections kept open for reuse.
const POOL_SIZE: usize = 4;

/// The columns of a user row, in the order [`read_user`] expects.
const COLUMNS: &str = "user_id, version, status, state, required, recovery_generation, recovery, \
     last_step, drift, last_used_at, recovery_used, failures, last_failure_at";

/// A [`SecretStore`] in a SQLite file.
///
/// - SQLite is compiled in (`rusqlite`'s `bundled`), so nothing needs installing.
/// - The schema is created and migrated on open; the file uses WAL journaling, so readers do not
///   block the writer, and several processes can share it.
/// - Every atomic operation is a single SQL statement (`UPDATE … WHERE` on the condition, with
///   `RETURNING` where a value comes back), so it is atomic across connections and processes;
///   a crash never leaves a half-written record.
/// - Writes in one process go through one connection, one at a time: SQLite admits one writer
///   anyway, and queueing in-process avoids its busy-wait sleeps. Reads use a small pool (WAL
///   lets them run beside the writer). Other processes on the same file are arbitrated by SQLite's
///   locking with a busy timeout.
/// - Blocking SQLite calls run on Tokio's blocking thread pool, so handlers stay responsive; a
///   Tokio runtime is required.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// use twofactor::{SecretStore, SqliteStore};
///
/// let dir = std::env::temp_dir().join(format!("twofactor-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let store = SqliteStore::open(dir.join("2fa.sqlite3")).await?;
/// assert!(store.get("nobody").await?.is_none());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Option<Connection>>,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates its schema.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the file cannot be opened or migrated;
    /// [`StoreError::Corrupt`] if its schema is newer than this crate knows.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let store = SqliteStore {
            inner: Arc::new(Inner {
                path: path.as_ref().to_owned(),
                writer: Mutex::new(None),
                idle: Mutex::new(Vec::new()),
            }),
        };
        store.write(migrate).await?;
        Ok(store)
    }

    fn connect(path: &Path) -> Result<Connection, StoreError> {
        let conn = Connection::open(path).map_err(StoreError::backend)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(StoreError::backend)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(StoreError::backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(StoreError::backend)?;
        Ok(conn)
    }

    /// Runs `f` on the process's single writer connection, on the blocking thread pool.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            if writer.is_none() {
                *writer = Some(SqliteStore::connect(&inner.path)?);
            }
            match writer.as_mut() {
                Some(conn) => f(conn),
                None => Err(StoreError::Corrupt("no writer connection")),
            }
        })
        .await
        .map_err(StoreError::backend)?
    }

    /// Runs `f` with a pooled read connection on the blocking thread pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => SqliteStore::connect(&inner.path)?,
            };
            let result = f(&mut conn);
            let mut idle = inner.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < POOL_SIZE {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(StoreError::backend)?
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::backend)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS twofactor_schema (version INTEGER NOT NULL)")
        .map_err(StoreError::backend)?;
    let version: Option<i64> = tx
        .query_row("SELECT MAX(version) FROM twofactor_schema", [], |r| {
            r.get(0)
        })
        .map_err(StoreError::backend)?;
    let version = version.unwrap_or(0);
    if version > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(
            "database schema is newer than this library",
        ));
    }
    if version < 1 {
        tx.execute_batch(
            "CREATE TABLE twofactor_users (
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
            INSERT INTO twofactor_schema (version) VALUES (1);",
        )
        .map_err(StoreError::backend)?;
    }
    tx.commit().map_err(StoreError::backend)
}

fn read_user(row: &Row<'_>) -> rusqlite::Result<Result<StoredUser, StoreError>> {
    let status: String = row.get(2)?;
    let status = match StoredStatus::parse(&status) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let version: i64 = row.get(1)?;
    let failures: i64 = row.get(11)?;
    Ok(Ok(StoredUser {
        user_id: row.get(0)?,
        version: version as u64,
        cold: ColdFields {
            status,
            state: row.get(3)?,
            required: row.get(4)?,
            recovery_generation: row.get::<_, i64>(5)? as u64,
            recovery: row.get(6)?,
        },
        last_step: row.get::<_, Option<i64>>(7)?.map(ordered_from_sql),
        drift: row.get(8)?,
        last_used_at: row.get::<_, Option<i64>>(9)?.map(ordered_from_sql),
        recovery_used: row.get::<_, i64>(10)? as u64,
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        last_failure_at: row.get::<_, Option<i64>>(12)?.map(ordered_from_sql),
    }))
}

fn exists(conn: &Connection, user_id: &str) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT 1 FROM twofactor_users WHERE user_id = ?1",
        [user_id],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
    .map_err(StoreError::backend)
}

/// `Ok(true)` if the statement changed a row, `Ok(false)` if the user exists but the condition
/// failed, [`StoreError::NotFound`] if there is no such user.
fn changed_or_missing(
    conn: &Connection,
    user_id: &str,
    changed: usize,
) -> Result<bool, StoreError> {
    if changed > 0 {
        Ok(true)
    } else if exists(conn, user_id)? {
        Ok(false)
    } else {
        Err(StoreError::NotFound)
    }
}

impl SecretStore for SqliteStore {
    async fn get(&self, user_id: &str) -> Result<Option<StoredUser>, StoreError> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM twofactor_users WHERE user_id = ?1"),
                [&user_id],
                read_user,
            )
            .optional()
            .map_err(StoreError::backend)?
            .transpose()
        })
        .await
    }

    async fn insert(&self, user_id: &str, cold: &ColdFields) -> Result<u64, StoreError> {
        let (user_id, cold) = (user_id.to_owned(), cold.clone());
        self.write(move |conn| {
            let n = conn
                .execute(
                    "INSERT INTO twofactor_users (user_id, version, status, state, required,
                        recovery_generation, recovery, last_step, drift, last_used_at,
                        recovery_used, failures, last_failure_at)
                     VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, NULL, 0, NULL, 0, 0, NULL)
                     ON CONFLICT (user_id) DO NOTHING",
                    params![
                        user_id,
                        cold.status.as_str(),
                        cold.state,
                        cold.required,
                        cold.recovery_generation as i64,
                        cold.recovery
                    ],
                )
                .map_err(StoreError::backend)?;
            if n == 1 {
                Ok(1)
            } else {
                Err(StoreError::Conflict)
            }
        })
        .await
    }

    async fn replace(
        &self,
        user_id: &str,
        expected_version: u64,
        cold: &ColdFields,
        effects: ReplaceEffects,
    ) -> Result<u64, StoreError> {
        let (user_id, cold) = (user_id.to_owned(), cold.clone());
        self.write(move |conn| {
            let (accept, drift) = match effects.accept_step {
                Some((step, drift)) => (Some(ordered_to_sql(step)), drift),
                None => (None, 0),
            };
            // SET expressions all see the old row, so the mask test uses the old generation.
            let version: Option<i64> = conn
                .query_row(
                    "UPDATE twofactor_users SET
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
                     RETURNING version",
                    params![
                        user_id,
                        expected_version as i64,
                        cold.status.as_str(),
                        cold.state,
                        cold.required,
                        cold.recovery_generation as i64,
                        cold.recovery,
                        accept,
                        drift,
                        effects.reset_failures
                    ],
                    |r| r.get(0),
                )
                .optional()
                .map_err(StoreError::backend)?;
            match version {
                Some(v) => Ok(v as u64),
                None if exists(conn, &user_id)? => Err(StoreError::Conflict),
                None => Err(StoreError::NotFound),
            }
        })
        .await
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
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            let n = conn
                .execute(
                    "UPDATE twofactor_users SET failures = 0, last_failure_at = NULL
                     WHERE user_id = ?1",
                    [&user_id],
                )
                .map_err(StoreError::backend)?;
            if n == 1 {
                Ok(())
            } else {
                Err(StoreError::NotFound)
            }
        })
        .await
    }

    async fn delete(&self, user_id: &str) -> Result<bool, StoreError> {
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            conn.execute("DELETE FROM twofactor_users WHERE user_id = ?1", [&user_id])
                .map(|n| n == 1)
                .map_err(StoreError::backend)
        })
        .await
    }

    async fn list(
        &self,
        filter: ListFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredUser>, StoreError> {
        let after = after.map(str::to_owned);
        self.read(move |conn| {
            let condition = match filter {
                ListFilter::All => "",
                ListFilter::Active => "AND status = 'active'",
                ListFilter::NotActive => "AND status <> 'active'",
            };
            // Two statements rather than `(?1 IS NULL OR user_id > ?1)`, which the planner
            // cannot turn into a range on the primary key: a page costs the same wherever it
            // starts.
            let keyset = if after.is_some() {
                "user_id > ?1"
            } else {
                "?1 IS NULL"
            };
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM twofactor_users
                     WHERE {keyset} {condition}
                     ORDER BY user_id LIMIT ?2"
                ))
                .map_err(StoreError::backend)?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = stmt
                .query_map(params![after, limit], read_user)
                .map_err(StoreError::backend)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row.map_err(StoreError::backend)??);
            }
            Ok(out)
        })
        .await
    }
}

impl SqliteStore {
    async fn accept_step(
        &self,
        user_id: &str,
        expected_failures: u32,
        step: u64,
        drift: i64,
        at: u64,
    ) -> Result<bool, StoreError> {
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            let n = conn
                .execute(
                    "UPDATE twofactor_users SET last_step = ?2, drift = ?3, last_used_at = ?4,
                        failures = 0, last_failure_at = NULL
                     WHERE user_id = ?1 AND failures = ?5 AND (last_step IS NULL OR last_step < ?2)",
                    params![
                        user_id,
                        ordered_to_sql(step),
                        drift,
                        ordered_to_sql(at),
                        i64::from(expected_failures)
                    ],
                )
                .map_err(StoreError::backend)?;
            changed_or_missing(conn, &user_id, n)
        })
        .await
    }

    async fn consume_code(
        &self,
        user_id: &str,
        expected_failures: u32,
        generation: u64,
        index: u32,
        at: u64,
    ) -> Result<bool, StoreError> {
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            let Some(bit) = 1u64.checked_shl(index) else {
                return if exists(conn, &user_id)? {
                    Ok(false)
                } else {
                    Err(StoreError::NotFound)
                };
            };
            let n = conn
                .execute(
                    "UPDATE twofactor_users
                     SET recovery_used = recovery_used | ?3, last_used_at = ?4,
                         failures = 0, last_failure_at = NULL
                     WHERE user_id = ?1 AND recovery_generation = ?2
                       AND (recovery_used & ?3) = 0 AND failures = ?5",
                    params![
                        user_id,
                        generation as i64,
                        bit as i64,
                        ordered_to_sql(at),
                        i64::from(expected_failures)
                    ],
                )
                .map_err(StoreError::backend)?;
            changed_or_missing(conn, &user_id, n)
        })
        .await
    }

    async fn fail_attempt(
        &self,
        user_id: &str,
        expected_failures: u32,
        at: u64,
    ) -> Result<bool, StoreError> {
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            let n = conn
                .execute(
                    "UPDATE twofactor_users SET failures = failures + 1, last_failure_at = ?3
                     WHERE user_id = ?1 AND failures = ?2",
                    params![user_id, i64::from(expected_failures), ordered_to_sql(at)],
                )
                .map_err(StoreError::backend)?;
            changed_or_missing(conn, &user_id, n)
        })
        .await
    }
}
