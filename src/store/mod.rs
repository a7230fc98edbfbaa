//! Persistence behind [`SecretStore`], and the atomic operations that make the flow correct
//! across concurrent requests and processes.
//!
//! A record has *cold* fields, changed only by a compare-and-swap on the record's version
//! ([`SecretStore::replace`]), and *hot* fields, each changed by its own single atomic operation:
//!
//! | hot field | written by | why it must be atomic |
//! |---|---|---|
//! | last accepted step | [`SecretStore::settle_attempt`] with [`Attempt::AcceptStep`]: only if greater | two logins with one code: one wins (RFC 6238 §5.2) |
//! | used recovery codes | [`SecretStore::settle_attempt`] with [`Attempt::ConsumeRecoveryCode`]: only if unused | each code works once |
//! | consecutive failures | every [`SecretStore::settle_attempt`]: only if unchanged since read | concurrent guesses get their verdicts one at a time |
//!
//! A login is one read and one conditional write: the flow reads the record, decides (code
//! right or wrong), and settles the attempt with a compare-and-swap on the failure count it
//! read, which in the same statement accepts the step (or consumes the recovery code) and resets
//! the count, or records the failure. A write that loses the race is re-read and re-decided, and
//! its verdict is never revealed, so no number of concurrent requests gets more verdicts than
//! the throttling policy allows. A code login makes that whole loop one store call,
//! [`SecretStore::read_and_settle`], which a SQL store runs on one connection of its pool (one
//! acquisition, where a sqlx pool tests each connection it hands out with a round trip), and the
//! SQLite store with one hop to the blocking pool.
//!
//! `replace` never writes the hot fields (except to raise the last step, never lower it), so a
//! concurrent compare-and-swap cannot undo a replay step or a consumed code.
//!
//! Every backend, in this crate or outside it, proves itself with the same public conformance
//! kit (feature `conformance`, module [`conformance`]).

#[cfg(feature = "conformance")]
pub mod conformance;
mod dynamic;
mod memory;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "postgres", feature = "sqlx-postgres"))]
mod postgres_sql;
mod record;
#[cfg(any(
    feature = "sqlite",
    feature = "sqlx-sqlite",
    feature = "postgres",
    feature = "sqlx-postgres"
))]
mod sql;
#[cfg(any(
    feature = "sqlx-sqlite",
    feature = "postgres",
    feature = "sqlx-postgres"
))]
mod sql_login;
#[cfg(any(
    feature = "sqlite",
    feature = "sqlx-sqlite",
    feature = "postgres",
    feature = "sqlx-postgres"
))]
mod sql_statement;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(any(feature = "sqlite", feature = "sqlx-sqlite"))]
mod sqlite_sql;
#[cfg(feature = "sqlx-postgres")]
mod sqlx_postgres;
#[cfg(feature = "sqlx-sqlite")]
mod sqlx_sqlite;

pub use dynamic::{AnyStore, BoxFuture, DynSecretStore};
pub use memory::MemoryStore;
#[cfg(feature = "mysql")]
pub use mysql::{MYSQL_MIGRATION_0001, MySqlStore};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
#[cfg(any(feature = "postgres", feature = "sqlx-postgres"))]
pub use postgres_sql::POSTGRES_MIGRATION_0001;
pub use record::{
    Attempt, ColdFields, ListFilter, ReadSettled, ReplaceEffects, StoredStatus, StoredUser,
};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
#[cfg(any(feature = "sqlite", feature = "sqlx-sqlite"))]
pub use sqlite_sql::SQLITE_MIGRATION_0001;
#[cfg(feature = "sqlx-postgres")]
pub use sqlx_postgres::SqlxPostgresStore;
#[cfg(feature = "sqlx-sqlite")]
pub use sqlx_sqlite::SqlxSqliteStore;

use core::future::Future;

/// A storage failure. A backend's own error is boxed so that no database crate appears in this
/// crate's API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A compare-and-swap lost a race (the version changed), or an insert found the record
    /// already there. Re-read and decide again.
    #[error("the record changed concurrently")]
    Conflict,
    /// No record for this user.
    #[error("no such user record")]
    NotFound,
    /// A stored value could not be decoded.
    #[error("a stored record is corrupt: {0}")]
    Corrupt(&'static str),
    /// The database's tables are not at the schema version this library uses: never created
    /// (`found` is `None`), older (apply the shipped migrations, or call the store's `migrate`),
    /// or newer (a later version of this library migrated them). Returned by a store's
    /// `check_schema` and `migrate`, never by the [`SecretStore`] operations.
    #[error("{}", schema_mismatch(*.found, *.expected))]
    Schema {
        /// The version the database records, if it records one.
        found: Option<u64>,
        /// The version this library reads and writes.
        expected: u64,
    },
    /// The backend failed. `Display` shows the whole cause chain ("creating a connection: db
    /// error: database \"nosuchdb\" does not exist"), and [`source`](std::error::Error::source)
    /// returns the backend's error.
    #[error("storage backend error: {}", Chain(.0.as_ref()))]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Displays an error and each of its sources, joined by `: `, skipping a source whose text the
/// error already shows (drivers often repeat it).
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl core::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !shown.contains(&text) {
                write!(f, ": {text}")?;
                shown = text;
            }
            next = cause.source();
        }
        Ok(())
    }
}

/// [`StoreError::Schema`]'s message: what was found, and what to do about it.
fn schema_mismatch(found: Option<u64>, expected: u64) -> String {
    match found {
        None => format!(
            "the database has no twofactor schema (version {expected} needed): apply the \
             migrations or call migrate()"
        ),
        Some(v) if v < expected => format!(
            "the database schema is version {v}, older than this library's {expected}: apply \
             the migrations or call migrate()"
        ),
        Some(v) => format!(
            "the database schema is version {v}, newer than this library's {expected}: upgrade \
             the library"
        ),
    }
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Backend(Box::new(e))
    }
}

/// The version a new record starts at ([`SecretStore::insert`]): drawn from the operating system
/// generator, from 1 to 2^62, so that a record erased and created again does not repeat the
/// versions of the one erased (a collision within a record's life of changes has odds of about
/// its number of changes in 2^62). 2^62 leaves room for as many changes below the signed 64-bit
/// limit of SQL integers.
///
/// ```
/// let version = twofactor::store::new_record_version()?;
/// assert!((1..=1 << 62).contains(&version));
/// # Ok::<(), twofactor::store::StoreError>(())
/// ```
///
/// # Errors
/// [`StoreError::Backend`] if the operating system generator fails.
pub fn new_record_version() -> Result<u64, StoreError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(StoreError::backend)?;
    Ok((u64::from_le_bytes(bytes) >> 2).max(1))
}

/// Storage for enrolment records.
///
/// Implementations must make each operation atomic with respect to all others on the same user,
/// across every process sharing the store; the flow's replay prevention, single use of recovery
/// codes and exact throttling rest on it. Futures are `Send`, so a store can be used from any
/// async web framework.
pub trait SecretStore: Send + Sync {
    /// Reads a user's record.
    fn get(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<StoredUser>, StoreError>> + Send;

    /// Creates a record at a version drawn by [`new_record_version`], hot fields zero; returns
    /// that version.
    ///
    /// A version never repeats for a user id, even across [`SecretStore::delete`]: every
    /// compare-and-swap (`replace`, and the acceptances of [`SecretStore::settle_attempt`]) is
    /// conditioned on the version its caller read, and a record erased and created again must
    /// not take a write decided on the erased one. The conformance kit checks it
    /// (`delete_erases_everything`).
    ///
    /// Errors with [`StoreError::Conflict`] if a record exists.
    fn insert(
        &self,
        user_id: &str,
        cold: &ColdFields,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Compare-and-swap: if the record's version is `expected_version`, writes `cold`, applies
    /// `effects`, bumps the version and returns it; if `cold.recovery_generation` differs from the
    /// stored one, clears the used-code mask in the same step.
    ///
    /// Errors with [`StoreError::Conflict`] if the version differs, [`StoreError::NotFound`] if
    /// there is no record.
    fn replace(
        &self,
        user_id: &str,
        expected_version: u64,
        cold: &ColdFields,
        effects: ReplaceEffects,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Settles one checked attempt in a single atomic step, if the failure count is still
    /// `expected_failures` (the count the caller read before deciding) and the attempt's own
    /// condition holds:
    ///
    /// - [`Attempt::Failed`]: raises the failure count by one and sets the last failure time to
    ///   `at`;
    /// - [`Attempt::AcceptStep`]: only if the record is still at the attempt's `version` and
    ///   recovery `generation`, and `step` is greater than the last accepted step (or none is
    ///   stored): stores it with its drift, sets `last_used_at = at`, and resets the failure
    ///   count;
    /// - [`Attempt::ConsumeRecoveryCode`]: only if the record is still at `version`,
    ///   `generation` is current and code `index` is unused: marks it used, sets
    ///   `last_used_at = at`, and resets the failure count.
    ///
    /// The version condition is what makes a code checked against a record's secret count only
    /// on that record: a [`SecretStore::replace`] between the read and the write (a new device,
    /// a reset) makes the acceptance lose, and the caller's re-read finds the new record.
    ///
    /// Returns whether it did. `false` means a concurrent attempt (or change) came first: the
    /// caller re-reads, decides again, and never reveals the verdict of an attempt whose write
    /// lost. So a login is one read and one conditional write, and no burst of concurrent
    /// guesses gets more verdicts than the throttling policy allows: each verdict is one
    /// successful write on the count it was decided on.
    fn settle_attempt(
        &self,
        user_id: &str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// A login's read and conditional write as one operation: reads the user's record, asks
    /// `decide` for the attempt to settle on it (`None`: write nothing), and settles that attempt
    /// exactly as [`SecretStore::settle_attempt`] does, on the failure count just read. If the
    /// write loses (a concurrent attempt or change came first, or the record was deleted), reads
    /// again and asks `decide` again, so a verdict whose write lost is never settled; `decide`
    /// ends the retries by returning `None`.
    ///
    /// The provided method is that loop over [`SecretStore::get`] and
    /// [`SecretStore::settle_attempt`], correct for every store. A store overrides it only to
    /// run the same loop on one connection (one acquisition from its pool, one hop to a blocking
    /// thread), never to change what it does: the conformance kit checks the loop's outcomes
    /// and races. `decide` runs between the read and the write, maybe while the store holds a
    /// connection: it must be quick work on the CPU (the flow checks a code: microseconds), never
    /// I/O or a key derivation.
    fn read_and_settle<'d>(
        &self,
        user_id: &str,
        at: u64,
        decide: &mut Decide<'d>,
    ) -> impl Future<Output = Result<ReadSettled, StoreError>> + Send {
        async move {
            let on = PerCall {
                store: self,
                user_id,
                at,
            };
            settle_loop(on, decide).await
        }
    }

    /// Resets the consecutive failure count.
    fn reset_failures(&self, user_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a user's record, hot fields included (an erasure request, or an account
    /// deleted). Returns whether there was one. Afterwards the user reads as never enrolled.
    fn delete(&self, user_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Up to `limit` records in ascending user id order, starting after `after` (keyset
    /// pagination).
    fn list(
        &self,
        filter: ListFilter,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredUser>, StoreError>> + Send;
}

/// The decision [`SecretStore::read_and_settle`] asks for on each record it reads: the attempt
/// to settle on that record, or `None` to write nothing.
pub type Decide<'a> = dyn FnMut(&StoredUser) -> Option<Attempt> + Send + 'a;

/// One user's record as [`settle_loop`] reads and settles it: through the store's own calls
/// ([`PerCall`]), or on one connection a store holds for the whole loop.
trait SettleOn: Send {
    /// Reads the record.
    fn read(&mut self) -> impl Future<Output = Result<Option<StoredUser>, StoreError>> + Send;
    /// Settles `attempt` on the failure count `expected_failures`, as
    /// [`SecretStore::settle_attempt`] does. `Ok(false)` (or [`StoreError::NotFound`]) when it
    /// wrote nothing: the loop reads again, which tells a lost race from a deleted record.
    fn settle(
        &mut self,
        expected_failures: u32,
        attempt: Attempt,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// [`SecretStore::read_and_settle`]'s loop, written once for every store: read, decide, settle
/// on the count read; after a write that lost, read and decide again.
async fn settle_loop(
    mut on: impl SettleOn,
    decide: &mut Decide<'_>,
) -> Result<ReadSettled, StoreError> {
    // However `decide` behaves, and whatever a store's writes do, the loop ends: this many lost
    // writes in a row is a store that cannot settle, not contention.
    for _ in 0..SETTLE_LOOP_MAX {
        let Some(record) = on.read().await? else {
            return Ok(ReadSettled::Missing);
        };
        let Some(attempt) = decide(&record) else {
            return Ok(ReadSettled::Declined(record));
        };
        match on.settle(record.failures, attempt).await {
            Ok(true) => return Ok(ReadSettled::Settled(record, attempt)),
            // A concurrent write came first, or the record is gone: the next read tells.
            Ok(false) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict)
}

/// The most reads [`settle_loop`] makes before giving up with [`StoreError::Conflict`].
const SETTLE_LOOP_MAX: usize = 64;

/// The provided [`SecretStore::read_and_settle`]: each read and write a call of the store's.
struct PerCall<'a, S: ?Sized> {
    store: &'a S,
    user_id: &'a str,
    at: u64,
}

impl<S: SecretStore + ?Sized> SettleOn for PerCall<'_, S> {
    fn read(&mut self) -> impl Future<Output = Result<Option<StoredUser>, StoreError>> + Send {
        self.store.get(self.user_id)
    }

    fn settle(
        &mut self,
        expected_failures: u32,
        attempt: Attempt,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.store
            .settle_attempt(self.user_id, expected_failures, attempt, self.at)
    }
}
