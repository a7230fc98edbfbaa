//! What the flow decides by policy.

use super::throttle::ThrottlePolicy;
use crate::otp::{KdfParams, RecoveryConfig, TotpParams, Window};

/// How recovery codes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RecoveryStorage {
    /// Argon2id hashes only: nobody, not even the application, can read the codes back. The
    /// default, and what NIST SP 800-63B §5.1.2.2 describes.
    #[default]
    HashedOnly,
    /// Hashes for checking, plus the plain codes sealed with the key ring so the application can
    /// show them again ([`EnrollmentFlow::reveal_recovery_codes`](super::EnrollmentFlow::reveal_recovery_codes)), as some products do.
    ///
    /// **Weaker:** anyone holding the database *and* the encryption key can read every unused
    /// recovery code, a full second factor. Choose it only if showing the codes again is a
    /// product requirement, and guard the reveal call with fresh authentication.
    HashedAndEncrypted,
}

/// Everything the flow decides by policy. Build with [`FlowConfig::new`] and adjust the fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlowConfig {
    /// The issuer shown in authenticator apps (your product's name).
    pub issuer: String,
    /// Code parameters for new enrolments. The default (SHA-1, 6 digits, 30 s) is the only one
    /// every authenticator app honours. The epoch must be 0 (URIs cannot carry another).
    pub params: TotpParams,
    /// Window for logins (RFC 6238 §5.2: at most one step of network delay is recommended).
    pub window: Window,
    /// Window for the first code at confirmation, wider to learn the device's clock offset,
    /// which is stored as drift (RFC 6238 §6).
    pub confirm_window: Window,
    /// Bound on how far stored drift moves the login window.
    pub max_drift: u16,
    /// Steps either side within which a code valid outside the window is reported as
    /// [`FlowError::ClockSkew`](super::FlowError::ClockSkew) (never accepted). `0` turns it off.
    pub skew_diagnosis: u16,
    /// Seconds a begun enrolment stays confirmable.
    pub pending_ttl: u64,
    /// Recovery code count and length (at most 64 codes).
    pub recovery: RecoveryConfig,
    /// Argon2id cost for hashing recovery codes.
    pub kdf: KdfParams,
    /// Throttling of failed attempts.
    pub throttle: ThrottlePolicy,
    /// Whether recovery codes can be shown again (off by default; see [`RecoveryStorage`]).
    pub recovery_storage: RecoveryStorage,
    /// How many unused recovery codes count as running low (default 3): [`Status`] and every
    /// successful login say so, and [`AuditEvent::RecoveryCodesLow`] fires once when a
    /// recovery-code login leaves exactly this many. An application that wants to require
    /// regeneration sends the user there when it is reported.
    ///
    /// [`Status`]: super::Status
    /// [`AuditEvent::RecoveryCodesLow`]: super::AuditEvent::RecoveryCodesLow
    pub recovery_codes_low: usize,
    /// Seconds after a login during which its
    /// [`RecentVerification`](super::RecentVerification) authorises a sensitive change without
    /// a fresh code. `0` requires a fresh code every time.
    pub reauth_window: u64,
    /// The least key-derivation cost a stored recovery record may have (below it the record is
    /// refused: a planted or downgraded record). Records hashed with [`FlowConfig::kdf`] are
    /// always accepted.
    pub kdf_floor: KdfParams,
    /// The greatest key-derivation cost a stored recovery record may have (above it every guess
    /// would cost the server too much). Records hashed with [`FlowConfig::kdf`] are always
    /// accepted.
    pub kdf_ceiling: KdfParams,
    /// Seconds a trusted browser stays trusted when
    /// [`trust_browser`](super::EnrollmentFlow::trust_browser) is given no lifetime (default 30
    /// days).
    pub trusted_browser_lifetime: u64,
    /// The longest lifetime a trusted browser may be given (default 90 days); longer requests
    /// are shortened to it.
    pub trusted_browser_max_lifetime: u64,
    /// How many trusted browsers a user may hold (default 10, at most 50); trusting one more
    /// drops the oldest. `0` turns trusted browsers off.
    pub trusted_browsers_max: usize,
    /// How many authenticators a user may hold, the first included (default 5, at least 1, at
    /// most 16). Each one is another secret a guessed code may match: with `k` authenticators
    /// and a window of `w` steps either side, a random code of `d` digits passes with
    /// probability about `k * (2w + 1) / 10^d` (five authenticators at the default window:
    /// 1.5e-5 a guess instead of 3e-6).
    pub authenticators_max: usize,
    /// How many key derivations (a recovery code checked, a new set hashed) may be in flight in
    /// the process (default 64, at least 1): reserved by an operation, waiting for the crate's
    /// key-derivation thread (also when the request that queued one has gone) or running there.
    /// An operation of this flow that would take the count past this is refused at once with
    /// [`FlowError::Busy`](super::FlowError::Busy), before it checks, counts or writes anything.
    /// The count is the process's, shared by every flow in it. At the default cost a
    /// recovery-code check takes about a millisecond of one core, and hashing a set one per
    /// code: `docs/recovery-codes.md`.
    pub kdf_queue_max: usize,
}

impl FlowConfig {
    /// Defaults: SHA-1/6/30, login window ±1, confirmation window ±10 (five minutes each way),
    /// drift bound 10, skew diagnosis ±20 steps (ten minutes), pending enrolments valid 15
    /// minutes, 10 recovery codes of 80 bits hashed with [`KdfParams::default`] (Argon2id, 4 MiB, 1
    /// pass), [`ThrottlePolicy::default`], trusted browsers for 30 days (at most 90), 10 per user,
    /// at most 5 authenticators per user, at most 64 key derivations in flight.
    pub fn new(issuer: &str) -> FlowConfig {
        FlowConfig {
            issuer: issuer.to_owned(),
            params: TotpParams::default(),
            window: Window::DEFAULT,
            confirm_window: Window::symmetric(10),
            max_drift: 10,
            skew_diagnosis: 20,
            pending_ttl: 15 * 60,
            recovery: RecoveryConfig::default(),
            kdf: KdfParams::default(),
            throttle: ThrottlePolicy::default(),
            recovery_storage: RecoveryStorage::HashedOnly,
            recovery_codes_low: 3,
            reauth_window: 5 * 60,
            kdf_floor: KdfParams::FLOOR,
            kdf_ceiling: KdfParams::CEILING,
            trusted_browser_lifetime: 30 * 24 * 3600,
            trusted_browser_max_lifetime: 90 * 24 * 3600,
            trusted_browsers_max: 10,
            authenticators_max: 5,
            kdf_queue_max: 64,
        }
    }
}
