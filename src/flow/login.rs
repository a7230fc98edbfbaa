//! Login: a code or a recovery code, checked and accepted atomically (replay is decided here and
//! made to hold across processes by the store).

use super::audit::{AuditEvent, AuditSink};
use super::clock::Clock;
use zeroize::Zeroizing;

use super::authenticators::{Authenticator, Matched, primary_view};
use super::state::{Active, EnrollmentState, Meta};
use super::throttle::ReadThen;
use super::tokens::{FactorStamp, RecentVerification, Verified};
use super::trust::TrustToken;
use super::{EnrollmentFlow, FlowError, LoginFactor, NextStep, Requirement};
use super::{KdfAdmission, off_executor};
use crate::otp::code::parse_code;
use crate::otp::{HashedRecoveryCodes, RecoveryError, Secret, Totp, TotpState, VerifyError};
use crate::store::{Attempt, SecretStore, StoredUser};

impl<S: SecretStore, C: Clock, A: AuditSink> EnrollmentFlow<S, C, A> {
    /// Verifies a login's second factor: an authenticator code or a recovery code, told apart by
    /// shape with the enrolment's own parameters (only digits, as many as the enrolment's codes
    /// have: a code; anything else: a recovery code, which is always longer and has letters or
    /// more digits).
    ///
    /// A code is accepted once: the store advances the last accepted step atomically, so two
    /// concurrent requests with the same code cannot both succeed. A recovery code is consumed
    /// atomically. Failures are counted and throttled; during a delay attempts are refused
    /// unchecked.
    ///
    /// On success, keep [`Verified::proof`] (for sensitive changes within the reauthentication
    /// window) and [`Verified::stamp`] (to end the session when the user's factors change) in the
    /// session.
    ///
    /// # Errors
    /// [`FlowError::NotEnrolled`], [`FlowError::Malformed`], [`FlowError::InvalidCode`],
    /// [`FlowError::ClockSkew`], [`FlowError::Throttled`], [`FlowError::Locked`],
    /// [`FlowError::RecoveryCostOutOfBounds`], [`FlowError::Busy`] (a recovery code that would
    /// wait behind too many key derivations: refused unchecked and uncounted), store and seal
    /// errors.
    ///
    /// For a user id with no active enrolment (unknown, or not enrolled) the input is checked
    /// anyway, against a key of the configured parameters (a code) or by one key derivation at
    /// the configured cost (a recovery code), before [`FlowError::NotEnrolled`] is returned: the
    /// answer then costs what a wrong code of an enrolled user costs, bar the store's write.
    pub async fn verify(&self, user_id: &str, input: &str) -> Result<Verified, FlowError> {
        self.login(user_id, input, None).await
    }

    /// Verifies an authenticator code only. See [`EnrollmentFlow::verify`].
    ///
    /// # Errors
    /// As [`EnrollmentFlow::verify`].
    pub async fn verify_code(&self, user_id: &str, code: &str) -> Result<Verified, FlowError> {
        self.login(user_id, code, Some(true)).await
    }

    /// Verifies a recovery code only. See [`EnrollmentFlow::verify`].
    ///
    /// # Errors
    /// As [`EnrollmentFlow::verify`].
    pub async fn verify_recovery_code(
        &self,
        user_id: &str,
        code: &str,
    ) -> Result<Verified, FlowError> {
        let (record, _, stamp) = match self.active_record(user_id).await {
            Err(FlowError::NotEnrolled) => return Err(self.not_enrolled(code, Some(false)).await),
            found => found?,
        };
        self.login_with_recovery_code(record, stamp, code).await
    }

    /// A login with `input`: a code if `as_code` says so, or if it is `None` and `input` is
    /// shaped like one; a recovery code otherwise.
    ///
    /// A code for a user with one authenticator, the common case, is read, checked and settled
    /// in one store call ([`SecretStore::read_and_settle`](crate::store::SecretStore::read_and_settle):
    /// one connection of a SQL store's pool); the record that call reads for anything else (a
    /// recovery code, several authenticators) goes on the way it needs, unwritten.
    async fn login(
        &self,
        user_id: &str,
        input: &str,
        as_code: Option<bool>,
    ) -> Result<Verified, FlowError> {
        let now = self.clock.now();
        let read = self
            .settle_read(
                user_id,
                now,
                |record| self.prepare_code(record, input, as_code),
                |one: &OneCode, record| Ok(decide_code(&one.totp, input, now, record)),
            )
            .await;
        let (record, one, verdict, failures) = match read {
            Err(FlowError::NotEnrolled) | Ok(ReadThen::Missing) => {
                return Err(self.not_enrolled(input, as_code).await);
            }
            Err(e) => return Err(e),
            Ok(ReadThen::Declined(record)) => {
                let (meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
                let Some(active) = state.active() else {
                    return Err(self.not_enrolled(input, as_code).await);
                };
                return if as_code
                    .unwrap_or_else(|| looks_like_code(input, active.params.digits.get()))
                {
                    self.login_with_code(record, active, &meta, input).await
                } else {
                    self.login_with_recovery_code(record, meta.stamp, input)
                        .await
                };
            }
            Ok(ReadThen::Settled {
                record,
                prepared,
                verdict,
                failures,
            }) => (record, prepared, verdict, failures),
        };
        match verdict {
            Ok(()) => self.code_verified(record, &one.active, &one.meta, now, Matched::Primary),
            Err(error) => Err(self.refused(&record.user_id, error, failures, now)),
        }
    }

    /// What checking a code in [`EnrollmentFlow::login`] needs from the first record read: the
    /// enrolment, and the code's key opened. `None` for a record that takes another way: input
    /// that is not a code, or several authenticators. [`FlowError::NotEnrolled`] without an
    /// active enrolment, [`FlowError::Malformed`] for a code of the wrong shape.
    fn prepare_code(
        &self,
        record: &StoredUser,
        input: &str,
        as_code: Option<bool>,
    ) -> Result<Option<OneCode>, FlowError> {
        let (meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
        let active = state.into_active().ok_or(FlowError::NotEnrolled)?;
        let digits = active.params.digits;
        if !as_code.unwrap_or_else(|| looks_like_code(input, digits.get()))
            || !meta.authenticators.is_empty()
        {
            return Ok(None);
        }
        if parse_code(input, digits).is_err() {
            return Err(FlowError::Malformed);
        }
        let secret = self.keys.open(&record.user_id, &active.sealed)?;
        Ok(Some(OneCode {
            totp: self.login_totp(&secret, active.params),
            active,
            meta,
        }))
    }

    /// [`FlowError::NotEnrolled`], after the work a wrong attempt of an enrolled user costs
    /// (so that the time of the answer does not tell an enrolled user id from another): the
    /// window scanned for a code-shaped `input` (or `as_code == Some(true)`), under a key of
    /// the configured parameters; one key derivation at the configured cost for input shaped
    /// like a recovery code of the configured length. Unsealing the secret and the store's
    /// conditional write are not mirrored. The derivation's error instead, if it has one
    /// ([`FlowError::Busy`] when too many derivations are in flight), as an enrolled user's
    /// recovery-code attempt would be answered.
    async fn not_enrolled(&self, input: &str, as_code: Option<bool>) -> FlowError {
        let params = self.config.params;
        if as_code.unwrap_or_else(|| looks_like_code(input, params.digits.get())) {
            if parse_code(input, params.digits).is_ok()
                && let Ok(secret) =
                    Secret::from_bytes(&[0u8; 64][..params.algorithm.default_secret_len()])
            {
                let totp = Totp::new(&secret, params)
                    .with_window(self.config.window)
                    .with_max_drift(self.config.max_drift)
                    .with_skew_diagnosis(self.config.skew_diagnosis);
                let _ = core::hint::black_box(totp.verify(
                    input,
                    self.clock.now(),
                    &TotpState::default(),
                ));
            }
            return FlowError::NotEnrolled;
        }
        match self.decoy_recovery_check(input, None).await {
            Ok(()) => FlowError::NotEnrolled,
            Err(e) => e,
        }
    }

    /// Checks `input`, if it is shaped like a recovery code of the configured length, against a
    /// one-entry set at the configured cost, salt and hash all zero: it costs what checking an
    /// enrolled user's set costs (one derivation, whatever the size of the set), and is refused
    /// as that check would be when too many derivations are in flight. For user ids with no set
    /// to check against. In `held` if given, as [`EnrollmentFlow::check_recovery_code`].
    async fn decoy_recovery_check(
        &self,
        input: &str,
        held: Option<&KdfAdmission>,
    ) -> Result<(), FlowError> {
        let kdf = self.config.kdf;
        let decoy = format!(
            "$twofactor-recovery$v=1$argon2id$v=19$m={},t={},p={}$len={}${}${}",
            kdf.memory_kib(),
            kdf.iterations(),
            kdf.parallelism(),
            self.config.recovery.length(),
            "A".repeat(22),
            "A".repeat(43),
        );
        if let Ok(set) = decoy.parse::<HashedRecoveryCodes>()
            && set.accepts_shape(input)
        {
            let mut own = None;
            let admitted = self.held_or_admit(held, &mut own)?;
            let typed = Zeroizing::new(input.to_owned());
            off_executor(admitted, move || {
                core::hint::black_box(set.check(&typed)).is_ok()
            })
            .await?;
        }
        Ok(())
    }

    async fn login_with_code(
        &self,
        record: StoredUser,
        active: &Active,
        meta: &Meta,
        code: &str,
    ) -> Result<Verified, FlowError> {
        if parse_code(code, active.params.digits).is_err() {
            return Err(FlowError::Malformed);
        }
        let now = self.clock.now();
        let (record, matched) = self.check_any_code(record, active, meta, code, now).await?;
        self.code_verified(record, active, meta, now, matched)
    }

    /// A code login's success, with its audit event: `record` as read for the winning write.
    fn code_verified(
        &self,
        record: StoredUser,
        active: &Active,
        meta: &Meta,
        now: u64,
        matched: Matched,
    ) -> Result<Verified, FlowError> {
        let authenticator = match matched {
            // The record as read: the primary's step is now the accepted one.
            Matched::Primary => {
                let mut view = primary_view(meta, active, &record);
                view.last_used_at = Some(now);
                view
            }
            Matched::Extra(view) => view,
        };
        self.emit(AuditEvent::LoginWithCode {
            user_id: record.user_id.clone(),
        });
        // What is left of the recovery codes, as read (a code login consumes none), counted
        // without decoding the set: this is the hot path.
        let left = record
            .cold
            .recovery
            .as_deref()
            .map(|text| unused_entries(text, record.recovery_used));
        self.verified(
            &record.user_id,
            LoginFactor::Code,
            now,
            meta.stamp,
            left,
            Some(authenticator),
        )
    }

    async fn login_with_recovery_code(
        &self,
        record: StoredUser,
        stamp: FactorStamp,
        code: &str,
    ) -> Result<Verified, FlowError> {
        self.recovery_shape(&record, code)?;
        let now = self.clock.now();
        let (record, remaining) = self.check_recovery_code(record, code, now, None).await?;
        self.emit(AuditEvent::LoginWithRecoveryCode {
            user_id: record.user_id.clone(),
            remaining,
        });
        // Each login consumes one code, so the threshold is crossed exactly once per set.
        if remaining == self.config.recovery_codes_low {
            self.emit(AuditEvent::RecoveryCodesLow {
                user_id: record.user_id.clone(),
                remaining,
            });
        }
        self.verified(
            &record.user_id,
            LoginFactor::RecoveryCode { remaining },
            now,
            stamp,
            Some(remaining),
            None,
        )
    }

    fn verified(
        &self,
        user_id: &str,
        factor: LoginFactor,
        at: u64,
        stamp: FactorStamp,
        recovery_codes_left: Option<usize>,
        authenticator: Option<Authenticator>,
    ) -> Result<Verified, FlowError> {
        Ok(Verified {
            factor,
            proof: RecentVerification::issue(&self.keys, user_id, at, &stamp)?,
            stamp,
            recovery_codes_low: recovery_codes_left
                .is_some_and(|left| left <= self.config.recovery_codes_low),
            authenticator,
        })
    }

    /// Checks `code` against the active device and settles the attempt in one conditional
    /// write (the step accepted and the failures reset, or a failure counted). Returns the
    /// record as read for that write.
    pub(super) async fn check_code(
        &self,
        record: StoredUser,
        active: &Active,
        code: &str,
        now: u64,
    ) -> Result<StoredUser, FlowError> {
        let user_id = record.user_id.clone();
        let secret = self.keys.open(&user_id, &active.sealed)?;
        let totp = self.login_totp(&secret, active.params);
        let (record, _, verdict, failures) = self
            .settle(record, now, |record| {
                Ok(decide_code(&totp, code, now, record))
            })
            .await?;
        match verdict {
            Ok(()) => Ok(record),
            Err(error) => Err(self.refused(&user_id, error, failures, now)),
        }
    }

    /// The error for a refused code (its failure already counted), with its audit events.
    pub(super) fn refused(
        &self,
        user_id: &str,
        error: VerifyError,
        failures: u32,
        now: u64,
    ) -> FlowError {
        let user_id = user_id.to_owned();
        match error {
            VerifyError::Replayed => {
                self.emit(AuditEvent::ReplayRefused {
                    user_id: user_id.clone(),
                });
                self.failed(&user_id, failures, now)
            }
            VerifyError::ClockSkew { steps } => {
                self.emit(AuditEvent::ClockSkewDetected {
                    user_id: user_id.clone(),
                    steps,
                });
                match self.failed(&user_id, failures, now) {
                    // Only a code from the past is diagnosed to the person typing: it can never
                    // become valid. Saying that a code matches a later step would tell someone
                    // guessing to submit it again when that step comes.
                    FlowError::InvalidCode { .. } if steps < 0 => FlowError::ClockSkew { steps },
                    other => other,
                }
            }
            _ => self.failed(&user_id, failures, now),
        }
    }

    /// Checks a recovery code (Argon2id, off the executor, once) and settles the attempt in one
    /// conditional write (the code consumed and the failures reset, or a failure counted).
    /// Returns the record as read for that write and how many codes remain.
    ///
    /// The derivation takes a place of its own ([`EnrollmentFlow::admit_kdf`]), or runs in
    /// `held`, the place of the operation it is part of.
    pub(super) async fn check_recovery_code(
        &self,
        record: StoredUser,
        code: &str,
        now: u64,
        held: Option<&KdfAdmission>,
    ) -> Result<(StoredUser, usize), FlowError> {
        let user_id = record.user_id.clone();
        // Refused unchecked during a delay, before the key derivation is paid for.
        self.gate(&record, now)?;
        let generation = record.cold.recovery_generation;
        let found = match &record.cold.recovery {
            None => {
                // No set (an import without one): the attempt costs, and is refused under load,
                // as a user id without an enrolment's does; it fails below.
                self.decoy_recovery_check(code, held).await?;
                None
            }
            Some(text) => {
                // Checked against every code of the set, used or not: whether one is still
                // unused is decided on each read below.
                let set = self.recovery_set(text, 0)?;
                // Refused before anything is counted if too many derivations are in flight.
                let mut own = None;
                let admitted = self.held_or_admit(held, &mut own)?;
                // Argon2id runs off the async executor (the crate's worker thread inside a
                // tokio runtime), so recovery-code attempts do not stall other users' logins.
                let typed = Zeroizing::new(code.to_owned());
                let checked = off_executor(admitted, move || set.check(&typed)).await?;
                match checked {
                    Ok(i) => Some(u32::try_from(i).map_err(|_| FlowError::Internal("index"))?),
                    Err(RecoveryError::Malformed { .. }) => return Err(FlowError::Malformed),
                    Err(RecoveryError::Kdf) => {
                        return Err(FlowError::Internal("recovery code hashing"));
                    }
                    Err(_) => None,
                }
            }
        };
        let (record, attempt, (), failures) = self
            .settle(record, now, |record| {
                let unused = found
                    .and_then(|i| 1u64.checked_shl(i))
                    .is_some_and(|bit| record.recovery_used & bit == 0);
                Ok(match found {
                    Some(index) if unused => (
                        Attempt::ConsumeRecoveryCode {
                            generation,
                            index,
                            version: record.version,
                        },
                        (),
                    ),
                    _ => (Attempt::Failed, ()),
                })
            })
            .await?;
        match (attempt, found) {
            (Attempt::ConsumeRecoveryCode { index, .. }, _) => {
                let used = record.recovery_used | (1u64 << index);
                let remaining = match &record.cold.recovery {
                    Some(text) => self.recovery_set(text, used)?.remaining(),
                    None => 0,
                };
                Ok((record, remaining))
            }
            (_, Some(_)) => {
                // A right code already used (concurrently, or before).
                self.emit(AuditEvent::ReplayRefused {
                    user_id: user_id.clone(),
                });
                Err(self.failed(&user_id, failures, now))
            }
            _ => Err(self.failed(&user_id, failures, now)),
        }
    }
}

impl<S: SecretStore, C: Clock, A: AuditSink> EnrollmentFlow<S, C, A> {
    /// What to do after the password step, in one call: [`NextStep::Continue`] (no second
    /// factor, none required), [`NextStep::SecondFactor`] (2FA is active: ask for a code),
    /// [`NextStep::Trusted`] (2FA is active and `browser` holds a valid trust token: the second
    /// step is skipped, see [`EnrollmentFlow::verify_trusted`]), [`NextStep::OfferEnrollment`]
    /// (not enrolled, required by a deadline still ahead: offer "set up now or later") or
    /// [`NextStep::RequireEnrollment`] (not enrolled, and required now or the deadline passed).
    ///
    /// The requirement is the stricter of the user's stored one
    /// ([`EnrollmentFlow::admin_require`]) and `policy`, the one the application computes from
    /// groups or roles, if any (see [`Requirement`]). A pending enrolment is not an enrolment:
    /// it leads where no enrolment would.
    ///
    /// ```
    /// use twofactor::flow::{NextStep, Requirement};
    /// use twofactor::{EncryptionKey, EnrollmentFlow, FlowConfig, KeyRing, MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let flow = EnrollmentFlow::new(
    ///     MemoryStore::new(),
    ///     KeyRing::new(EncryptionKey::generate(1)?),
    ///     FlowConfig::new("Example Co"),
    /// )?;
    /// // No record, no policy: the password was enough.
    /// assert!(matches!(flow.next_step("u1", None, None).await?, NextStep::Continue));
    /// // The application requires 2FA of administrators.
    /// let step = flow.next_step("u1", Some(Requirement::Now), None).await?;
    /// assert!(matches!(step, NextStep::RequireEnrollment));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Store errors (also a corrupt record); as [`EnrollmentFlow::verify_trusted`] with a token.
    pub async fn next_step(
        &self,
        user_id: &str,
        policy: Option<Requirement>,
        browser: Option<&TrustToken>,
    ) -> Result<NextStep, FlowError> {
        let record = self.store.get(user_id).await?;
        let (stored, active) = match &record {
            None => (Requirement::Off, false),
            Some(record) => {
                let (meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
                let stored = match (record.cold.required, meta.required_by) {
                    (false, _) => Requirement::Off,
                    (true, None) => Requirement::Now,
                    (true, Some(deadline)) => Requirement::By(deadline),
                };
                (stored, state.active().is_some())
            }
        };
        if active {
            if let (Some(token), Some(record)) = (browser, record)
                // A lost race that keeps losing is not a refusal of the login: ask for the
                // second factor instead.
                && let Some(login) = match self.verify_trusted_in(record, token).await {
                    Err(FlowError::Conflict) => None,
                    other => other?,
                }
            {
                return Ok(NextStep::Trusted(login));
            }
            return Ok(NextStep::SecondFactor);
        }
        let requirement = policy.map_or(stored, |p| p.stricter(stored));
        let now = self.clock.now();
        Ok(match requirement {
            Requirement::Off => NextStep::Continue,
            Requirement::By(deadline) if now < deadline => NextStep::OfferEnrollment { deadline },
            // `Now`, or the deadline reached.
            _ => NextStep::RequireEnrollment,
        })
    }
}

/// What a code login with one authenticator decides on: made from the first record read.
struct OneCode {
    /// The code's key, opened, with the login's window and diagnosis.
    totp: Totp,
    /// The enrolment as read.
    active: Active,
    /// The state's metadata as read.
    meta: Meta,
}

/// The verdict on `code` for the record as read: its step accepted if it matches a step later
/// than the last accepted one, a failure counted otherwise.
fn decide_code(
    totp: &Totp,
    code: &str,
    now: u64,
    record: &StoredUser,
) -> (Attempt, Result<(), VerifyError>) {
    let state = TotpState::new(record.last_step, record.drift);
    match totp.verify(code, now, &state) {
        Ok(m) => (
            Attempt::AcceptStep {
                step: m.step,
                drift: m.drift,
                version: record.version,
                generation: record.cold.recovery_generation,
            },
            Ok(()),
        ),
        Err(e) => (Attempt::Failed, Err(e)),
    }
}

/// Unused entries of a stored recovery record (`$...$salt$hash.hash.-...`, `-` for a used
/// entry) given the used-code mask, without decoding it.
fn unused_entries(text: &str, used: u64) -> usize {
    let entries = text.rsplit_once('$').map_or(text, |(_, entries)| entries);
    let bytes = entries.as_bytes();
    // Entries are standard base64, so a `-` can only be a removed entry's mark. Without one
    // (the common case, and this runs on every code login) every entry counts but the spent:
    // one vectorisable pass.
    if !bytes.contains(&b'-') {
        let count = bytes.iter().filter(|&&b| b == b'.').count() + 1;
        let mask = u32::try_from(count)
            .ok()
            .and_then(|n| 1u64.checked_shl(n))
            .map_or(u64::MAX, |bit| bit - 1);
        let spent = usize::try_from((used & mask).count_ones()).unwrap_or(count);
        return count.saturating_sub(spent);
    }
    entries
        .split('.')
        .enumerate()
        .filter(|(i, entry)| *entry != "-" && !(*i < 64 && used & (1u64 << i) != 0))
        .count()
}

/// Whether `input` is shaped like an authenticator code: only digits (after white space and
/// hyphens), exactly `digits` of them. Recovery codes are always longer.
pub(super) fn looks_like_code(input: &str, digits: u8) -> bool {
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
    fn unused_entries_are_counted_from_the_record_text() {
        let text = "$twofactor-recovery$v=1$argon2id$v=19$m=64,t=1,p=1$len=10$AAAA$aa.bb.-.cc";
        assert_eq!(super::unused_entries(text, 0), 3);
        assert_eq!(super::unused_entries(text, 0b1), 2);
        assert_eq!(super::unused_entries(text, 0b1111), 0);
        // `-` marks a removed entry only alone; a bit past 63 is never spent.
        assert_eq!(super::unused_entries("$x$-a.a-.-", 0), 2);
        assert_eq!(super::unused_entries("$x$a", 0), 1);
        assert_eq!(super::unused_entries("$x$a", 1), 0);
        let many = vec!["e"; 70].join(".");
        assert_eq!(super::unused_entries(&format!("$x${many}"), u64::MAX), 6);
        // The reference it replaces: split at `.`, `-` alone removed, bits below 64 spent.
        let reference = |text: &str, used: u64| {
            text.rsplit('$')
                .next()
                .unwrap_or_default()
                .split('.')
                .enumerate()
                .filter(|(i, e)| *e != "-" && !(*i < 64 && used & (1u64 << i) != 0))
                .count()
        };
        let (e63, e64, e65) = (
            format!("$x${}", vec!["e"; 63].join(".")),
            format!("$x${}", vec!["e"; 64].join(".")),
            format!("$x${}", vec!["e"; 65].join(".")),
        );
        let texts = [
            text,
            "$x$",
            "$x$.",
            "$x$-",
            "$x$..-..",
            "no dollar.-.x",
            "$x$a.b",
        ];
        for text in texts.iter().copied().chain([&*e63, &*e64, &*e65]) {
            for used in [0, 1, 0b1010, 1 << 63, u64::MAX] {
                assert_eq!(
                    super::unused_entries(text, used),
                    reference(text, used),
                    "{text}"
                );
            }
        }
    }

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
