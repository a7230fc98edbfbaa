//! Sensitive changes behind a fresh second factor: disable, regenerate recovery codes, reveal them.

use zeroize::Zeroizing;

use super::audit::{AuditEvent, AuditSink};
use super::clock::Clock;
use super::login::looks_like_code;
use super::record::recovery_shape;
use super::state::EnrollmentState;
use super::{EnrollmentFlow, FlowError, RecoveryStorage, RevealedRecoveryCode};
use crate::otp::RecoveryCodeSet;
use crate::otp::code::parse_code;
use crate::seal::{RECOVERY_PURPOSE, SealError};
use crate::store::{ColdFields, ReplaceEffects, SecretStore, StoreError, StoredStatus, StoredUser};

impl<S: SecretStore, C: Clock, A: AuditSink> EnrollmentFlow<S, C, A> {
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

    /// Verifies `proof` (code or recovery code) for a sensitive change; returns the record as it
    /// was read, for the compare-and-swap that follows.
    pub(super) async fn prove(&self, user_id: &str, proof: &str) -> Result<StoredUser, FlowError> {
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

    pub(super) async fn replace_or_conflict(
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
}
