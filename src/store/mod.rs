//! Persistence behind [`SecretStore`], and the atomic operations that make the flow correct
//! across concurrent requests and processes.
//!
//! A record has *cold* fields, changed only by a compare-and-swap on the record's version
//! ([`SecretStore::replace`]), and *hot* fields, each changed by its own single atomic operation:
//!
//! | hot field | operation | why it must be atomic |
//! |---|---|---|
//! | last accepted step | [`SecretStore::advance_step`]: only if greater | two logins with one code: one wins (RFC 6238 §5.2) |
//! | used recovery codes | [`SecretStore::consume_recovery_code`]: only if unused | each code works once |
//! | consecutive failures | [`SecretStore::reserve_attempt`]: only if unchanged | concurrent guesses pass the throttle one at a time |
//!
//! An attempt is counted *before* it is checked (a compare-and-swap on the failure count), and
//! a success resets the count in the same operation that accepts it, so no number of concurrent
//! requests gets more checked guesses than the throttling policy allows.
//!
//! `replace` never writes the hot fields (except to raise the last step, never lower it), so a
//! concurrent compare-and-swap cannot undo a replay step or a consumed code.
//!
//! Every backend passes the same conformance suite (`tests/store_conformance.rs`).

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

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
    /// The backend failed.
    #[error("storage backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Backend(Box::new(e))
    }
}

/// Where a user is in the enrolment life cycle, as stored for listing and filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoredStatus {
    /// No second factor.
    NotEnrolled,
    /// A secret was issued and awaits its first code.
    Pending,
    /// 2FA is on (possibly with a new device pending).
    Active,
}

impl StoredStatus {
    /// `none`, `pending` or `active`: the value backends store.
    pub fn as_str(self) -> &'static str {
        match self {
            StoredStatus::NotEnrolled => "none",
            StoredStatus::Pending => "pending",
            StoredStatus::Active => "active",
        }
    }

    /// Parses [`StoredStatus::as_str`]'s values.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`].
    pub fn parse(s: &str) -> Result<StoredStatus, StoreError> {
        match s {
            "none" => Ok(StoredStatus::NotEnrolled),
            "pending" => Ok(StoredStatus::Pending),
            "active" => Ok(StoredStatus::Active),
            _ => Err(StoreError::Corrupt("unknown status")),
        }
    }
}

/// The cold fields, written together by [`SecretStore::insert`] and [`SecretStore::replace`].
///
/// `state` is the flow's encoding of the enrolment state: secrets in it are sealed with the key
/// ring, so it holds no plaintext secret. `recovery` is the hashed recovery code record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdFields {
    /// Life-cycle status (for listing).
    pub status: StoredStatus,
    /// Encoded enrolment state (opaque to the store; sealed secrets only).
    pub state: String,
    /// The application requires this user to enrol.
    pub required: bool,
    /// Identifies the current recovery code set; a new value resets the used-code mask.
    pub recovery_generation: u64,
    /// The hashed recovery code record, if a set exists.
    pub recovery: Option<String>,
}

/// One user's full record as read from a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUser {
    /// The application's user id.
    pub user_id: String,
    /// Incremented by every `insert`/`replace`; the compare-and-swap token.
    pub version: u64,
    /// The cold fields.
    pub cold: ColdFields,
    /// Last accepted time step (hot).
    pub last_step: Option<u64>,
    /// Drift observed at the last accepted step (hot, written with it).
    pub drift: i64,
    /// When the second factor was last used successfully (hot, written with the step or a
    /// recovery code).
    pub last_used_at: Option<u64>,
    /// Bit `i` set: recovery code `i` of the current generation is used (hot).
    pub recovery_used: u64,
    /// Consecutive failed attempts (hot).
    pub failures: u32,
    /// Time of the last failed attempt (hot, written with `failures`).
    pub last_failure_at: Option<u64>,
}

/// What [`SecretStore::replace`] may do besides writing the cold fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplaceEffects {
    /// Raise the last accepted step to at least this value (never lowers it) and store this
    /// drift, as when a first code confirms a new secret.
    pub accept_step: Option<(u64, i64)>,
    /// Reset the failure count.
    pub reset_failures: bool,
}

/// Checks that a stored record's cold fields decode (enrolment state, sealed-secret framing,
/// recovery code record) and agree with each other, and returns them in canonical form. Useful
/// to audit a database, and what the flow relies on when it reads a record. Decrypts nothing.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the first problem.
pub fn check_record(cold: &ColdFields) -> Result<ColdFields, StoreError> {
    let state = crate::state::EnrollmentState::decode(&cold.state)?;
    if state.status() != cold.status {
        return Err(StoreError::Corrupt(
            "status disagrees with the enrolment state",
        ));
    }
    let recovery = match &cold.recovery {
        Some(text) => Some(
            text.parse::<crate::HashedRecoveryCodes>()
                .map_err(|_| StoreError::Corrupt("recovery codes"))?
                .encode(),
        ),
        None => None,
    };
    Ok(ColdFields {
        status: cold.status,
        state: state.encode(),
        required: cold.required,
        recovery_generation: cold.recovery_generation,
        recovery,
    })
}

/// Which users [`SecretStore::list`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ListFilter {
    /// Everyone with a record.
    #[default]
    All,
    /// Users with 2FA active.
    Active,
    /// Users without active 2FA (none or pending).
    NotActive,
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

    /// Creates a record (version 1, hot fields zero).
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

    /// Sets the last accepted step to `step` (with `drift` and `last_used_at = at`) only if it
    /// is greater than the stored one (or none is stored), and in the same step resets the
    /// failure count (a success). Returns whether it did: `false` means the step, or a later one,
    /// was already accepted.
    fn advance_step(
        &self,
        user_id: &str,
        step: u64,
        drift: i64,
        at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Marks recovery code `index` of set `generation` used (and `last_used_at = at`) only if the
    /// generation is current and the code unused, and in the same step resets the failure
    /// count. Returns whether it did.
    fn consume_recovery_code(
        &self,
        user_id: &str,
        generation: u64,
        index: u32,
        at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Counts an attempt before it is checked: if the failure count is still
    /// `expected_failures`, raises it by one and sets the last failure time to `at`. Returns
    /// whether it did; `false` means a concurrent attempt changed the count first (re-read and
    /// decide again).
    fn reserve_attempt(
        &self,
        user_id: &str,
        expected_failures: u32,
        at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Resets the consecutive failure count.
    fn reset_failures(&self, user_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` records in ascending user id order, starting after `after` (keyset
    /// pagination).
    fn list(
        &self,
        filter: ListFilter,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredUser>, StoreError>> + Send;
}

/// Maps a `u64` to an `i64` preserving order (SQL integers are signed): `0` becomes `i64::MIN`.
/// "Only if greater" comparisons in SQL then hold across the whole `u64` range.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn ordered_to_sql(x: u64) -> i64 {
    (x ^ (1 << 63)) as i64
}

/// The inverse of [`ordered_to_sql`].
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn ordered_from_sql(x: i64) -> u64 {
    (x as u64) ^ (1 << 63)
}

/// The schema version the SQL backends create and migrate to.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) const SCHEMA_VERSION: i64 = 1;

#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
mod tests {
    use super::*;

    #[test]
    fn the_sql_mapping_preserves_order() {
        let xs = [0, 1, 2, (1 << 63) - 1, 1 << 63, u64::MAX - 1, u64::MAX];
        for w in xs.windows(2) {
            assert!(ordered_to_sql(w[0]) < ordered_to_sql(w[1]));
        }
        for x in xs {
            assert_eq!(ordered_from_sql(ordered_to_sql(x)), x);
        }
    }
}
