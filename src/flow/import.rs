//! Importing an existing enrolment from another system: the user's secret with its parameters,
//! the last step it was used at, and optionally its recovery codes; the user is active at once.
//!
//! Recovery codes come in one of two forms:
//!
//! - **plain codes**, hashed on import with this crate's recovery-code hashing (Argon2id under a
//!   fresh salt, [`FlowConfig::kdf`](super::FlowConfig::kdf)). Each must be 10 to 40 characters of
//!   Crockford's base32 after the normalisation typed codes get (case, spaces and hyphens
//!   ignored, `O` read as `0`, `I` and `L` as `1`), all of one length: hexadecimal codes qualify,
//!   such as devise-two-factor's and GitLab's 16-character ones when they are available in
//!   plain text;
//! - **this crate's own stored record** ([`HashedRecoveryCodes`], the
//!   `$twofactor-recovery$v=1$argon2id$...` text), as when moving between two deployments.
//!
//! Hashes from other systems (bcrypt from devise-two-factor and GitLab, PBKDF2 or SHA-256 from
//! others) are **not** supported: checking them would mean a second hashing scheme in the login
//! path. Import such users without recovery codes and let them regenerate a set.

use super::audit::{AuditEvent, AuditSink};
use super::clock::Clock;
use super::off_executor;
use super::record::first_generation;
use super::state::{EnrollmentState, Pending};
use super::tokens::FactorStamp;
use super::{CAS_RETRIES, EnrollmentFlow, FlowError};
use crate::otp::recovery::PlainCodeError;
use crate::otp::secret::{MIN_IMPORT_SECRET_BYTES, MIN_SECRET_BYTES};
use crate::otp::{
    HashedRecoveryCodes, OtpAuthUri, OtpKind, RecoveryCodeSet, Secret, SecretError, TotpParams,
};
use crate::store::{ColdFields, ReplaceEffects, SecretStore, StoreError, StoredStatus};

/// Most recovery codes one imported set may hold (a store records used codes in 64 bits).
pub const MAX_IMPORTED_RECOVERY_CODES: usize = 64;

/// Why an import was refused before anything was written. Never contains a secret or a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The secret is not valid base32, or too long, or too short: under 128 bits, or under 80
    /// bits through the `danger_*_allow_80_bit` constructors.
    #[error("invalid secret: {0}")]
    Secret(#[from] SecretError),
    /// An HOTP enrolment: the flow verifies TOTP codes only.
    #[error("HOTP enrolments cannot be imported; the flow verifies TOTP codes only")]
    Hotp,
    /// The parameters have an epoch other than 0 (otpauth URIs cannot carry one).
    #[error("the TOTP epoch must be 0")]
    Epoch,
    /// The last used step lies beyond the current step and the login window: the user's next
    /// codes would all be refused as replays.
    #[error("the last used step {step} lies in the future (current step {current})")]
    LastStepInFuture {
        /// The step given.
        step: u64,
        /// The current step at import time.
        current: u64,
    },
    /// No recovery codes in the list, or more than [`MAX_IMPORTED_RECOVERY_CODES`].
    #[error("between 1 and {MAX_IMPORTED_RECOVERY_CODES} recovery codes can be imported")]
    RecoveryCodeCount,
    /// The first plain recovery code is not 10 to 40 characters long.
    #[error("recovery codes must be 10 to 40 characters long")]
    RecoveryCodeLength,
    /// The plain recovery code at `index` (from 0) has a character outside Crockford's base32 or
    /// a length other than the first code's.
    #[error("recovery code #{index} is malformed")]
    RecoveryCodeMalformed {
        /// Its place in the list, from 0.
        index: usize,
    },
    /// The plain recovery code at `index` repeats an earlier one (it would work twice).
    #[error("recovery code #{index} repeats an earlier one")]
    RecoveryCodeDuplicate {
        /// Its place in the list, from 0.
        index: usize,
    },
    /// Both plain recovery codes and a hashed set were given: one set per user.
    #[error("give either plain recovery codes or a hashed set, not both")]
    RecoveryCodesTwice,
}

/// The recovery codes an import brings.
#[derive(Debug, Clone)]
enum Recovery {
    Plain(RecoveryCodeSet),
    Hashed(HashedRecoveryCodes),
}

/// An existing enrolment to import with [`EnrollmentFlow::import`]: a TOTP secret with its
/// parameters, optionally the last step it was used at and recovery codes.
///
/// Recovery codes come either as **plain codes**, hashed on import with this crate's
/// recovery-code hashing ([`EnrollmentImport::with_recovery_codes`]: 10 to 40 characters of
/// Crockford's base32 each, so hexadecimal codes such as devise-two-factor's and GitLab's
/// qualify), or as **this crate's own stored record**
/// ([`EnrollmentImport::with_hashed_recovery_codes`]). Hashes made by other systems (bcrypt,
/// PBKDF2, SHA-256) are not supported: import such users without recovery codes and have them
/// regenerate a set.
///
/// Secrets under 128 bits are refused unless built with a `danger_*_allow_80_bit` constructor,
/// as with [`Secret::danger_from_base32_allow_80_bit`]; that includes a parsed [`OtpAuthUri`]
/// holding an 80-bit secret, which [`EnrollmentImport::from_uri`] refuses. `Debug` shows no
/// secret and no code.
#[derive(Debug, Clone)]
pub struct EnrollmentImport {
    secret: Secret,
    params: TotpParams,
    last_step: Option<u64>,
    recovery: Option<Recovery>,
    replace_active: bool,
}

impl EnrollmentImport {
    /// A secret of at least 128 bits with its parameters.
    ///
    /// # Errors
    /// [`ImportError::Secret`] under 128 bits; [`ImportError::Epoch`].
    pub fn new(secret: Secret, params: TotpParams) -> Result<EnrollmentImport, ImportError> {
        EnrollmentImport::with_min(secret, params, MIN_SECRET_BYTES)
    }

    /// Like [`EnrollmentImport::new`], accepting secrets down to 80 bits.
    ///
    /// **Danger:** such a key is below NIST SP 800-63B's 112-bit minimum. For moving users whose
    /// provider issued 80-bit secrets, until they enrol a new device.
    ///
    /// # Errors
    /// [`ImportError::Secret`] under 80 bits; [`ImportError::Epoch`].
    pub fn danger_new_allow_80_bit(
        secret: Secret,
        params: TotpParams,
    ) -> Result<EnrollmentImport, ImportError> {
        EnrollmentImport::with_min(secret, params, MIN_IMPORT_SECRET_BYTES)
    }

    /// A base32 secret (read as leniently as [`Secret::from_base32`]) of at least 128 bits.
    ///
    /// # Errors
    /// [`ImportError::Secret`]; [`ImportError::Epoch`].
    pub fn from_base32(text: &str, params: TotpParams) -> Result<EnrollmentImport, ImportError> {
        EnrollmentImport::new(Secret::from_base32(text)?, params)
    }

    /// Like [`EnrollmentImport::from_base32`], accepting secrets down to 80 bits.
    ///
    /// **Danger:** see [`EnrollmentImport::danger_new_allow_80_bit`].
    ///
    /// # Errors
    /// As [`EnrollmentImport::from_base32`], with an 80-bit minimum.
    pub fn danger_from_base32_allow_80_bit(
        text: &str,
        params: TotpParams,
    ) -> Result<EnrollmentImport, ImportError> {
        EnrollmentImport::danger_new_allow_80_bit(
            Secret::danger_from_base32_allow_80_bit(text)?,
            params,
        )
    }

    /// A TOTP [`OtpAuthUri`] (parsed from an `otpauth://` URI or a
    /// [`MigrationPayload`](crate::MigrationPayload)) with a secret of at least 128 bits: its
    /// secret, algorithm, digits and period. Its names are not stored (the flow's issuer and the
    /// application's account name are used from now on).
    ///
    /// # Errors
    /// [`ImportError::Hotp`]; [`ImportError::Secret`] under 128 bits.
    pub fn from_uri(uri: &OtpAuthUri) -> Result<EnrollmentImport, ImportError> {
        EnrollmentImport::with_min(uri.secret().clone(), uri_params(uri)?, MIN_SECRET_BYTES)
    }

    /// Like [`EnrollmentImport::from_uri`], accepting secrets down to 80 bits.
    ///
    /// **Danger:** see [`EnrollmentImport::danger_new_allow_80_bit`].
    ///
    /// # Errors
    /// [`ImportError::Hotp`]; [`ImportError::Secret`] under 80 bits.
    pub fn danger_from_uri_allow_80_bit(uri: &OtpAuthUri) -> Result<EnrollmentImport, ImportError> {
        EnrollmentImport::with_min(
            uri.secret().clone(),
            uri_params(uri)?,
            MIN_IMPORT_SECRET_BYTES,
        )
    }

    fn with_min(
        secret: Secret,
        params: TotpParams,
        min: usize,
    ) -> Result<EnrollmentImport, ImportError> {
        if secret.len() < min {
            return Err(SecretError::TooShort {
                bits: secret.bits(),
                min_bits: min * 8,
            }
            .into());
        }
        if params.epoch != 0 {
            return Err(ImportError::Epoch);
        }
        Ok(EnrollmentImport {
            secret,
            params,
            last_step: None,
            recovery: None,
            replace_active: false,
        })
    }

    /// The last time step the old system accepted a code at (devise-two-factor's
    /// `consumed_timestep`, for example): codes of that step and earlier are refused from the
    /// first login, so a code seen before the move cannot be replayed after it. Without it, any
    /// code within the login window is accepted once.
    pub fn with_last_step(mut self, step: u64) -> EnrollmentImport {
        self.last_step = Some(step);
        self
    }

    /// Plain recovery codes to hash on import (see the module documentation for the formats).
    /// Used codes should be left out.
    ///
    /// # Errors
    /// [`ImportError::RecoveryCodeCount`], [`ImportError::RecoveryCodeLength`],
    /// [`ImportError::RecoveryCodeMalformed`], [`ImportError::RecoveryCodeDuplicate`],
    /// [`ImportError::RecoveryCodesTwice`].
    pub fn with_recovery_codes(mut self, codes: &[&str]) -> Result<EnrollmentImport, ImportError> {
        if self.recovery.is_some() {
            return Err(ImportError::RecoveryCodesTwice);
        }
        if codes.len() > MAX_IMPORTED_RECOVERY_CODES {
            return Err(ImportError::RecoveryCodeCount);
        }
        let set = RecoveryCodeSet::from_plain(codes).map_err(|e| match e {
            PlainCodeError::Count => ImportError::RecoveryCodeCount,
            PlainCodeError::Length => ImportError::RecoveryCodeLength,
            PlainCodeError::Malformed { index } => ImportError::RecoveryCodeMalformed { index },
            PlainCodeError::Duplicate { index } => ImportError::RecoveryCodeDuplicate { index },
        })?;
        self.recovery = Some(Recovery::Plain(set));
        Ok(self)
    }

    /// A recovery code set in this crate's stored form (used entries stay used). Its
    /// key-derivation cost must lie within the flow's
    /// [`kdf_floor`](super::FlowConfig::kdf_floor) and
    /// [`kdf_ceiling`](super::FlowConfig::kdf_ceiling), checked by [`EnrollmentFlow::import`].
    ///
    /// # Errors
    /// [`ImportError::RecoveryCodeCount`] over [`MAX_IMPORTED_RECOVERY_CODES`];
    /// [`ImportError::RecoveryCodesTwice`].
    pub fn with_hashed_recovery_codes(
        mut self,
        set: HashedRecoveryCodes,
    ) -> Result<EnrollmentImport, ImportError> {
        if self.recovery.is_some() {
            return Err(ImportError::RecoveryCodesTwice);
        }
        if set.total() == 0 || set.total() > MAX_IMPORTED_RECOVERY_CODES {
            return Err(ImportError::RecoveryCodeCount);
        }
        self.recovery = Some(Recovery::Hashed(set));
        Ok(self)
    }

    /// Replaces an active second factor instead of refusing with
    /// [`FlowError::AlreadyEnrolled`]: its device, recovery codes (by the imported ones, or
    /// none) and sessions (the factor stamp changes). The stored last step is never lowered, so
    /// with a different period than the replaced factor's, leave the user's record to an
    /// [`admin_reset`](EnrollmentFlow::admin_reset) first.
    pub fn replace_active(mut self) -> EnrollmentImport {
        self.replace_active = true;
        self
    }

    /// The code parameters.
    pub fn params(&self) -> TotpParams {
        self.params
    }

    /// The last used step, if given.
    pub fn last_step(&self) -> Option<u64> {
        self.last_step
    }

    /// How many unused recovery codes the import brings.
    pub fn recovery_codes(&self) -> usize {
        match &self.recovery {
            None => 0,
            Some(Recovery::Plain(set)) => set.codes().len(),
            Some(Recovery::Hashed(set)) => set.remaining(),
        }
    }

    /// Whether an active second factor may be replaced.
    pub fn replaces_active(&self) -> bool {
        self.replace_active
    }

    /// Checks the last step against the time `now` and a login window reaching `ahead` steps
    /// into the future.
    fn check_last_step(&self, now: u64, ahead: u8) -> Result<(), ImportError> {
        let current = now / self.params.period.seconds();
        match self.last_step {
            Some(step) if step > current.saturating_add(u64::from(ahead)) => {
                Err(ImportError::LastStepInFuture { step, current })
            }
            _ => Ok(()),
        }
    }
}

fn uri_params(uri: &OtpAuthUri) -> Result<TotpParams, ImportError> {
    match uri.kind() {
        OtpKind::Totp { period } => Ok(TotpParams::new(uri.algorithm(), uri.digits(), period)),
        OtpKind::Hotp { .. } => Err(ImportError::Hotp),
    }
}

/// What [`EnrollmentFlow::import`] did.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Imported {
    /// The user's new factor stamp: sessions holding another one are stale.
    pub stamp: FactorStamp,
    /// Whether an active second factor was replaced.
    pub replaced: bool,
    /// Unused recovery codes stored.
    pub recovery_codes: usize,
}

impl<S: SecretStore, C: Clock, A: AuditSink> EnrollmentFlow<S, C, A> {
    /// Imports a user's existing enrolment from another system: the user is active at once with
    /// the imported secret (sealed with the key ring), codes of the imported last step and
    /// earlier are refused from the first login, and the imported recovery codes (or none)
    /// replace any the user had. Emits [`AuditEvent::EnrollmentImported`] and
    /// [`AuditEvent::FactorStampChanged`]. Resets the failure count. A pending enrolment of the
    /// user is dropped.
    ///
    /// An administrative operation: guard it as such.
    ///
    /// ```
    /// use twofactor::{EncryptionKey, EnrollmentFlow, EnrollmentImport, FlowConfig, KeyRing};
    /// use twofactor::{LoginFactor, MemoryStore, OtpAuthUri};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let keys = KeyRing::new(EncryptionKey::generate(1)?);
    /// let flow = EnrollmentFlow::new(MemoryStore::new(), keys, FlowConfig::new("Example Co"))?;
    ///
    /// // What the old system had: the user's otpauth URI (or its secret and parameters), the
    /// // last step it accepted, and the unused recovery codes in plain text.
    /// let uri = OtpAuthUri::parse(
    ///     "otpauth://totp/Old%20Co:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Old%20Co",
    /// )?;
    /// let import = EnrollmentImport::from_uri(&uri)?
    ///     .with_last_step(0)
    ///     .with_recovery_codes(&["0123-4567-89ab-cdef", "fedc-ba98-7654-3210"])?;
    /// let imported = flow.import("user-42", import).await?;
    /// assert_eq!(imported.recovery_codes, 2);
    /// assert!(flow.status("user-42").await?.is_active());
    ///
    /// // The user's authenticator app keeps working, and so do the recovery codes.
    /// let code = uri.to_totp().expect("a TOTP URI").generate_now()?;
    /// assert_eq!(flow.verify("user-42", code.as_str()).await?.factor, LoginFactor::Code);
    /// let login = flow.verify("user-42", "FEDC BA98 7654 3210").await?;
    /// assert_eq!(login.factor, LoginFactor::RecoveryCode { remaining: 1 });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`FlowError::AlreadyEnrolled`] if 2FA is active and the import does not
    /// [`replace_active`](EnrollmentImport::replace_active);
    /// [`FlowError::Import`] with [`ImportError::LastStepInFuture`];
    /// [`FlowError::RecoveryCostOutOfBounds`] for a hashed set outside the flow's bounds;
    /// [`FlowError::Conflict`] if concurrent changes keep winning; [`FlowError::Busy`] if plain
    /// recovery codes would wait behind too many key derivations; seal and store errors.
    pub async fn import(
        &self,
        user_id: &str,
        import: EnrollmentImport,
    ) -> Result<Imported, FlowError> {
        let now = self.clock.now();
        import.check_last_step(now, self.config.window.ahead)?;
        let recovery_codes = import.recovery_codes();
        let (recovery, revealable) = match import.recovery {
            None => (None, None),
            Some(Recovery::Hashed(set)) => {
                let text = set.encode();
                // The same bounds as every stored record: refused now rather than at login.
                self.recovery_set(&text, 0)?;
                (Some(text), None)
            }
            Some(Recovery::Plain(set)) => {
                let revealable = self.seal_codes(user_id, &set)?;
                let kdf = self.config.kdf;
                let admitted = self.admit_kdf()?;
                let hashed = off_executor(&admitted, move || set.hash(&kdf))
                    .await?
                    .map_err(|_| FlowError::Internal("recovery code hashing"))?;
                (Some(hashed.encode()), revealable)
            }
        };
        let pending = Pending {
            sealed: self.keys.seal(user_id, &import.secret)?,
            params: import.params,
            started_at: now,
            expires_at: now,
            ticket: None,
        };
        let stamp = FactorStamp::generate()?;
        // One more round than the retries: a missing record is created first.
        for _ in 0..=CAS_RETRIES {
            let Some(record) = self.store.get(user_id).await? else {
                // An empty record first; the active state and its last step are then written
                // together by one compare-and-swap, so no login ever sees the secret without
                // its last step.
                let mut blank = ColdFields::new(
                    StoredStatus::NotEnrolled,
                    EnrollmentState::NotEnrolled.encode(&FactorStamp::default()),
                );
                blank.recovery_generation = first_generation()?;
                match self.store.insert(user_id, &blank).await {
                    Ok(_) | Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            let (meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
            let replaced = state.active().is_some();
            if replaced && !import.replace_active {
                return Err(FlowError::AlreadyEnrolled);
            }
            let state = state
                .begin(pending.clone())
                .confirm(now)
                .ok_or(FlowError::Internal("import transition"))?
                .with_revealable(revealable.clone());
            let cold = ColdFields {
                status: state.status(),
                // A factor change: trusted browsers are revoked, a requirement's deadline kept.
                state: state.encode_with(&meta.after_factor_change(stamp)),
                recovery_generation: record.cold.recovery_generation.wrapping_add(1),
                recovery: recovery.clone(),
                ..record.cold.clone()
            };
            // The drift of a replaced device means nothing for this one: zero, at the imported
            // step or the stored one (which the store never lowers).
            let effects = ReplaceEffects {
                accept_step: import.last_step.or(record.last_step).map(|step| (step, 0)),
                reset_failures: true,
            };
            match self
                .store
                .replace(user_id, record.version, &cold, effects)
                .await
            {
                Ok(_) => {
                    self.emit(AuditEvent::EnrollmentImported {
                        user_id: user_id.to_owned(),
                        replaced,
                        recovery_codes,
                    });
                    self.emit(AuditEvent::FactorStampChanged {
                        user_id: user_id.to_owned(),
                    });
                    return Ok(Imported {
                        stamp,
                        replaced,
                        recovery_codes,
                    });
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlowError::Conflict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otp::{Algorithm, Digits, Period};

    const B32_160: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    const B32_80: &str = "JBSWY3DPEHPK3PXP";

    #[test]
    fn short_secrets_need_the_escape_hatch() {
        let params = TotpParams::default();
        assert!(EnrollmentImport::from_base32(B32_160, params).is_ok());
        assert_eq!(
            EnrollmentImport::from_base32(B32_80, params).unwrap_err(),
            ImportError::Secret(SecretError::TooShort {
                bits: 80,
                min_bits: 128
            })
        );
        assert!(EnrollmentImport::danger_from_base32_allow_80_bit(B32_80, params).is_ok());
        // A URI parsed with the default options may hold 80 bits: still refused without it.
        let uri = OtpAuthUri::parse(&format!("otpauth://totp/a?secret={B32_80}")).unwrap();
        assert!(matches!(
            EnrollmentImport::from_uri(&uri),
            Err(ImportError::Secret(SecretError::TooShort { .. }))
        ));
        assert!(EnrollmentImport::danger_from_uri_allow_80_bit(&uri).is_ok());
        let secret = Secret::danger_from_base32_allow_80_bit(B32_80).unwrap();
        assert!(EnrollmentImport::new(secret.clone(), params).is_err());
        assert!(EnrollmentImport::danger_new_allow_80_bit(secret, params).is_ok());
    }

    #[test]
    fn uris_bring_their_parameters_and_hotp_is_refused() {
        let uri = OtpAuthUri::parse(&format!(
            "otpauth://totp/a?secret={B32_160}&algorithm=SHA256&digits=8&period=60"
        ))
        .unwrap();
        let import = EnrollmentImport::from_uri(&uri).unwrap();
        assert_eq!(
            import.params(),
            TotpParams::new(Algorithm::Sha256, Digits::EIGHT, Period::new(60).unwrap())
        );
        let hotp =
            OtpAuthUri::parse(&format!("otpauth://hotp/a?secret={B32_160}&counter=3")).unwrap();
        assert_eq!(
            EnrollmentImport::from_uri(&hotp).unwrap_err(),
            ImportError::Hotp
        );
        assert_eq!(
            EnrollmentImport::from_base32(B32_160, TotpParams::default().with_epoch(1))
                .unwrap_err(),
            ImportError::Epoch
        );
    }

    #[test]
    fn recovery_codes_are_checked() {
        let import = || EnrollmentImport::from_base32(B32_160, TotpParams::default()).unwrap();
        assert_eq!(
            import().with_recovery_codes(&[]).unwrap_err(),
            ImportError::RecoveryCodeCount
        );
        assert_eq!(
            import().with_recovery_codes(&["0123"]).unwrap_err(),
            ImportError::RecoveryCodeLength
        );
        assert_eq!(
            import()
                .with_recovery_codes(&["0123456789", "012345678U"])
                .unwrap_err(),
            ImportError::RecoveryCodeMalformed { index: 1 }
        );
        assert_eq!(
            import()
                .with_recovery_codes(&["0123456789", "01234567890"])
                .unwrap_err(),
            ImportError::RecoveryCodeMalformed { index: 1 }
        );
        assert_eq!(
            import()
                .with_recovery_codes(&["abcd-ef01-23", "ABCDEF0123"])
                .unwrap_err(),
            ImportError::RecoveryCodeDuplicate { index: 1 }
        );
        let many: Vec<String> = (0..65).map(|i| format!("{i:016x}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            import().with_recovery_codes(&many).unwrap_err(),
            ImportError::RecoveryCodeCount
        );
        let ok = import()
            .with_recovery_codes(&["0123456789abcdef", "fedcba9876543210"])
            .unwrap();
        assert_eq!(ok.recovery_codes(), 2);
        assert_eq!(
            ok.with_recovery_codes(&["0123456789abcdef"]).unwrap_err(),
            ImportError::RecoveryCodesTwice
        );
    }

    #[test]
    fn debug_shows_no_secret_or_code() {
        let import = EnrollmentImport::from_base32(B32_160, TotpParams::default())
            .unwrap()
            .with_recovery_codes(&["0123456789abcdef"])
            .unwrap();
        let shown = format!("{import:?}");
        assert!(!shown.contains(B32_160) && !shown.contains("12345678901234567890"));
        assert!(
            !shown.to_uppercase().contains("0123456789ABCDEF"),
            "{shown}"
        );
    }
}
