//! Sensitive changes behind a fresh second factor or a recent verification: disable, regenerate
//! recovery codes, reveal them (and, in `enrol.rs`, begin a new device).

use zeroize::Zeroizing;

use super::audit::{AuditEvent, AuditSink};
use super::authenticators::latest_extra_use;
use super::clock::Clock;
use super::login::looks_like_code;
use super::state::{EnrollmentState, Meta};
use super::tokens::{FactorStamp, Reauth};
use super::{EnrollmentFlow, FlowError, RecoveryStorage, Regenerated, RevealedRecoveryCode};
use super::{KdfAdmission, off_executor};
use crate::otp::code::parse_code;
use crate::otp::{Code, Totp, TotpParams};
use crate::seal::{RECOVERY_PURPOSE, SealError, SealedSecret};
use crate::store::{ColdFields, ReplaceEffects, SecretStore, StoreError, StoredStatus, StoredUser};

impl<S: SecretStore, C: Clock, A: AuditSink> EnrollmentFlow<S, C, A> {
    /// Turns 2FA off. Requires a valid code or recovery code now (which is consumed) or a
    /// recent-verification proof ([`Reauth`]), not just a session. Revokes every trusted
    /// browser; keeps the requirement to enrol. Returns the user's new factor stamp: every other
    /// session of the user is now stale.
    ///
    /// Refused while the user is required to have 2FA and the deadline (if any) has passed: a
    /// requirement the application computes itself (by group or role) it enforces itself, by
    /// not offering this, or by calling [`EnrollmentFlow::next_step`] with its policy after.
    ///
    /// # Errors
    /// [`FlowError::EnrollmentRequired`], [`FlowError::ReauthRequired`] (no factor and no fresh proof), [`FlowError::CodeAlreadyUsed`]
    /// (the login's own code typed again, with the login's proof: not counted), as
    /// [`EnrollmentFlow::verify`] for a typed factor, and [`FlowError::Conflict`].
    pub async fn disable<'a>(
        &self,
        user_id: &str,
        reauth: impl Into<Reauth<'a>>,
    ) -> Result<FactorStamp, FlowError> {
        // Checked before the factor, so a refused request consumes no code.
        if let Some(record) = self.store.get(user_id).await? {
            let (meta, _) = EnrollmentState::decode_meta(&record.cold.state)?;
            if record.cold.required
                && meta
                    .required_by
                    .is_none_or(|deadline| deadline <= self.clock.now())
            {
                return Err(FlowError::EnrollmentRequired);
            }
        }
        let record = self.prove(user_id, reauth.into()).await?;
        let stamp = FactorStamp::generate()?;
        let (meta, _) = EnrollmentState::decode_meta(&record.cold.state)?;
        let cold = ColdFields {
            status: StoredStatus::NotEnrolled,
            state: EnrollmentState::NotEnrolled.encode_with(&meta.after_factor_change(stamp)),
            required: record.cold.required,
            recovery_generation: record.cold.recovery_generation.wrapping_add(1),
            recovery: None,
        };
        let effects = ReplaceEffects {
            accept_step: None,
            reset_failures: true,
        };
        self.replace_or_conflict(&record, &cold, effects).await?;
        self.emit(AuditEvent::Disabled {
            user_id: user_id.to_owned(),
        });
        self.emit(AuditEvent::FactorStampChanged {
            user_id: user_id.to_owned(),
        });
        Ok(stamp)
    }

    /// Replaces the recovery codes with a new set (returned once, with the new factor stamp).
    /// Requires a valid code or recovery code now, or a recent-verification proof. Every old
    /// code stops working.
    ///
    /// # Errors
    /// As [`EnrollmentFlow::disable`], and [`FlowError::Busy`] if too many key derivations are in
    /// flight to hash the new set: refused before the factor typed or the proof is checked, so
    /// nothing is consumed, counted or written. The change takes one place for both of its
    /// derivations (a recovery code typed is checked, then the new set hashed).
    pub async fn regenerate_recovery_codes<'a>(
        &self,
        user_id: &str,
        reauth: impl Into<Reauth<'a>>,
    ) -> Result<Regenerated, FlowError> {
        // The place for hashing the new set is taken before the factor is checked (which may
        // consume a recovery code or accept a code's step): once proven, the change is not
        // refused for want of one. A recovery code typed is checked in the same place first.
        let admitted = self.admit_kdf()?;
        let record = self
            .prove_with(user_id, reauth.into(), Some(&admitted))
            .await?;
        let set = self.new_recovery_set()?;
        let kdf = self.config.kdf;
        let (set, hashed) = off_executor(&admitted, move || {
            let hashed = set.hash(&kdf);
            (set, hashed)
        })
        .await?;
        // Its derivations done, the change gives its place back before it writes.
        drop(admitted);
        let hashed = hashed.map_err(|_| FlowError::Internal("recovery code hashing"))?;
        let (meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
        let state = state.with_revealable(self.seal_codes(user_id, &set)?);
        let stamp = FactorStamp::generate()?;
        // Trusted browsers were bound to the old stamp: they stop working now, and are removed
        // as they are next presented or listed.
        let meta = Meta { stamp, ..meta };
        let cold = ColdFields {
            state: state.encode_with(&meta),
            recovery_generation: record.cold.recovery_generation.wrapping_add(1),
            recovery: Some(hashed.encode()),
            ..record.cold.clone()
        };
        let effects = ReplaceEffects {
            accept_step: None,
            reset_failures: false,
        };
        self.replace_or_conflict(&record, &cold, effects).await?;
        self.emit(AuditEvent::RecoveryCodesRegenerated {
            user_id: user_id.to_owned(),
        });
        self.emit(AuditEvent::FactorStampChanged {
            user_id: user_id.to_owned(),
        });
        Ok(Regenerated { codes: set, stamp })
    }

    /// Reads the current recovery codes back, with which are used. Available only with
    /// [`RecoveryStorage::HashedAndEncrypted`]; requires a valid code or recovery code now, or
    /// a recent-verification proof.
    ///
    /// # Errors
    /// [`FlowError::Config`] when codes are stored hashed only (or were issued before the option
    /// was turned on); as [`EnrollmentFlow::disable`] for the reauthentication; seal and store
    /// errors.
    pub async fn reveal_recovery_codes<'a>(
        &self,
        user_id: &str,
        reauth: impl Into<Reauth<'a>>,
    ) -> Result<Vec<RevealedRecoveryCode>, FlowError> {
        if self.config.recovery_storage != RecoveryStorage::HashedAndEncrypted {
            return Err(FlowError::Config("recovery codes are stored hashed only"));
        }
        // The codes of the record the reauthentication was checked against, not of a later one.
        let record = self.prove(user_id, reauth.into()).await?;
        let state = EnrollmentState::decode(&record.cold.state)?;
        let active = state.active().cloned().ok_or(FlowError::NotEnrolled)?;
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

    /// Authorises a sensitive change: a recent-verification proof younger than the window, or
    /// else a code or recovery code checked (and consumed) like a login. Returns the record as it
    /// was read, for the compare-and-swap that follows.
    pub(super) async fn prove(
        &self,
        user_id: &str,
        reauth: Reauth<'_>,
    ) -> Result<StoredUser, FlowError> {
        self.prove_with(user_id, reauth, None).await
    }

    /// [`EnrollmentFlow::prove`] for a change that took its place for key derivations first:
    /// a recovery code typed is checked in `held` (the change's derivations run one after the
    /// other) instead of taking another.
    pub(super) async fn prove_with(
        &self,
        user_id: &str,
        reauth: Reauth<'_>,
        held: Option<&KdfAdmission>,
    ) -> Result<StoredUser, FlowError> {
        let (record, active, meta) = self.active_record_meta(user_id).await?;
        let stamp = meta.stamp;
        let now = self.clock.now();
        // The last successful use of any factor: the hot field, or an additional
        // authenticator's (accepted by a compare-and-swap, which leaves the hot field alone).
        let last_use = record.last_used_at.max(latest_extra_use(&meta));
        // An authentic proof for this user, under the current key and stamp, dated no later than
        // the last successful use of a factor: every proof is issued by a login that set
        // `last_used_at` to the proof's time, so a later date was made by a clock running ahead
        // and must not wake up when the clock catches up.
        let proven_at = reauth
            .proof
            .and_then(|proof| proof.open(&self.keys, user_id))
            .filter(|(_, proof_stamp)| proof_stamp.matches(&stamp))
            .map(|(at, _)| at)
            .filter(|&at| last_use.is_some_and(|last| at <= last));
        if let Some(at) = proven_at
            && self.config.reauth_window > 0
            && at <= now
            && now - at <= self.config.reauth_window
        {
            self.emit(AuditEvent::StepUpUsed {
                user_id: user_id.to_owned(),
            });
            return Ok(record);
        }
        let Some(input) = reauth.factor else {
            return Err(FlowError::ReauthRequired);
        };
        let is_code = looks_like_code(input, active.params.digits.get());
        if is_code {
            if parse_code(input, active.params.digits).is_err() {
                return Err(FlowError::Malformed);
            }
            // The session proved the last login; if the person typed its code again, tell them
            // to wait for the next one and count nothing. Throttling still applies first, so
            // this answer cannot be probed during a delay or lock.
            // Only the proof of the login that accepted the last step qualifies.
            if proven_at.is_some() && proven_at == last_use {
                self.gate(&record, now)?;
                let last = match proven_at.and_then(|at| Self::used_at(&meta, at)) {
                    Some((sealed, params, step)) => Some((sealed.clone(), params, step)),
                    None => record
                        .last_step
                        .map(|step| (active.sealed.clone(), active.params, step)),
                };
                if self.is_last_accepted_code(&record.user_id, last, input)? {
                    self.emit(AuditEvent::ReplayRefused {
                        user_id: user_id.to_owned(),
                    });
                    return Err(FlowError::CodeAlreadyUsed);
                }
            }
        } else {
            self.recovery_shape(&record, input)?;
        }
        // One read (above) and one conditional write; the version is unchanged by it, so the
        // compare-and-swap that follows fails if anything else changed meanwhile.
        if is_code {
            Ok(self
                .check_any_code(record, &active, &meta, input, now)
                .await?
                .0)
        } else {
            Ok(self.check_recovery_code(record, input, now, held).await?.0)
        }
    }

    /// Whether `input` is the code of `last`, an authenticator's last accepted step
    /// (constant-time comparison).
    fn is_last_accepted_code(
        &self,
        user_id: &str,
        last: Option<(SealedSecret, TotpParams, u64)>,
        input: &str,
    ) -> Result<bool, FlowError> {
        let Some((sealed, params, step)) = last else {
            return Ok(false);
        };
        let Ok(value) = parse_code(input, params.digits) else {
            return Ok(false);
        };
        let secret = self.keys.open(user_id, &sealed)?;
        let last = Totp::new(&secret, params).generate_step(step);
        Ok(last == Code::new(value, params.digits))
    }

    /// Writes `cold` with `effects` over `record` if it is still the version read;
    /// [`FlowError::Conflict`] if a concurrent change came first.
    pub(super) async fn replace_or_conflict(
        &self,
        record: &StoredUser,
        cold: &ColdFields,
        effects: ReplaceEffects,
    ) -> Result<(), FlowError> {
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
}
