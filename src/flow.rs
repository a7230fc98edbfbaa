//! The enrolment and verification flow an application calls from its login and settings pages.
//!
//! ```text
//! NotEnrolled --begin--> Pending --confirm(first code)--> Active (+ recovery codes, shown once)
//!      ^                                                   |  |
//!      |                 begin (new device) ---------------+  | verify: code or recovery code
//!      +---- disable(proof) / admin_reset -------------------+  | regenerate_recovery_codes(proof)
//! ```
//!
//! Every decision that must hold across concurrent requests is an atomic store operation: a code
//! is accepted only if the store advances the last step ([`SecretStore::advance_step`]), a
//! recovery code only if the store consumes it, failures are counted by the store, and state
//! changes are compare-and-swaps on the record version.

use zeroize::Zeroizing;

use crate::audit::{AuditEvent, AuditSink, NoAudit};
use crate::clock::{Clock, SystemClock};
use crate::code::parse_code;
use crate::seal::{KeyRing, RECOVERY_PURPOSE, SealError};
use crate::state::{Active, EnrollmentState, Pending};
use crate::store::{
    ColdFields, ListFilter, ReplaceEffects, SecretStore, StoreError, StoredStatus, StoredUser,
};
use crate::throttle::ThrottlePolicy;
use crate::{
    HashedRecoveryCodes, KdfParams, OtpAuthUri, RecoveryCodeSet, RecoveryConfig, RecoveryError,
    Secret, Totp, TotpParams, TotpState, UriError, VerifyError, Window,
};

/// How many times a flow operation re-reads and retries after losing a compare-and-swap to a
/// concurrent change before reporting [`FlowError::Conflict`].
const CAS_RETRIES: usize = 3;

/// How many times reserving an attempt re-reads after a concurrent attempt changed the failure
/// count first. Each lost race means another attempt was counted, so the gate closes quickly.
const ATTEMPT_RETRIES: usize = 64;

/// How recovery codes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RecoveryStorage {
    /// Argon2id hashes only: nobody, not even the application, can read the codes back. The
    /// default, and what NIST SP 800-63B §5.1.2.2 describes.
    #[default]
    HashedOnly,
    /// Hashes for checking, plus the plain codes sealed with the key ring so the application can
    /// show them again ([`EnrollmentFlow::reveal_recovery_codes`]), as some products do.
    ///
    /// **Weaker:** anyone holding the database *and* the encryption key can read every unused
    /// recovery code, a full second factor. Choose it only if showing the codes again is a
    /// product requirement, and guard the reveal call with fresh authentication.
    HashedAndEncrypted,
}

/// Everything the flow decides by policy. Build with [`FlowConfig::new`] and adjust the fields.
#[derive(Debug, Clone)]
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
    /// [`FlowError::ClockSkew`] (never accepted). `0` turns it off.
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
}

impl FlowConfig {
    /// Defaults: SHA-1/6/30, login window ±1, confirmation window ±10 (five minutes each way),
    /// drift bound 10, skew diagnosis ±20 steps (ten minutes), pending enrolments valid 15
    /// minutes, 10 recovery codes of 80 bits, OWASP Argon2id, [`ThrottlePolicy::default`].
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
        }
    }
}

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
    /// 2FA is already active: a new device needs [`EnrollmentFlow::begin_new_device`], which
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
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Randomness or key derivation failed.
    #[error("internal failure: {0}")]
    Internal(&'static str),
}

/// A begun enrolment: what the user needs to add the account to an authenticator app.
///
/// Holds the secret; show it only to the user enrolling.
#[derive(Debug)]
pub struct Enrollment {
    uri: OtpAuthUri,
    expires_at: u64,
    replacing: bool,
}

impl Enrollment {
    /// The otpauth URI (render it as a QR code).
    pub fn uri(&self) -> &OtpAuthUri {
        &self.uri
    }

    /// The URI text. **Security:** contains the secret.
    pub fn expose_uri(&self) -> Zeroizing<String> {
        self.uri.expose_uri()
    }

    /// The secret in groups of four, for typing by hand. **Security:** the secret itself.
    pub fn expose_manual_key(&self) -> Zeroizing<String> {
        self.uri.secret().expose_base32_grouped()
    }

    /// Unix time after which the enrolment can no longer be confirmed.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Whether this replaces an active device (which keeps working until confirmation).
    pub fn is_replacement(&self) -> bool {
        self.replacing
    }
}

/// The result of a confirmation.
#[derive(Debug)]
pub struct Confirmation {
    recovery_codes: Option<RecoveryCodeSet>,
    replaced_device: bool,
}

impl Confirmation {
    /// The new recovery codes, to show once: on a first enrolment. A new device keeps the
    /// existing codes, and this is `None`.
    pub fn recovery_codes(&self) -> Option<&RecoveryCodeSet> {
        self.recovery_codes.as_ref()
    }

    /// Takes the recovery codes out.
    pub fn into_recovery_codes(self) -> Option<RecoveryCodeSet> {
        self.recovery_codes
    }

    /// Whether an earlier device was replaced.
    pub fn replaced_device(&self) -> bool {
        self.replaced_device
    }
}

/// A recovery code read back with [`EnrollmentFlow::reveal_recovery_codes`]. `Debug` is
/// redacted.
pub struct RevealedRecoveryCode {
    code: Zeroizing<String>,
    used: bool,
}

impl core::fmt::Debug for RevealedRecoveryCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RevealedRecoveryCode")
            .field("code", &"[redacted]")
            .field("used", &self.used)
            .finish()
    }
}

impl RevealedRecoveryCode {
    /// The code as shown at issue (`XXXX-XXXX-XXXX-XXXX`). **Security:** a full second factor.
    pub fn expose(&self) -> &str {
        &self.code
    }

    /// Whether it was already used.
    pub fn is_used(&self) -> bool {
        self.used
    }
}

/// Which second factor passed a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginFactor {
    /// An authenticator code.
    Code,
    /// A recovery code; `remaining` are left.
    RecoveryCode {
        /// Unused recovery codes left.
        remaining: usize,
    },
}

/// Where a user is in the life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnrollmentStatus {
    /// No second factor.
    NotEnrolled,
    /// A secret was issued and awaits its first code.
    Pending {
        /// When the enrolment began.
        since: u64,
        /// When the enrolment stops being confirmable.
        expires_at: u64,
    },
    /// 2FA is on.
    Active {
        /// When the current device was confirmed.
        since: u64,
        /// A new device was begun and awaits confirmation.
        replacement_pending: bool,
    },
}

/// A user's 2FA status, never with a secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Status {
    /// The user.
    pub user_id: String,
    /// Life-cycle state.
    pub enrollment: EnrollmentStatus,
    /// The application requires this user to enrol.
    pub required: bool,
    /// Last successful use of the second factor.
    pub last_used_at: Option<u64>,
    /// Unused recovery codes (when active).
    pub recovery_codes_left: Option<usize>,
    /// Consecutive failed attempts.
    pub failures: u32,
    /// Until when attempts are refused unchecked, if now.
    pub locked_until: Option<u64>,
}

impl Status {
    /// Whether 2FA is on.
    pub fn is_active(&self) -> bool {
        matches!(self.enrollment, EnrollmentStatus::Active { .. })
    }
}

/// The enrolment and verification flow over a [`SecretStore`], keyed by the application's user
/// id.
///
/// ```
/// use twofactor::{EncryptionKey, EnrollmentFlow, FlowConfig, KeyRing, LoginFactor, MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// // The key comes from your secret manager: `EncryptionKey::from_base64(1, &env_value)`.
/// let keys = KeyRing::new(EncryptionKey::generate(1)?);
/// let flow = EnrollmentFlow::new(MemoryStore::new(), keys, FlowConfig::new("Example Co"))?;
///
/// // Settings page: begin, show the QR code (enrollment.expose_uri()) and the manual key.
/// let enrollment = flow.begin("user-42", "alice@example.com").await?;
/// // The user's app computes the first code; here we play the app.
/// let app = enrollment.uri().to_totp().expect("a TOTP URI");
/// let confirmed = flow.confirm("user-42", app.generate_now()?.as_str()).await?;
/// let codes = confirmed.recovery_codes().expect("issued on first enrolment"); // show once
///
/// // Login page, second step: a code or a recovery code.
/// let factor = flow.verify("user-42", &codes.codes()[0].expose()).await?;
/// assert_eq!(factor, LoginFactor::RecoveryCode { remaining: 9 });
/// assert!(flow.status("user-42").await?.is_active());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct EnrollmentFlow<S, C = SystemClock, A = NoAudit> {
    store: S,
    keys: KeyRing,
    config: FlowConfig,
    clock: C,
    audit: A,
}

impl<S: SecretStore> EnrollmentFlow<S> {
    /// A flow over `store`, sealing secrets with `keys`.
    ///
    /// # Errors
    /// [`FlowError::Config`] if the epoch is not 0, more than 64 recovery codes are configured,
    /// or the issuer cannot appear in a URI.
    pub fn new(store: S, keys: KeyRing, config: FlowConfig) -> Result<Self, FlowError> {
        if config.params.epoch != 0 {
            return Err(FlowError::Config("otpauth URIs require epoch 0"));
        }
        if config.recovery.count() > 64 {
            return Err(FlowError::Config("at most 64 recovery codes per set"));
        }
        if config.pending_ttl == 0 {
            return Err(FlowError::Config("pending_ttl must be positive"));
        }
        // Validate the issuer once, with any account name.
        let probe = Secret::from_bytes(&[0; 16]).map_err(|_| FlowError::Internal("probe"))?;
        OtpAuthUri::totp(probe, "probe")?.with_issuer(&config.issuer)?;
        Ok(EnrollmentFlow {
            store,
            keys,
            config,
            clock: SystemClock,
            audit: NoAudit,
        })
    }
}

impl<S: SecretStore, C: Clock, A: AuditSink> EnrollmentFlow<S, C, A> {
    /// Uses another clock (tests, simulations).
    pub fn with_clock<C2: Clock>(self, clock: C2) -> EnrollmentFlow<S, C2, A> {
        EnrollmentFlow {
            store: self.store,
            keys: self.keys,
            config: self.config,
            clock,
            audit: self.audit,
        }
    }

    /// Sends audit events to `audit`.
    pub fn with_audit<A2: AuditSink>(self, audit: A2) -> EnrollmentFlow<S, C, A2> {
        EnrollmentFlow {
            store: self.store,
            keys: self.keys,
            config: self.config,
            clock: self.clock,
            audit,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    fn emit(&self, event: AuditEvent) {
        self.audit.record(&event);
    }

    /// A user's status.
    ///
    /// # Errors
    /// [`FlowError::Store`].
    pub async fn status(&self, user_id: &str) -> Result<Status, FlowError> {
        let now = self.clock.now();
        match self.store.get(user_id).await? {
            Some(record) => self.status_of(&record, now),
            None => Ok(Status {
                user_id: user_id.to_owned(),
                enrollment: EnrollmentStatus::NotEnrolled,
                required: false,
                last_used_at: None,
                recovery_codes_left: None,
                failures: 0,
                locked_until: None,
            }),
        }
    }

    fn status_of(&self, record: &StoredUser, now: u64) -> Result<Status, FlowError> {
        let state = EnrollmentState::decode(&record.cold.state)?;
        let enrollment = match &state {
            EnrollmentState::NotEnrolled => EnrollmentStatus::NotEnrolled,
            EnrollmentState::Pending(p) => EnrollmentStatus::Pending {
                since: p.started_at,
                expires_at: p.expires_at,
            },
            EnrollmentState::Active {
                active,
                replacement,
            } => EnrollmentStatus::Active {
                since: active.since,
                replacement_pending: replacement.as_ref().is_some_and(|p| p.expires_at > now),
            },
        };
        let recovery_codes_left = match (&state, &record.cold.recovery) {
            (EnrollmentState::Active { .. }, Some(text)) => {
                Some(recovery_set(text, record.recovery_used)?.remaining())
            }
            _ => None,
        };
        Ok(Status {
            user_id: record.user_id.clone(),
            enrollment,
            required: record.cold.required,
            last_used_at: record.last_used_at,
            recovery_codes_left,
            failures: record.failures,
            locked_until: self
                .config
                .throttle
                .next_attempt(record.failures, record.last_failure_at)
                .map(|(until, _)| until)
                .filter(|&until| until > now),
        })
    }

    /// Begins an enrolment: a new secret, its URI and manual key. Replaces a pending one.
    ///
    /// # Errors
    /// [`FlowError::AlreadyEnrolled`] if 2FA is active (use
    /// [`EnrollmentFlow::begin_new_device`]); [`FlowError::Name`] if `account_name` cannot appear
    /// in a URI; store and seal errors.
    pub async fn begin(&self, user_id: &str, account_name: &str) -> Result<Enrollment, FlowError> {
        self.begin_inner(user_id, account_name, false).await
    }

    /// Begins enrolling a new device for a user with 2FA active. Requires a valid code or
    /// recovery code now (consumed), as changing the device is as sensitive as turning 2FA off
    /// (OWASP). The current device keeps working until the new one is confirmed with
    /// [`EnrollmentFlow::confirm`].
    ///
    /// # Errors
    /// As [`EnrollmentFlow::verify`] for the proof, then as [`EnrollmentFlow::begin`].
    pub async fn begin_new_device(
        &self,
        user_id: &str,
        account_name: &str,
        proof: &str,
    ) -> Result<Enrollment, FlowError> {
        self.prove(user_id, proof).await?;
        self.begin_inner(user_id, account_name, true).await
    }

    async fn begin_inner(
        &self,
        user_id: &str,
        account_name: &str,
        allow_replacement: bool,
    ) -> Result<Enrollment, FlowError> {
        let now = self.clock.now();
        let params = self.config.params;
        let secret = Secret::generate(params.algorithm).map_err(|_| FlowError::Internal("rng"))?;
        let uri = OtpAuthUri::totp(secret, account_name)?
            .with_issuer(&self.config.issuer)?
            .with_algorithm(params.algorithm)
            .with_digits(params.digits)
            .with_period(params.period);
        let pending = Pending {
            sealed: self.keys.seal(user_id, uri.secret())?,
            params,
            started_at: now,
            expires_at: now.saturating_add(self.config.pending_ttl),
        };
        for _ in 0..CAS_RETRIES {
            let result = match self.store.get(user_id).await? {
                None => {
                    let state = EnrollmentState::NotEnrolled.begin(pending.clone());
                    let cold = ColdFields {
                        status: state.status(),
                        state: state.encode(),
                        required: false,
                        recovery_generation: 0,
                        recovery: None,
                    };
                    self.store.insert(user_id, &cold).await.map(|_| false)
                }
                Some(record) => {
                    let state = EnrollmentState::decode(&record.cold.state)?;
                    let replacing = state.active().is_some();
                    if replacing && !allow_replacement {
                        return Err(FlowError::AlreadyEnrolled);
                    }
                    let state = state.begin(pending.clone());
                    let cold = ColdFields {
                        status: state.status(),
                        state: state.encode(),
                        ..record.cold.clone()
                    };
                    self.store
                        .replace(user_id, record.version, &cold, ReplaceEffects::default())
                        .await
                        .map(|_| replacing)
                }
            };
            match result {
                Ok(replacing) => {
                    self.emit(AuditEvent::EnrollmentStarted {
                        user_id: user_id.to_owned(),
                        replacing,
                    });
                    return Ok(Enrollment {
                        uri,
                        expires_at: pending.expires_at,
                        replacing,
                    });
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlowError::Conflict)
    }

    /// The enrolment in progress, to show its QR code and key again (after a wrong first code or
    /// a page reload) without issuing a new secret. `None` if nothing is pending or it expired.
    ///
    /// # Errors
    /// [`FlowError::Name`] for an invalid account name; seal and store errors.
    pub async fn resume(
        &self,
        user_id: &str,
        account_name: &str,
    ) -> Result<Option<Enrollment>, FlowError> {
        let now = self.clock.now();
        let Some(record) = self.store.get(user_id).await? else {
            return Ok(None);
        };
        let state = EnrollmentState::decode(&record.cold.state)?;
        let replacing = state.active().is_some();
        let Some(pending) = state.pending().filter(|p| now < p.expires_at) else {
            return Ok(None);
        };
        let secret = self.keys.open(user_id, &pending.sealed)?;
        let uri = OtpAuthUri::totp(secret, account_name)?
            .with_issuer(&self.config.issuer)?
            .with_algorithm(pending.params.algorithm)
            .with_digits(pending.params.digits)
            .with_period(pending.params.period);
        Ok(Some(Enrollment {
            uri,
            expires_at: pending.expires_at,
            replacing,
        }))
    }

    /// Confirms the pending secret with the first code from the user's app: activates it, burns
    /// that code's step (it cannot be replayed as a login), stores the observed clock drift, and
    /// on a first enrolment issues recovery codes (returned once, stored hashed).
    ///
    /// # Errors
    /// [`FlowError::NoPendingEnrollment`], [`FlowError::EnrollmentExpired`],
    /// [`FlowError::Malformed`], [`FlowError::InvalidCode`], [`FlowError::Throttled`],
    /// [`FlowError::Locked`], [`FlowError::Conflict`] (a concurrent begin or confirm won).
    pub async fn confirm(&self, user_id: &str, code: &str) -> Result<Confirmation, FlowError> {
        let now = self.clock.now();
        let record = self
            .store
            .get(user_id)
            .await?
            .ok_or(FlowError::NoPendingEnrollment)?;
        let state = EnrollmentState::decode(&record.cold.state)?;
        let pending = state
            .pending()
            .ok_or(FlowError::NoPendingEnrollment)?
            .clone();
        if now >= pending.expires_at {
            return Err(FlowError::EnrollmentExpired);
        }
        if parse_code(code, pending.params.digits).is_err() {
            return Err(FlowError::Malformed);
        }
        let (record, attempt) = self.reserve(record, now).await?;
        let secret = self.keys.open(user_id, &pending.sealed)?;
        let totp = Totp::new(&secret, pending.params)
            .with_window(self.config.confirm_window)
            .with_max_drift(0);
        // A new secret has no accepted step yet; the stored last step is raised below.
        let accepted = match totp.verify(code, now, &TotpState::default()) {
            Ok(m) => m,
            Err(_) => return Err(self.failed(user_id, attempt, now)),
        };
        let replaced = state.active().is_some();
        let state = state.confirm(now).ok_or(FlowError::NoPendingEnrollment)?;
        let (generation, recovery, issued, state) = if replaced {
            (
                record.cold.recovery_generation,
                record.cold.recovery.clone(),
                None,
                state,
            )
        } else {
            let set = self.new_recovery_set()?;
            let hashed = set
                .hash(&self.config.kdf)
                .map_err(|_| FlowError::Internal("recovery code hashing"))?;
            let state = state.with_revealable(self.seal_codes(user_id, &set)?);
            (
                record.cold.recovery_generation.wrapping_add(1),
                Some(hashed.encode()),
                Some(set),
                state,
            )
        };
        let cold = ColdFields {
            status: state.status(),
            state: state.encode(),
            required: record.cold.required,
            recovery_generation: generation,
            recovery,
        };
        let effects = ReplaceEffects {
            accept_step: Some((accepted.step, accepted.drift)),
            reset_failures: true,
        };
        match self
            .store
            .replace(user_id, record.version, &cold, effects)
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict) => return Err(FlowError::Conflict),
            Err(e) => return Err(e.into()),
        }
        self.emit(AuditEvent::EnrollmentConfirmed {
            user_id: user_id.to_owned(),
            replaced,
        });
        Ok(Confirmation {
            recovery_codes: issued,
            replaced_device: replaced,
        })
    }

    /// Verifies a login's second factor: an authenticator code or a recovery code, told apart by
    /// shape (only digits, as many as the code has: a code; anything else: a recovery code,
    /// which is always longer and has letters or more digits).
    ///
    /// A code is accepted once: the store advances the last accepted step atomically, so two
    /// concurrent requests with the same code cannot both succeed. A recovery code is consumed
    /// atomically. Failures are counted and throttled; during a delay attempts are refused
    /// unchecked.
    ///
    /// # Errors
    /// [`FlowError::NotEnrolled`], [`FlowError::Malformed`], [`FlowError::InvalidCode`],
    /// [`FlowError::ClockSkew`], [`FlowError::Throttled`], [`FlowError::Locked`], store and seal
    /// errors.
    pub async fn verify(&self, user_id: &str, input: &str) -> Result<LoginFactor, FlowError> {
        if looks_like_code(input, self.config.params.digits.get()) {
            self.verify_code(user_id, input).await
        } else {
            self.verify_recovery_code(user_id, input).await
        }
    }

    /// Verifies an authenticator code only. See [`EnrollmentFlow::verify`].
    ///
    /// # Errors
    /// As [`EnrollmentFlow::verify`].
    pub async fn verify_code(&self, user_id: &str, code: &str) -> Result<LoginFactor, FlowError> {
        let (record, active) = self.active_record(user_id).await?;
        if parse_code(code, active.params.digits).is_err() {
            return Err(FlowError::Malformed);
        }
        let now = self.clock.now();
        let (record, attempt) = self.reserve(record, now).await?;
        self.check_code(&record, &active, code, now, attempt)
            .await?;
        self.emit(AuditEvent::LoginWithCode {
            user_id: user_id.to_owned(),
        });
        Ok(LoginFactor::Code)
    }

    /// Verifies a recovery code only. See [`EnrollmentFlow::verify`].
    ///
    /// # Errors
    /// As [`EnrollmentFlow::verify`].
    pub async fn verify_recovery_code(
        &self,
        user_id: &str,
        code: &str,
    ) -> Result<LoginFactor, FlowError> {
        let (record, _) = self.active_record(user_id).await?;
        recovery_shape(&record, code)?;
        let now = self.clock.now();
        let (record, attempt) = self.reserve(record, now).await?;
        let remaining = self
            .check_recovery_code(&record, code, now, attempt)
            .await?;
        self.emit(AuditEvent::LoginWithRecoveryCode {
            user_id: user_id.to_owned(),
            remaining,
        });
        Ok(LoginFactor::RecoveryCode { remaining })
    }

    /// Turns 2FA off. Requires a valid code or recovery code now (which is consumed), not just a
    /// session.
    ///
    /// # Errors
    /// As [`EnrollmentFlow::verify`], and [`FlowError::Conflict`].
    pub async fn disable(&self, user_id: &str, proof: &str) -> Result<(), FlowError> {
        let record = self.prove(user_id, proof).await?;
        let cold = ColdFields {
            status: StoredStatus::NotEnrolled,
            state: EnrollmentState::NotEnrolled.encode(),
            required: record.cold.required,
            recovery_generation: record.cold.recovery_generation.wrapping_add(1),
            recovery: None,
        };
        self.replace_or_conflict(&record, &cold, true).await?;
        self.emit(AuditEvent::Disabled {
            user_id: user_id.to_owned(),
        });
        Ok(())
    }

    /// Replaces the recovery codes with a new set (returned once). Requires a valid code or
    /// recovery code now. Every old code stops working.
    ///
    /// # Errors
    /// As [`EnrollmentFlow::verify`], and [`FlowError::Conflict`].
    pub async fn regenerate_recovery_codes(
        &self,
        user_id: &str,
        proof: &str,
    ) -> Result<RecoveryCodeSet, FlowError> {
        let record = self.prove(user_id, proof).await?;
        let set = self.new_recovery_set()?;
        let hashed = set
            .hash(&self.config.kdf)
            .map_err(|_| FlowError::Internal("recovery code hashing"))?;
        let state = EnrollmentState::decode(&record.cold.state)?
            .with_revealable(self.seal_codes(user_id, &set)?);
        let cold = ColdFields {
            state: state.encode(),
            recovery_generation: record.cold.recovery_generation.wrapping_add(1),
            recovery: Some(hashed.encode()),
            ..record.cold.clone()
        };
        self.replace_or_conflict(&record, &cold, false).await?;
        self.emit(AuditEvent::RecoveryCodesRegenerated {
            user_id: user_id.to_owned(),
        });
        Ok(set)
    }

    /// Reads the current recovery codes back, with which are used. Available only with
    /// [`RecoveryStorage::HashedAndEncrypted`]; guard it with fresh authentication.
    ///
    /// # Errors
    /// [`FlowError::NotEnrolled`]; [`FlowError::Config`] when codes are stored hashed only (or
    /// were issued before the option was turned on); seal and store errors.
    pub async fn reveal_recovery_codes(
        &self,
        user_id: &str,
    ) -> Result<Vec<RevealedRecoveryCode>, FlowError> {
        if self.config.recovery_storage != RecoveryStorage::HashedAndEncrypted {
            return Err(FlowError::Config("recovery codes are stored hashed only"));
        }
        let (record, active) = self.active_record(user_id).await?;
        let sealed = active.revealable.ok_or(FlowError::Config(
            "these recovery codes were stored hashed only",
        ))?;
        let plain = self.keys.open_data(RECOVERY_PURPOSE, user_id, &sealed)?;
        let text = core::str::from_utf8(&plain).map_err(|_| SealError::Malformed)?;
        Ok(text
            .split('\n')
            .enumerate()
            .map(|(i, code)| RevealedRecoveryCode {
                code: Zeroizing::new(code.to_owned()),
                used: i < 64 && record.recovery_used & (1u64 << i) != 0,
            })
            .collect())
    }

    /// Lists users with their status, in user id order, `limit` at a time after `after`. Never
    /// exposes a secret. Guard it with the application's admin permission check.
    ///
    /// # Errors
    /// Store errors.
    pub async fn admin_list(
        &self,
        filter: ListFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Status>, FlowError> {
        let now = self.clock.now();
        self.store
            .list(filter, after, limit)
            .await?
            .iter()
            .map(|record| self.status_of(record, now))
            .collect()
    }

    /// Removes a user's second factor and recovery codes and clears throttling, as when an
    /// administrator has verified the user's identity another way.
    ///
    /// # Errors
    /// Store errors; [`FlowError::Conflict`] only if changes keep racing.
    pub async fn admin_reset(&self, user_id: &str) -> Result<(), FlowError> {
        self.update_cold(user_id, |cold| ColdFields {
            status: StoredStatus::NotEnrolled,
            state: EnrollmentState::NotEnrolled.encode(),
            required: cold.required,
            recovery_generation: cold.recovery_generation.wrapping_add(1),
            recovery: None,
        })
        .await?;
        self.emit(AuditEvent::AdminReset {
            user_id: user_id.to_owned(),
        });
        Ok(())
    }

    /// Marks a user as required to enrol (the application's "2FA is mandatory" policy), or not.
    /// Read it back with [`EnrollmentFlow::status`].
    ///
    /// # Errors
    /// Store errors.
    pub async fn admin_set_required(&self, user_id: &str, required: bool) -> Result<(), FlowError> {
        self.update_cold(user_id, |cold| ColdFields {
            required,
            ..cold.clone()
        })
        .await
    }

    /// Re-encrypts the user's stored secrets under the key ring's current key. Returns whether
    /// anything changed.
    ///
    /// # Errors
    /// Seal and store errors.
    pub async fn reseal(&self, user_id: &str) -> Result<bool, FlowError> {
        for _ in 0..CAS_RETRIES {
            let Some(record) = self.store.get(user_id).await? else {
                return Ok(false);
            };
            let mut state = EnrollmentState::decode(&record.cold.state)?;
            let mut changed = false;
            for sealed in state.sealed_mut() {
                if self.keys.needs_reseal(sealed) {
                    *sealed = self.keys.reseal(user_id, sealed)?;
                    changed = true;
                }
            }
            if let Some(sealed) = state.revealable_mut()
                && self.keys.needs_reseal(sealed)
            {
                *sealed = self.keys.reseal_data(RECOVERY_PURPOSE, user_id, sealed)?;
                changed = true;
            }
            if !changed {
                return Ok(false);
            }
            let cold = ColdFields {
                state: state.encode(),
                ..record.cold.clone()
            };
            match self
                .store
                .replace(user_id, record.version, &cold, ReplaceEffects::default())
                .await
            {
                Ok(_) => return Ok(true),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlowError::Conflict)
    }

    /// Re-encrypts every user's secrets under the current key, page by page. Returns how many
    /// records changed.
    ///
    /// # Errors
    /// As [`EnrollmentFlow::reseal`].
    pub async fn reseal_all(&self) -> Result<usize, FlowError> {
        let mut after: Option<String> = None;
        let mut changed = 0;
        loop {
            let page = self
                .store
                .list(ListFilter::All, after.as_deref(), 100)
                .await?;
            let Some(last) = page.last() else {
                return Ok(changed);
            };
            after = Some(last.user_id.clone());
            for record in &page {
                if self.reseal(&record.user_id).await? {
                    changed += 1;
                }
            }
        }
    }

    // ---- internals ----

    async fn update_cold(
        &self,
        user_id: &str,
        change: impl Fn(&ColdFields) -> ColdFields,
    ) -> Result<(), FlowError> {
        for _ in 0..CAS_RETRIES {
            let result = match self.store.get(user_id).await? {
                None => {
                    let blank = ColdFields {
                        status: StoredStatus::NotEnrolled,
                        state: EnrollmentState::NotEnrolled.encode(),
                        required: false,
                        recovery_generation: 0,
                        recovery: None,
                    };
                    self.store.insert(user_id, &change(&blank)).await
                }
                Some(record) => {
                    let effects = ReplaceEffects {
                        accept_step: None,
                        reset_failures: true,
                    };
                    self.store
                        .replace(user_id, record.version, &change(&record.cold), effects)
                        .await
                }
            };
            match result {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlowError::Conflict)
    }

    async fn replace_or_conflict(
        &self,
        record: &StoredUser,
        cold: &ColdFields,
        reset_failures: bool,
    ) -> Result<(), FlowError> {
        let effects = ReplaceEffects {
            accept_step: None,
            reset_failures,
        };
        match self
            .store
            .replace(&record.user_id, record.version, cold, effects)
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict) => Err(FlowError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// The sealed copy of a set's plain codes, when the application opted in.
    fn seal_codes(
        &self,
        user_id: &str,
        set: &RecoveryCodeSet,
    ) -> Result<Option<crate::seal::SealedSecret>, FlowError> {
        if self.config.recovery_storage != RecoveryStorage::HashedAndEncrypted {
            return Ok(None);
        }
        let mut joined = Zeroizing::new(String::with_capacity(set.codes().len() * 48));
        for (i, code) in set.codes().iter().enumerate() {
            if i > 0 {
                joined.push('\n');
            }
            joined.push_str(&code.expose());
        }
        Ok(Some(self.keys.seal_data(
            RECOVERY_PURPOSE,
            user_id,
            joined.as_bytes(),
        )?))
    }

    fn new_recovery_set(&self) -> Result<RecoveryCodeSet, FlowError> {
        RecoveryCodeSet::generate(self.config.recovery).map_err(|_| FlowError::Internal("rng"))
    }

    async fn active_record(&self, user_id: &str) -> Result<(StoredUser, Active), FlowError> {
        let record = self
            .store
            .get(user_id)
            .await?
            .ok_or(FlowError::NotEnrolled)?;
        let state = EnrollmentState::decode(&record.cold.state)?;
        let active = state.active().cloned().ok_or(FlowError::NotEnrolled)?;
        Ok((record, active))
    }

    /// Verifies `proof` (code or recovery code) for a sensitive change; returns the record as it
    /// was read, for the compare-and-swap that follows.
    async fn prove(&self, user_id: &str, proof: &str) -> Result<StoredUser, FlowError> {
        let (record, active) = self.active_record(user_id).await?;
        let is_code = looks_like_code(proof, active.params.digits.get());
        if is_code {
            if parse_code(proof, active.params.digits).is_err() {
                return Err(FlowError::Malformed);
            }
        } else {
            recovery_shape(&record, proof)?;
        }
        let now = self.clock.now();
        let (record, attempt) = self.reserve(record, now).await?;
        if is_code {
            self.check_code(&record, &active, proof, now, attempt)
                .await?;
        } else {
            self.check_recovery_code(&record, proof, now, attempt)
                .await?;
        }
        // The version is unchanged by the attempt's hot-field writes.
        Ok(record)
    }

    /// Refuses, unchecked, an attempt during a throttling delay or lock.
    fn gate(&self, record: &StoredUser, now: u64) -> Result<(), FlowError> {
        let Some((until, locked)) = self
            .config
            .throttle
            .next_attempt(record.failures, record.last_failure_at)
        else {
            return Ok(());
        };
        if now >= until {
            return Ok(());
        }
        let user_id = record.user_id.clone();
        if locked {
            self.emit(AuditEvent::Locked { user_id, until });
            Err(FlowError::Locked { until })
        } else {
            self.emit(AuditEvent::Throttled { user_id, until });
            Err(FlowError::Throttled { until })
        }
    }

    /// Reserves a checked attempt: refused unchecked during a delay or lock; otherwise the
    /// failure count is raised by one through a compare-and-swap on the count, so concurrent
    /// attempts pass the gate one at a time and never more than the policy allows. A success
    /// resets the count in the same store operation that accepts the step or consumes the
    /// recovery code (or, for a confirmation, the compare-and-swap that activates). Returns the
    /// record as read for the reservation and the count including this attempt.
    async fn reserve(
        &self,
        mut record: StoredUser,
        now: u64,
    ) -> Result<(StoredUser, u32), FlowError> {
        for _ in 0..ATTEMPT_RETRIES {
            self.gate(&record, now)?;
            if self
                .store
                .reserve_attempt(&record.user_id, record.failures, now)
                .await?
            {
                let attempt = record.failures.saturating_add(1);
                return Ok((record, attempt));
            }
            record = self
                .store
                .get(&record.user_id)
                .await?
                .ok_or(FlowError::NotEnrolled)?;
        }
        Err(FlowError::Conflict)
    }

    /// The error to report for a failed attempt (already counted when it was reserved), with its
    /// audit events.
    fn failed(&self, user_id: &str, failures: u32, now: u64) -> FlowError {
        self.emit(AuditEvent::FailedAttempt {
            user_id: user_id.to_owned(),
            failures,
        });
        match self.config.throttle.next_attempt(failures, Some(now)) {
            Some((until, true)) => {
                if failures == self.config.throttle.lock_after() {
                    self.emit(AuditEvent::Locked {
                        user_id: user_id.to_owned(),
                        until,
                    });
                }
                FlowError::Locked { until }
            }
            Some((until, false)) => FlowError::InvalidCode {
                retry_at: Some(until),
            },
            None => FlowError::InvalidCode { retry_at: None },
        }
    }

    async fn check_code(
        &self,
        record: &StoredUser,
        active: &Active,
        code: &str,
        now: u64,
        attempt: u32,
    ) -> Result<(), FlowError> {
        let user_id = &record.user_id;
        let secret = self.keys.open(user_id, &active.sealed)?;
        let totp = Totp::new(&secret, active.params)
            .with_window(self.config.window)
            .with_max_drift(self.config.max_drift)
            .with_skew_diagnosis(self.config.skew_diagnosis);
        let state = TotpState {
            last_step: record.last_step,
            drift: record.drift,
        };
        match totp.verify(code, now, &state) {
            Ok(m) => {
                if self
                    .store
                    .advance_step(user_id, m.step, m.drift, now)
                    .await?
                {
                    return Ok(());
                }
                // Another request accepted this step (or a later one) first.
                self.emit(AuditEvent::ReplayRefused {
                    user_id: user_id.clone(),
                });
                Err(self.failed(user_id, attempt, now))
            }
            Err(VerifyError::Replayed) => {
                self.emit(AuditEvent::ReplayRefused {
                    user_id: user_id.clone(),
                });
                Err(self.failed(user_id, attempt, now))
            }
            Err(VerifyError::ClockSkew { steps }) => {
                self.emit(AuditEvent::ClockSkewDetected {
                    user_id: user_id.clone(),
                    steps,
                });
                match self.failed(user_id, attempt, now) {
                    // Only a code from the past is diagnosed to the person typing: it can never
                    // become valid. Saying that a code matches a later step would tell someone
                    // guessing to submit it again when that step comes.
                    FlowError::InvalidCode { .. } if steps < 0 => {
                        Err(FlowError::ClockSkew { steps })
                    }
                    other => Err(other),
                }
            }
            Err(_) => Err(self.failed(user_id, attempt, now)),
        }
    }

    /// Checks and atomically consumes a recovery code; returns how many remain.
    async fn check_recovery_code(
        &self,
        record: &StoredUser,
        code: &str,
        now: u64,
        attempt: u32,
    ) -> Result<usize, FlowError> {
        let user_id = &record.user_id;
        let Some(text) = &record.cold.recovery else {
            return Err(self.failed(user_id, attempt, now));
        };
        let set = recovery_set(text, record.recovery_used)?;
        let index = match set.check(code) {
            Ok(i) => i,
            Err(RecoveryError::Malformed { .. }) => return Err(FlowError::Malformed),
            Err(RecoveryError::Kdf) => return Err(FlowError::Internal("recovery code hashing")),
            Err(_) => return Err(self.failed(user_id, attempt, now)),
        };
        let index32 = u32::try_from(index).map_err(|_| FlowError::Internal("index"))?;
        if self
            .store
            .consume_recovery_code(user_id, record.cold.recovery_generation, index32, now)
            .await?
        {
            Ok(set.remaining().saturating_sub(1))
        } else {
            // Consumed concurrently, or the set was regenerated meanwhile.
            self.emit(AuditEvent::ReplayRefused {
                user_id: user_id.clone(),
            });
            Err(self.failed(user_id, attempt, now))
        }
    }
}

/// Refuses, before anything is counted, input that cannot be one of the stored recovery codes.
fn recovery_shape(record: &StoredUser, input: &str) -> Result<(), FlowError> {
    match &record.cold.recovery {
        Some(text) => {
            let set: HashedRecoveryCodes = text
                .parse()
                .map_err(|_| StoreError::Corrupt("recovery codes"))?;
            if set.accepts_shape(input) {
                Ok(())
            } else {
                Err(FlowError::Malformed)
            }
        }
        // No set: the attempt is checked (and fails) like any other.
        None => Ok(()),
    }
}

/// The stored recovery set with the used mask applied.
fn recovery_set(text: &str, used: u64) -> Result<HashedRecoveryCodes, FlowError> {
    let mut set: HashedRecoveryCodes = text
        .parse()
        .map_err(|_| StoreError::Corrupt("recovery codes"))?;
    for index in 0..set.total().min(64) {
        if used & (1u64 << index) != 0 {
            // Already blank in the record or not: either way it is used.
            let _ = set.consume(index);
        }
    }
    Ok(set)
}

/// Whether `input` is shaped like an authenticator code: only digits (after white space and
/// hyphens), exactly `digits` of them. Recovery codes are always longer.
fn looks_like_code(input: &str, digits: u8) -> bool {
    let mut count = 0usize;
    for c in input.chars() {
        match c {
            '0'..='9' => count += 1,
            ' ' | '-' | '\t' | '\n' | '\r' => {}
            _ => return false,
        }
    }
    count == usize::from(digits)
}

#[cfg(test)]
mod tests {
    use super::looks_like_code;

    #[test]
    fn codes_and_recovery_codes_are_told_apart_by_shape() {
        assert!(looks_like_code("123456", 6));
        assert!(looks_like_code(" 123 456 ", 6));
        assert!(looks_like_code("1234-5678", 8));
        assert!(!looks_like_code("12345", 6));
        assert!(!looks_like_code("ABCD-EFGH-JKMN-PQRS", 6));
        assert!(!looks_like_code("1234-5678-9012-3456", 6));
        assert!(!looks_like_code("12345a", 6));
    }
}
