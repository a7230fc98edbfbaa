//! Why a flow operation did not succeed.

use super::import::ImportError;
use crate::otp::UriError;
use crate::seal::SealError;
use crate::store::StoreError;

/// Why a flow operation did not succeed.
///
/// For the person at the keyboard, [`FlowError::InvalidCode`] is deliberately opaque: a wrong
/// code, a replayed one and a used recovery code all read the same (the audit trail tells them
/// apart).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// The user has no active second factor.
    #[error("two-factor authentication is not enabled")]
    NotEnrolled,
    /// 2FA is already active: a new device needs [`EnrollmentFlow::begin_new_device`](super::EnrollmentFlow::begin_new_device), which
    /// asks for the current second factor.
    #[error("two-factor authentication is already enabled")]
    AlreadyEnrolled,
    /// Confirmation without a begun enrolment.
    #[error("no enrolment is in progress")]
    NoPendingEnrollment,
    /// The begun enrolment expired; begin again.
    #[error("the enrolment expired; start again")]
    EnrollmentExpired,
    /// The input is not shaped like a code or recovery code; nothing was checked or counted.
    #[error("enter the code from your authenticator app or a recovery code")]
    Malformed,
    /// Wrong, replayed or used. `retry_at`: the time from which the next attempt is checked,
    /// when this failure started a delay.
    #[error("invalid code")]
    InvalidCode {
        /// Unix time of the next checked attempt, if delayed.
        retry_at: Option<u64>,
    },
    /// The code is valid only `steps` time steps away: the device's clock is off. Counted as a
    /// failure; never accepted.
    #[error("invalid code: the authenticator's clock looks {steps} steps off")]
    ClockSkew {
        /// Steps off (positive: device ahead).
        steps: i64,
    },
    /// Refused unchecked: too many recent failures.
    #[error("too many attempts; try again later")]
    Throttled {
        /// Unix time from which the next attempt is checked.
        until: u64,
    },
    /// Refused unchecked: the account is locked after the failure limit.
    #[error("too many failed attempts; locked")]
    Locked {
        /// Unix time at which the lock ends.
        until: u64,
    },
    /// A sensitive change was asked for with neither a valid code or recovery code nor a
    /// recent-verification proof younger than the window: ask for the second factor.
    #[error("confirm with a code from your authenticator app or a recovery code")]
    ReauthRequired,
    /// 2FA cannot be turned off: the user is required to have it, and the deadline (if any) has
    /// passed. An administrator lifts the requirement first ([`EnrollmentFlow::admin_require`](super::EnrollmentFlow::admin_require)).
    #[error("two-factor authentication is required for this account")]
    EnrollmentRequired,
    /// The code typed for a sensitive change is the one just used to log in. Not counted as a
    /// failure (the request carried an authentic proof of that login): wait for the next code.
    #[error("that code was just used; wait for the next one")]
    CodeAlreadyUsed,
    /// The stored recovery record's key-derivation cost lies outside
    /// [`FlowConfig::kdf_floor`](super::FlowConfig::kdf_floor) and
    /// [`FlowConfig::kdf_ceiling`](super::FlowConfig::kdf_ceiling): planted, downgraded or
    /// tampered with. Nothing was checked or counted.
    #[error(
        "stored recovery codes have an unacceptable cost (m={memory_kib} KiB, t={iterations}, p={parallelism})"
    )]
    RecoveryCostOutOfBounds {
        /// Memory cost in KiB of the stored record.
        memory_kib: u32,
        /// Passes of the stored record.
        iterations: u32,
        /// Lanes of the stored record.
        parallelism: u32,
    },
    /// The user already has [`FlowConfig::authenticators_max`](super::FlowConfig) authenticators:
    /// remove one before adding another.
    #[error("at most {max} authenticators per user")]
    TooManyAuthenticators {
        /// The configured maximum.
        max: usize,
    },
    /// No authenticator of the user has this id.
    #[error("no such authenticator")]
    UnknownAuthenticator,
    /// The user's only authenticator cannot be removed: turn two-factor authentication off
    /// instead ([`EnrollmentFlow::disable`](super::EnrollmentFlow::disable)).
    #[error("the last authenticator cannot be removed; turn two-factor authentication off instead")]
    LastAuthenticator,
    /// The session's factor stamp is not the user's any more: their second factor changed (or
    /// was reset) since the session saw it. End the session
    /// ([`EnrollmentFlow::session_status`](super::EnrollmentFlow::session_status)).
    #[error("the session is older than the user's second factor; log in again")]
    StaleSession,
    /// Refused unchecked: [`FlowConfig::kdf_queue_max`](super::FlowConfig::kdf_queue_max) key
    /// derivations (recovery codes checked, new sets hashed) are already in flight. Refused
    /// before the operation checked, counted, consumed or wrote anything: try again shortly.
    /// Answer with status 503 and a short `Retry-After`; if it persists, rate-limit
    /// recovery-code attempts per client (`docs/recovery-codes.md`).
    #[error("too many key derivations are in flight; try again shortly")]
    Busy,
    /// A concurrent change won; re-read and try again.
    #[error("the record changed concurrently; try again")]
    Conflict,
    /// The configuration is invalid.
    #[error("invalid flow configuration: {0}")]
    Config(&'static str),
    /// The account name or issuer cannot be put in an otpauth URI.
    #[error("invalid account name or issuer: {0}")]
    Name(#[from] UriError),
    /// A stored secret could not be opened (missing key, or tampered record).
    #[error("stored secret unusable: {0}")]
    Seal(#[from] SealError),
    /// An import was refused before anything was written.
    #[error("import refused: {0}")]
    Import(#[from] ImportError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Randomness or key derivation failed.
    #[error("internal failure: {0}")]
    Internal(&'static str),
}
