//! The enrolment and verification flow an application calls from its login and settings pages.
//!
//! ```text
//! NotEnrolled --begin--> Pending --confirm(first code)--> Active (+ recovery codes, shown once)
//!      ^                                                   |  |
//!      |                 begin (new device) ---------------+  | verify: code or recovery code
//!      +---- disable(proof) / admin_reset -------------------+  | regenerate_recovery_codes(proof)
//! ```
//!
//! After the password step, [`EnrollmentFlow::next_step`] says what comes next: nothing, the
//! second factor (or nothing, for a browser the user trusted: [`EnrollmentFlow::trust_browser`]),
//! an offer to enrol before a deadline, or required enrolment ([`Requirement`], stored per user
//! by [`EnrollmentFlow::admin_require`] and combined with the application's own policy).
//!
//! Every decision that must hold across concurrent requests is an atomic store operation: a code
//! is accepted only if the store advances the last step ([`SecretStore::settle_attempt`]), a
//! recovery code only if the store consumes it, failures are counted by the store, and state
//! changes are compare-and-swaps on the record version.

mod admin;
mod audit;
mod authenticators;
mod clock;
mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
mod enrol;
mod error;
mod import;
mod login;
mod outcome;
mod record;
mod respond;
mod sensitive;
mod state;
mod throttle;
mod tokens;
mod trust;

#[cfg(feature = "tracing")]
pub use audit::TracingAudit;
pub use audit::{AuditEvent, AuditSink, NoAudit};
pub use authenticators::{Authenticator, DEFAULT_AUTHENTICATOR_NAME, MAX_AUTHENTICATOR_NAME_BYTES};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{FlowConfig, RecoveryStorage};
pub use error::FlowError;
pub use import::{EnrollmentImport, ImportError, Imported, MAX_IMPORTED_RECOVERY_CODES};
pub use outcome::{
    Confirmation, Enrollment, EnrollmentStatus, LoginFactor, NextStep, Regenerated, Requirement,
    RevealedRecoveryCode, Status,
};
pub use record::check_record;
pub use throttle::{ThrottleError, ThrottlePolicy};
pub use tokens::{EnrollmentTicket, FactorStamp, Reauth, RecentVerification, Verified};
pub use trust::{
    BrowserTrusted, MAX_LABEL_BYTES, TRUST_AFTER_LOGIN, TrustToken, TrustedBrowser, TrustedLogin,
};

use self::state::{Active, EnrollmentState};
use crate::otp::{OtpAuthUri, Secret};
use crate::seal::KeyRing;
use crate::store::{SecretStore, StoredUser};

/// Places taken by key derivations (recovery codes checked or hashed) that are waiting, running,
/// or held by an operation that will run one: the process's, shared by every flow.
static KDF_ADMITTED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// A place taken for key derivations (an operation's derivations run one after the other, so one
/// place serves them all), given back when the operation that took it has ended (or was
/// dropped) and no job of it is left on the key-derivation thread's queue: a job keeps its
/// operation's place until it has run or been skipped, so that requests dropped while their jobs
/// wait cannot fill the queue past the bound.
#[must_use]
struct KdfAdmission(std::sync::Arc<KdfPlace>);

/// The place behind a [`KdfAdmission`], given back when its last holder drops it.
struct KdfPlace;

impl KdfAdmission {
    /// Takes a place if no more than `limit` are then taken in all; otherwise
    /// [`FlowError::Busy`], and nothing is taken.
    fn take(limit: usize) -> Result<KdfAdmission, FlowError> {
        use core::sync::atomic::Ordering;
        KDF_ADMITTED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < limit).then_some(taken + 1)
            })
            .map(|_| KdfAdmission(std::sync::Arc::new(KdfPlace)))
            .map_err(|_| FlowError::Busy)
    }
}

impl Drop for KdfPlace {
    fn drop(&mut self) {
        KDF_ADMITTED.fetch_sub(1, core::sync::atomic::Ordering::AcqRel);
    }
}

/// Runs CPU-heavy work (Argon2id) off the async executor: inside a tokio runtime (feature
/// `tokio`, which every bundled SQL store enables) on one long-lived worker thread of its own,
/// inline otherwise. One thread, so that recovery-code attempts queue behind each other instead
/// of taking every core from the logins the runtime is serving.
///
/// The work runs under a [`KdfAdmission`] its operation took before it changed anything
/// ([`EnrollmentFlow::admit_kdf`]): past [`FlowConfig::kdf_queue_max`] places the operation is
/// refused at once with [`FlowError::Busy`], so that a flood of recovery-code attempts (for
/// instance at user ids that do not exist, which no per-user throttle counts) costs neither
/// unbounded memory nor an unbounded wait for the attempts behind it, and an operation that
/// has consumed a factor is never refused its derivation afterwards.
async fn off_executor<T: Send + 'static>(
    admitted: &KdfAdmission,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, FlowError> {
    #[cfg(feature = "tokio")]
    if tokio::runtime::Handle::try_current().is_ok()
        && let Some(worker) = kdf_worker::sender()
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let place = std::sync::Arc::clone(&admitted.0);
        let job: kdf_worker::Job = Box::new(move || {
            // The caller has gone (its request timed out or was dropped): nothing to derive for.
            // Under load, when the worker runs at its low priority, this keeps abandoned attempts
            // from delaying the ones still waiting.
            let out = (!done.is_closed())
                .then(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
            // The job's hold on the place ends before its caller hears of the result (or, if
            // the work panicked, of its loss), so that the caller's next operation finds it
            // given back. A job dropped unrun lets go of it too.
            drop(place);
            if let Some(Ok(out)) = out {
                let _ = done.send(out);
            }
        });
        return match worker.send(job) {
            Ok(()) => result
                .await
                .map_err(|_| FlowError::Internal("key derivation worker")),
            // The worker thread has ended (which a panicking job no longer causes): no result,
            // rather than block the executor. The job, returned in the error, is dropped here
            // with its hold on the place.
            Err(_) => Err(FlowError::Internal("key derivation worker")),
        };
    }
    // Inline, the caller holds the place while the work runs: nothing to hand on (the field is
    // read so that builds without `tokio`, where only this path exists, see it used).
    let _held = &admitted.0;
    Ok(work())
}

/// The key-derivation worker thread, started on first use.
#[cfg(feature = "tokio")]
mod kdf_worker {
    use std::sync::OnceLock;
    use std::sync::mpsc::{Sender, channel};

    /// A unit of work for the thread.
    pub(super) type Job = Box<dyn FnOnce() + Send>;

    /// The queue needs no bound of its own: every job runs under a
    /// [`KdfAdmission`](super::KdfAdmission), and those are bounded.
    static WORKER: OnceLock<Option<Sender<Job>>> = OnceLock::new();

    /// The worker's queue, or `None` if the thread could not be started.
    pub(super) fn sender() -> Option<&'static Sender<Job>> {
        WORKER
            .get_or_init(|| {
                let (jobs, queue) = channel::<Job>();
                std::thread::Builder::new()
                    .name("twofactor-kdf".to_owned())
                    .spawn(move || {
                        lowest_priority();
                        // Each job catches a panic of its work (its caller then gets an internal
                        // error), so one panicking derivation does not end the thread.
                        while let Ok(job) = queue.recv() {
                            job();
                        }
                    })
                    .ok()
                    .map(|_| jobs)
            })
            .as_ref()
    }

    /// On Linux the thread runs at the lowest priority of the normal policy (nice 19), so that
    /// a thread of the application's executor that becomes runnable takes the core from a
    /// derivation instead of waiting out its time slice. Measured with `benches/latency` on
    /// 2-core machines, one recovery-code attempt in flight on a 2-worker runtime raised code
    /// logins' p99 to 380-560 µs at the default priority. `SCHED_IDLE` brought it to 90-110 µs
    /// on one machine, but on another it doubled their p90 (likely because a core running only
    /// an idle-class thread counts as idle, so woken executor threads are sent there, a
    /// cross-core wake-up each time), which nice 19 did not: `docs/recovery-codes.md`.
    ///
    /// Under full load a derivation gets about 1.4% of a core beside each busy normal thread
    /// (weight 15 against 1024), so what derives keys (recovery-code logins, confirmations,
    /// regenerations, imports) slows down before code logins do. Best effort: where the
    /// priority cannot be set (a sandbox that forbids it), the thread keeps the one it
    /// inherited.
    #[cfg(target_os = "linux")]
    fn lowest_priority() {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        // `Min` under the normal policy is nice 19, set for this thread alone.
        let _ = set_thread_priority_and_policy(
            thread_native_id(),
            thread_priority::ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
        );
    }

    #[cfg(not(target_os = "linux"))]
    fn lowest_priority() {}
}

/// How many times a flow operation re-reads and retries after losing a compare-and-swap to a
/// concurrent change before reporting [`FlowError::Conflict`].
const CAS_RETRIES: usize = 3;

/// How many times reserving an attempt re-reads after a concurrent attempt changed the failure
/// count first. Each lost race means another attempt was counted, so the gate closes quickly.
const ATTEMPT_RETRIES: usize = 64;

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
/// // Settings page: begin, show the QR code (enrollment.expose_uri()) and the manual key, and
/// // keep enrollment.ticket() in this session.
/// let enrollment = flow.begin("user-42", "alice@example.com").await?;
/// // The user's app computes the first code; here we play the app.
/// let app = enrollment.uri().to_totp().expect("a TOTP URI");
/// let confirmed = flow
///     .confirm("user-42", enrollment.ticket(), app.generate_now()?.as_str())
///     .await?;
/// let codes = confirmed.recovery_codes().expect("issued on first enrolment"); // show once
///
/// // Login page, second step: a code or a recovery code.
/// let login = flow.verify("user-42", &codes.codes()[0].expose()).await?;
/// assert_eq!(login.factor, LoginFactor::RecoveryCode { remaining: 9 });
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
        if config.authenticators_max == 0
            || config.authenticators_max > authenticators::MAX_STORED_AUTHENTICATORS
        {
            return Err(FlowError::Config(
                "between 1 and 16 authenticators per user",
            ));
        }
        if config.kdf_queue_max == 0 {
            return Err(FlowError::Config("kdf_queue_max must be positive"));
        }
        if config.trusted_browsers_max > 50 {
            return Err(FlowError::Config("at most 50 trusted browsers per user"));
        }
        if config.trusted_browser_lifetime == 0
            || config.trusted_browser_lifetime > config.trusted_browser_max_lifetime
        {
            return Err(FlowError::Config(
                "trusted_browser_lifetime must be positive and at most trusted_browser_max_lifetime",
            ));
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

    /// A place for an operation's key derivations, within [`FlowConfig::kdf_queue_max`], taken
    /// before the operation changes anything; [`FlowError::Busy`] otherwise.
    fn admit_kdf(&self) -> Result<KdfAdmission, FlowError> {
        KdfAdmission::take(self.config.kdf_queue_max)
    }

    /// `held`, the place of the operation a derivation is part of, or else a place of its own
    /// ([`EnrollmentFlow::admit_kdf`]) kept in `own`.
    fn held_or_admit<'a>(
        &self,
        held: Option<&'a KdfAdmission>,
        own: &'a mut Option<KdfAdmission>,
    ) -> Result<&'a KdfAdmission, FlowError> {
        match held {
            Some(held) => Ok(held),
            None => Ok(own.insert(self.admit_kdf()?)),
        }
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
                required_by: None,
                last_used_at: None,
                recovery_codes_left: None,
                failures: 0,
                locked_until: None,
                factor_stamp: FactorStamp::default(),
                recovery_codes_low: false,
            }),
        }
    }

    /// The guard for every authenticated request: the user's status, if `seen` (the factor
    /// stamp the session kept when it logged in, from [`Verified::stamp`], a
    /// [`NextStep::Trusted`] login or [`Status::factor_stamp`]) is still the user's. Once their
    /// second factor changes (turned on or off, a new device, an authenticator added or
    /// removed, new recovery codes, an administrator's reset) every session from before it gets
    /// [`FlowError::StaleSession`]: end it (delete it server-side) and send the person to log in.
    /// One read of the store, as [`EnrollmentFlow::status`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// use twofactor::{EncryptionKey, EnrollmentFlow, FlowConfig, FlowError, KeyRing, MemoryStore};
    ///
    /// let keys = KeyRing::new(EncryptionKey::generate(1)?);
    /// let flow = EnrollmentFlow::new(MemoryStore::new(), keys, FlowConfig::new("Example Co"))?;
    /// // At login, the session keeps the user's stamp.
    /// let seen = flow.status("u1").await?.factor_stamp;
    /// assert!(flow.session_status("u1", &seen).await.is_ok());
    /// // The user sets up 2FA in another session: this one is stale.
    /// let e = flow.begin("u1", "alice").await?;
    /// let code = e.uri().to_totp().expect("totp").generate_now()?;
    /// flow.confirm("u1", e.ticket(), code.as_str()).await?;
    /// assert!(matches!(
    ///     flow.session_status("u1", &seen).await,
    ///     Err(FlowError::StaleSession)
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`FlowError::StaleSession`]; [`FlowError::Store`].
    pub async fn session_status(
        &self,
        user_id: &str,
        seen: &FactorStamp,
    ) -> Result<Status, FlowError> {
        let status = self.status(user_id).await?;
        if seen.matches(&status.factor_stamp) {
            Ok(status)
        } else {
            Err(FlowError::StaleSession)
        }
    }

    fn status_of(&self, record: &StoredUser, now: u64) -> Result<Status, FlowError> {
        let (meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
        let factor_stamp = meta.stamp;
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
                match self.recovery_set(text, record.recovery_used) {
                    Ok(set) => Some(set.remaining()),
                    // A record refused for its cost must not stop the user logging in with a
                    // code, nor an administrator listing users: no count is shown, and using
                    // a recovery code reports the error.
                    Err(FlowError::RecoveryCostOutOfBounds { .. }) => None,
                    Err(e) => return Err(e),
                }
            }
            _ => None,
        };
        Ok(Status {
            user_id: record.user_id.clone(),
            enrollment,
            required: record.cold.required,
            required_by: meta.required_by.filter(|_| record.cold.required),
            last_used_at: record
                .last_used_at
                .max(authenticators::latest_extra_use(&meta)),
            recovery_codes_low: recovery_codes_left
                .is_some_and(|left| left <= self.config.recovery_codes_low),
            recovery_codes_left,
            failures: record.failures,
            locked_until: self
                .config
                .throttle
                .next_attempt(record.failures, record.last_failure_at)
                .map(|(until, _)| until)
                .filter(|&until| until > now),
            factor_stamp,
        })
    }

    /// The record of a user with 2FA active, its active device, and its factor stamp.
    async fn active_record(
        &self,
        user_id: &str,
    ) -> Result<(StoredUser, Active, FactorStamp), FlowError> {
        let (record, active, meta) = self.active_record_meta(user_id).await?;
        Ok((record, active, meta.stamp))
    }

    /// The record of a user with 2FA active, its active device, and the state's metadata.
    async fn active_record_meta(
        &self,
        user_id: &str,
    ) -> Result<(StoredUser, Active, state::Meta), FlowError> {
        let record = self
            .store
            .get(user_id)
            .await?
            .ok_or(FlowError::NotEnrolled)?;
        let (meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
        let active = state.active().cloned().ok_or(FlowError::NotEnrolled)?;
        Ok((record, active, meta))
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use std::sync::Arc;

    use super::{KdfAdmission, off_executor};

    /// Polls `future` once; it must be waiting.
    async fn poll_once<F: Future>(future: core::pin::Pin<&mut F>) {
        tokio::select! {
            biased;
            _ = future => panic!("expected to wait"),
            () = core::future::ready(()) => {}
        }
    }

    /// A queued job keeps its operation's places until it has run or been skipped, even once
    /// the operation is gone; a job that has run has let go of them by the time its caller
    /// resumes.
    #[tokio::test(flavor = "current_thread")]
    async fn a_queued_job_holds_its_places_until_the_thread_passes_it() {
        // No bound to speak of: other tests' derivations run beside this one.
        let take = || KdfAdmission::take(usize::MAX).unwrap();
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let blocker = take();
        let mut running = core::pin::pin!(off_executor(&blocker, move || {
            let _ = blocked.recv();
        }));
        poll_once(running.as_mut()).await;

        let admitted = take();
        let places = Arc::downgrade(&admitted.0);
        let mut queued = Box::pin(off_executor(&admitted, || ()));
        poll_once(queued.as_mut()).await;
        // The request is dropped while its job waits behind the blocker.
        drop(queued);
        drop(admitted);
        assert!(
            places.upgrade().is_some(),
            "the queued job holds the places"
        );

        release.send(()).unwrap();
        running.await.unwrap();
        // A job sent after the dropped one runs after it: by its answer, the thread has passed
        // (and skipped) the dropped one.
        let last = take();
        off_executor(&last, || ()).await.unwrap();
        assert!(places.upgrade().is_none(), "given back once skipped");
        assert_eq!(
            Arc::strong_count(&last.0),
            1,
            "the job let go before answering"
        );
    }

    /// A job whose work panics answers its caller with an internal error, lets go of its
    /// places, and leaves the thread running later jobs.
    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_job_loses_its_result_not_the_thread() {
        let admitted = KdfAdmission::take(usize::MAX).unwrap();
        let result = off_executor(&admitted, || -> u8 {
            panic!("a job that panics, as this test means it to")
        })
        .await;
        assert!(matches!(result, Err(super::FlowError::Internal(_))));
        assert_eq!(Arc::strong_count(&admitted.0), 1);
        assert_eq!(off_executor(&admitted, || 7).await.unwrap(), 7);
    }
}
