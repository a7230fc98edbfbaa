//! An embedded SQLite store: one file, no server, bundled SQLite.
//!
//! Its SQL, and why each statement is atomic, are in [`super::sqlite_sql`], shared with the sqlx
//! driver: the two stores use the same tables and can open one database file together.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{Connection, Row, TransactionBehavior};

use super::sqlite_sql::{self, Columns, Param, SqliteTables, Statement, column_error, read_user};
use super::{
    Attempt, ColdFields, Decide, ListFilter, ReadSettled, ReplaceEffects, SecretStore, SettleOn,
    StoreError, StoredUser, settle_loop,
};

/// Read connections kept open for reuse.
const POOL_SIZE: usize = 4;

/// A [`SecretStore`] in a SQLite file.
///
/// - SQLite is compiled in (`rusqlite`'s `bundled`), so nothing needs installing.
/// - The schema is created and migrated on open; the file uses WAL journaling, so readers do not
///   block the writer, and several processes can share it. The table name is an option
///   ([`SqliteStore::open_with_table_name`]).
/// - Every atomic operation is a single SQL statement (`UPDATE … WHERE` on the condition, with
///   `RETURNING` where a value comes back), so it is atomic across connections and processes;
///   a crash never leaves a half-written record.
/// - The same tables, statements and semantics as `SqlxSqliteStore` (feature `sqlx-sqlite`), so
///   an application on sqlx can open the same file through its own `SqlitePool`.
/// - Writes in one process go through one connection, one at a time: SQLite admits one writer
///   anyway, and queueing in-process avoids its busy-wait sleeps. Reads use a small pool (WAL
///   lets them run beside the writer). Other processes on the same file are arbitrated by SQLite's
///   locking with a busy timeout.
/// - Blocking SQLite calls run on Tokio's blocking thread pool, so handlers stay responsive; a
///   Tokio runtime is required. A code login takes one hop there, for its write: its read, a
///   primary-key lookup of microseconds from cached pages, runs on the calling task when the
///   database is in WAL mode and the read need not wait for a lock (on a connection kept for
///   it, with a busy timeout of zero; otherwise it goes to the blocking pool). What can still
///   hold the task is the read itself: a page not in the OS cache (a disk read), and in rare
///   contention SQLite's own short retries when a read begins during a WAL checkpoint. A store
///   on a slow or network file system is better opened where those costs are known.
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
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The tables, and every statement on them.
    tables: SqliteTables,
    writer: Mutex<Option<Connection>>,
    idle: Mutex<Vec<Connection>>,
    /// The connection a login reads with on the calling task, busy timeout zero
    /// ([`SqliteStore::read_now`]).
    reader_now: Mutex<Option<Connection>>,
}

impl core::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("table", &self.inner.tables.table())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates its schema, with the
    /// default tables (`twofactor_users` and `twofactor_schema`).
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the file cannot be opened or migrated;
    /// [`StoreError::Schema`] if its schema is newer than this crate knows.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_tables(path.as_ref(), SqliteTables::default()).await
    }

    /// Like [`SqliteStore::open`], with the users table named `table` (the version table is
    /// then `<table>_schema`), for example to keep the 2FA records apart from a table of the
    /// same name in the application's database.
    ///
    /// # Errors
    /// As [`SqliteStore::open`], and [`StoreError::Corrupt`] for a name that is not 1 to 56 of
    /// `a-z`, `0-9`, `_` starting with a letter (the PostgreSQL stores' rule), or that starts
    /// with SQLite's reserved `sqlite_`.
    pub async fn open_with_table_name(
        path: impl AsRef<Path>,
        table: &str,
    ) -> Result<SqliteStore, StoreError> {
        let tables = SqliteTables::with_table_name(table)?;
        SqliteStore::open_tables(path.as_ref(), tables).await
    }

    async fn open_tables(path: &Path, tables: SqliteTables) -> Result<SqliteStore, StoreError> {
        let store = SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                tables,
                writer: Mutex::new(None),
                idle: Mutex::new(Vec::new()),
                reader_now: Mutex::new(None),
            }),
        };
        store.write(migrate).await?;
        let path = path.to_owned();
        let reader = tokio::task::spawn_blocking(move || {
            let conn = SqliteStore::connect(&path)?;
            conn.busy_timeout(Duration::ZERO)
                .map_err(StoreError::backend)?;
            // Reads on the calling task only where WAL holds (a file system without shared
            // memory may refuse it): there a reader takes no lock a writer holds.
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |row| row.get(0))
                .map_err(StoreError::backend)?;
            Ok::<_, StoreError>(mode.eq_ignore_ascii_case("wal").then_some(conn))
        })
        .await
        .map_err(StoreError::backend)??;
        *store.lock_reader_now() = reader;
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

    fn lock_reader_now(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
        self.inner
            .reader_now
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// A login's read on the calling task, when it cannot wait: `None` if it would (another
    /// task is reading with the connection, or SQLite is busy: a busy timeout of zero makes it
    /// fail at once) or failed, for the caller to read on the blocking pool instead. A read by
    /// primary key in WAL mode takes no lock a writer holds, so what is left is the read itself:
    /// microseconds, from pages the OS has cached.
    fn read_now(&self, user_id: &str) -> Option<Option<StoredUser>> {
        let slot = self.inner.reader_now.try_lock().ok()?;
        let conn = slot.as_ref()?;
        let users = query(conn, &self.inner.tables.get(user_id), |row| read_user(row)).ok()?;
        Some(users.into_iter().next())
    }

    /// Runs `f` on the process's single writer connection, on the blocking thread pool.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &SqliteTables) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            if writer.is_none() {
                *writer = Some(SqliteStore::connect(&inner.path)?);
            }
            match writer.as_mut() {
                Some(conn) => f(conn, &inner.tables),
                None => Err(StoreError::Corrupt("no writer connection")),
            }
        })
        .await
        .map_err(StoreError::backend)?
    }

    /// Runs `f` with a pooled read connection on the blocking thread pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &SqliteTables) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => SqliteStore::connect(&inner.path)?,
            };
            let result = f(&mut conn, &inner.tables);
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

/// Creates or migrates the tables in one immediate transaction (it takes the write lock before
/// reading the recorded version, so stores opening the file together migrate once).
fn migrate(conn: &mut Connection, tables: &SqliteTables) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::backend)?;
    tx.execute_batch(tables.create_version_table())
        .map_err(StoreError::backend)?;
    let version: Option<i64> = tx
        .query_row(tables.version(), [], |r| r.get(0))
        .map_err(StoreError::backend)?;
    if sqlite_sql::migration_needed(version)? {
        tx.execute_batch(tables.migration())
            .map_err(StoreError::backend)?;
    }
    tx.commit().map_err(StoreError::backend)
}

/// The statement's parameters as rusqlite binds them.
fn params<'p>(statement: &'p Statement<'_>) -> Vec<&'p dyn ToSql> {
    statement
        .params
        .iter()
        .map(|param| -> &'p dyn ToSql {
            match param {
                Param::Text(v) => v,
                Param::OptText(v) => v,
                Param::Int(v) => v,
                Param::OptInt(v) => v,
                Param::Bool(v) => v,
            }
        })
        .collect()
}

/// Runs a statement through the connection's prepared-statement cache; returns the rows it
/// wrote.
fn execute(conn: &Connection, statement: &Statement<'_>) -> Result<u64, StoreError> {
    let mut prepared = conn
        .prepare_cached(statement.sql)
        .map_err(StoreError::backend)?;
    let rows = prepared
        .execute(&*params(statement))
        .map_err(StoreError::backend)?;
    Ok(u64::try_from(rows).unwrap_or(u64::MAX))
}

/// Like [`execute`], reading every row the statement returns with `read` (to its end, so that a
/// `RETURNING` statement completes).
fn query<T>(
    conn: &Connection,
    statement: &Statement<'_>,
    mut read: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut prepared = conn
        .prepare_cached(statement.sql)
        .map_err(StoreError::backend)?;
    let mut rows = prepared
        .query(&*params(statement))
        .map_err(StoreError::backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(StoreError::backend)? {
        out.push(read(row)?);
    }
    Ok(out)
}

/// Whether the user has a record.
fn exists(conn: &Connection, tables: &SqliteTables, user_id: &str) -> Result<bool, StoreError> {
    Ok(!query(conn, &tables.exists(user_id), |_| Ok(()))?.is_empty())
}

impl Columns for Row<'_> {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.get(i).map_err(column_error)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.get(i).map_err(column_error)
    }

    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.get(i).map_err(column_error)
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.get(i).map_err(column_error)
    }

    fn boolean(&self, i: usize) -> Result<bool, StoreError> {
        self.get(i).map_err(column_error)
    }
}

/// A login on this store ([`SecretStore::read_and_settle`]): the read on the calling task when
/// it cannot wait ([`SqliteStore::read_now`]; otherwise on the blocking pool, as `get` reads),
/// the write on the writer connection, so one hop to the blocking pool in all.
struct Login<'a> {
    store: &'a SqliteStore,
    user_id: &'a str,
    at: u64,
}

impl SettleOn for Login<'_> {
    async fn read(&mut self) -> Result<Option<StoredUser>, StoreError> {
        match self.store.read_now(self.user_id) {
            Some(read) => Ok(read),
            None => self.store.get(self.user_id).await,
        }
    }

    async fn settle(
        &mut self,
        expected_failures: u32,
        attempt: Attempt,
    ) -> Result<bool, StoreError> {
        let (user_id, at) = (self.user_id.to_owned(), self.at);
        self.store
            .write(move |conn, tables| {
                Ok(
                    match tables.settle_attempt(&user_id, expected_failures, attempt, at) {
                        Some(statement) => execute(conn, &statement)? > 0,
                        None => false,
                    },
                )
            })
            .await
    }
}

impl SecretStore for SqliteStore {
    async fn get(&self, user_id: &str) -> Result<Option<StoredUser>, StoreError> {
        let user_id = user_id.to_owned();
        self.read(move |conn, tables| {
            let users = query(conn, &tables.get(&user_id), |row| read_user(row))?;
            Ok(users.into_iter().next())
        })
        .await
    }

    async fn insert(&self, user_id: &str, cold: &ColdFields) -> Result<u64, StoreError> {
        let (user_id, cold) = (user_id.to_owned(), cold.clone());
        let version = super::new_record_version()?;
        self.write(move |conn, tables| {
            let statement = tables.insert(&user_id, version, &cold);
            sqlite_sql::inserted(execute(conn, &statement)?, version)
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
        self.write(move |conn, tables| {
            let statement = tables.replace(&user_id, expected_version, &cold, effects);
            let versions = query(conn, &statement, |row| row.int(0))?;
            sqlite_sql::replaced(versions.first().copied())
                .resolve(|| exists(conn, tables, &user_id))
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
        let user_id = user_id.to_owned();
        self.write(move |conn, tables| {
            let rows = match tables.settle_attempt(&user_id, expected_failures, attempt, at) {
                Some(statement) => execute(conn, &statement)?,
                None => 0,
            };
            sqlite_sql::settled(rows).resolve(|| exists(conn, tables, &user_id))
        })
        .await
    }

    /// The read on the calling task when it cannot wait, the write on the blocking pool: one
    /// hop where `get` and `settle_attempt` take two.
    async fn read_and_settle(
        &self,
        user_id: &str,
        at: u64,
        decide: &mut Decide<'_>,
    ) -> Result<ReadSettled, StoreError> {
        let login = Login {
            store: self,
            user_id,
            at,
        };
        settle_loop(login, decide).await
    }

    async fn reset_failures(&self, user_id: &str) -> Result<(), StoreError> {
        let user_id = user_id.to_owned();
        self.write(move |conn, tables| {
            sqlite_sql::reset(execute(conn, &tables.reset_failures(&user_id))?)
        })
        .await
    }

    async fn delete(&self, user_id: &str) -> Result<bool, StoreError> {
        let user_id = user_id.to_owned();
        self.write(move |conn, tables| {
            Ok(sqlite_sql::deleted(execute(
                conn,
                &tables.delete(&user_id),
            )?))
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
        self.read(move |conn, tables| {
            query(conn, &tables.list(filter, after.as_deref(), limit), |row| {
                read_user(row)
            })
        })
        .await
    }
}
