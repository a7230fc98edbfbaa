//! The record a store keeps per user: cold fields written by compare-and-swap, hot fields each
//! written by one atomic operation.

use super::StoreError;

/// Where a user is in the enrolment life cycle, as stored for listing and filtering.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

/// The cold fields, written together by [`SecretStore::insert`](super::SecretStore::insert) and [`SecretStore::replace`](super::SecretStore::replace).
///
/// `state` is the flow's encoding of the enrolment state: secrets in it are sealed with the key
/// ring, so it holds no plaintext secret. `recovery` is the hashed recovery code record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColdFields {
    /// Life-cycle status (for listing).
    pub status: StoredStatus,
    /// Encoded enrolment state (opaque to the store; sealed secrets only).
    pub state: String,
    /// The application requires this user to enrol.
    pub required: bool,
    /// Identifies the current recovery code set; a new value resets the used-code mask. With
    /// the version it also identifies the record: the flow starts every record it creates at a
    /// random generation, and a code is accepted only at both the version and the generation
    /// it was checked against ([`Attempt`]).
    pub recovery_generation: u64,
    /// The hashed recovery code record, if a set exists.
    pub recovery: Option<String>,
}

/// One user's full record as read from a store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

impl ColdFields {
    /// Cold fields with `status` and `state`, not required, recovery generation 0 and no recovery
    /// codes; set the other fields on the value. (A record created outside the flow, by a
    /// migration say, should take a random generation, as the flow's own do.)
    pub fn new(status: StoredStatus, state: String) -> ColdFields {
        ColdFields {
            status,
            state,
            required: false,
            recovery_generation: 0,
            recovery: None,
        }
    }
}

impl StoredUser {
    /// A record as a backend reads it: `user_id`, `version` and the cold fields, with the hot
    /// fields zero (no step accepted, no drift, no use, no recovery code used, no failures); a
    /// backend then sets the hot fields it read.
    ///
    /// ```
    /// use twofactor::store::{ColdFields, StoredStatus, StoredUser};
    ///
    /// let mut user = StoredUser::new("u1", 3, ColdFields::new(StoredStatus::NotEnrolled, String::new()));
    /// user.failures = 2;
    /// assert_eq!((user.version, user.last_step, user.failures), (3, None, 2));
    /// ```
    pub fn new(user_id: &str, version: u64, cold: ColdFields) -> StoredUser {
        StoredUser {
            user_id: user_id.to_owned(),
            version,
            cold,
            last_step: None,
            drift: 0,
            last_used_at: None,
            recovery_used: 0,
            failures: 0,
            last_failure_at: None,
        }
    }
}

/// What [`SecretStore::replace`](super::SecretStore::replace) may do besides writing the cold fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReplaceEffects {
    /// Raise the last accepted step to at least this value (never lowers it) and store this
    /// drift, as when a first code confirms a new secret.
    pub accept_step: Option<(u64, i64)>,
    /// Reset the failure count.
    pub reset_failures: bool,
}

/// Which users [`SecretStore::list`](super::SecretStore::list) returns.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ListFilter {
    /// Everyone with a record.
    #[default]
    All,
    /// Users with 2FA active.
    Active,
    /// Users without active 2FA (none or pending).
    NotActive,
}

/// The verdict on one checked attempt, settled by
/// [`SecretStore::settle_attempt`](super::SecretStore::settle_attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Attempt {
    /// Wrong, replayed, or otherwise refused: count a failure.
    Failed,
    /// A code of time step `step` (observed drift `drift`) is right: accept the step, if the
    /// record is still at `version` and `generation`.
    AcceptStep {
        /// The matched time step.
        step: u64,
        /// The device's drift at that step.
        drift: i64,
        /// The record version whose secret the code was checked against: a record replaced
        /// since (a new device, a reset, 2FA turned off) has another secret, so the step is
        /// not accepted on it.
        version: u64,
        /// The recovery generation of that record: a second identity of it (random for every
        /// record the flow creates), beside versions that never repeat for a user id.
        generation: u64,
    },
    /// Recovery code `index` of set `generation` is right: consume it, if the record is still
    /// at `version`.
    ConsumeRecoveryCode {
        /// The recovery code set the code belongs to.
        generation: u64,
        /// The code's index in the set.
        index: u32,
        /// The record version the code was checked against, as for [`Attempt::AcceptStep`].
        version: u64,
    },
}

/// What [`SecretStore::read_and_settle`](super::SecretStore::read_and_settle) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadSettled {
    /// The user has no record (at the first read, or at a read again after a lost write):
    /// nothing was written.
    Missing,
    /// `decide` returned `None` for this record, as read: nothing was written.
    Declined(StoredUser),
    /// `decide` returned this attempt for this record, as read, and it was settled on the
    /// record's failure count.
    Settled(StoredUser, Attempt),
}
