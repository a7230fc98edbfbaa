//! Enrolment: begin (first device or new device), show again, confirm with the first code.

use zeroize::Zeroizing;

use super::audit::{AuditEvent, AuditSink};
use super::clock::Clock;
use super::off_executor;
use super::record::first_generation;
use super::state::{EnrollmentState, Meta, Pending};
use super::tokens::{EnrollmentTicket, FactorStamp, Reauth};
use super::{CAS_RETRIES, Confirmation, Enrollment, EnrollmentFlow, FlowError, RecoveryStorage};
use crate::otp::code::parse_code;
use crate::otp::{OtpAuthUri, RecoveryCodeSet, Secret, Totp, TotpState};
use crate::seal::RECOVERY_PURPOSE;
use crate::store::{Attempt, ColdFields, ReplaceEffects, SecretStore, StoreError, StoredUser};

impl<S: SecretStore, C: Clock, A: AuditSink> EnrollmentFlow<S, C, A> {
    /// Begins an enrolment: a new secret, its URI and manual key, and the
    /// [`EnrollmentTicket`] that the application keeps in the session that began it (showing the
    /// secret again and confirming require it). Replaces a pending enrolment, whose ticket and
    /// secret then stop working.
    ///
    /// This is also how required enrolment works for a session that has passed only the password
    /// step: it may begin, but it can never see a secret that another session began.
    ///
    /// # Errors
    /// [`FlowError::AlreadyEnrolled`] if 2FA is active (use
    /// [`EnrollmentFlow::begin_new_device`]); [`FlowError::Name`] if `account_name` cannot appear
    /// in a URI; store and seal errors.
    pub async fn begin(&self, user_id: &str, account_name: &str) -> Result<Enrollment, FlowError> {
        self.begin_inner(user_id, account_name, None, None).await
    }

    /// Begins enrolling a new device for a user with 2FA active. Requires a valid code or
    /// recovery code now (consumed) or a recent-verification proof ([`Reauth`]), as changing the
    /// device is as sensitive as turning 2FA off (OWASP). The current device keeps working until
    /// the new one is confirmed with [`EnrollmentFlow::confirm`] and the returned ticket.
    ///
    /// # Errors
    /// As [`EnrollmentFlow::disable`] for the reauthentication, then as [`EnrollmentFlow::begin`].
    pub async fn begin_new_device<'a>(
        &self,
        user_id: &str,
        account_name: &str,
        reauth: impl Into<Reauth<'a>>,
    ) -> Result<Enrollment, FlowError> {
        // Begun on the very record the reauthentication was checked against: if anything changed
        // since (a regeneration, 2FA turned off), the compare-and-swap fails with `Conflict`.
        let proven = self.prove(user_id, reauth.into()).await?;
        self.begin_inner(user_id, account_name, Some(proven), None)
            .await
    }

    pub(super) async fn begin_inner(
        &self,
        user_id: &str,
        account_name: &str,
        proven: Option<StoredUser>,
        adding: Option<String>,
    ) -> Result<Enrollment, FlowError> {
        let allow_replacement = proven.is_some();
        let mut proven = proven;
        let now = self.clock.now();
        let params = self.config.params;
        let secret = Secret::generate(params.algorithm).map_err(|_| FlowError::Internal("rng"))?;
        let uri = OtpAuthUri::totp(secret, account_name)?
            .with_issuer(&self.config.issuer)?
            .with_algorithm(params.algorithm)
            .with_digits(params.digits)
            .with_period(params.period);
        let ticket = EnrollmentTicket::generate()?;
        let pending = Pending {
            ticket: Some(ticket.hash()),
            sealed: self.keys.seal(user_id, uri.secret())?,
            params,
            started_at: now,
            expires_at: now.saturating_add(self.config.pending_ttl),
        };
        for _ in 0..CAS_RETRIES {
            let current = match proven.take() {
                Some(record) => Some(record),
                None if allow_replacement => return Err(FlowError::Conflict),
                None => self.store.get(user_id).await?,
            };
            let result = match current {
                None => {
                    let state = EnrollmentState::NotEnrolled.begin(pending.clone());
                    let cold = ColdFields {
                        status: state.status(),
                        state: state.encode(&FactorStamp::default()),
                        required: false,
                        recovery_generation: first_generation()?,
                        recovery: None,
                    };
                    self.store.insert(user_id, &cold).await.map(|_| false)
                }
                Some(record) => {
                    let (meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
                    let replacing = state.active().is_some();
                    if replacing && !allow_replacement {
                        return Err(FlowError::AlreadyEnrolled);
                    }
                    // Beginning is not a factor change: the stamp (and all other metadata)
                    // stays. What the pending secret will be (a new device or another
                    // authenticator) is written with it, replacing what was pending before.
                    let meta = Meta {
                        adding: adding.clone().filter(|_| replacing),
                        ..meta
                    };
                    let state = state.begin(pending.clone());
                    let cold = ColdFields {
                        status: state.status(),
                        state: state.encode_with(&meta),
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
                        ticket,
                    });
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlowError::Conflict)
    }

    /// The enrolment in progress, to show its QR code and key again (after a wrong first code or
    /// a page reload) without issuing a new secret: only to the session holding its `ticket`.
    /// `None` if nothing is pending, it expired, or the ticket is not this enrolment's (another
    /// session began it, or it was begun again since): such a request gets no secret, and may
    /// [`begin`](EnrollmentFlow::begin) afresh.
    ///
    /// # Errors
    /// [`FlowError::Name`] for an invalid account name; seal and store errors.
    pub async fn resume(
        &self,
        user_id: &str,
        account_name: &str,
        ticket: &EnrollmentTicket,
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
        if !pending
            .ticket
            .as_ref()
            .is_some_and(|hash| hash.matches(ticket))
        {
            self.emit(AuditEvent::TicketRefused {
                user_id: user_id.to_owned(),
            });
            return Ok(None);
        }
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
            ticket: ticket.clone(),
        }))
    }

    /// Confirms the pending secret with the first code from the user's app and the `ticket`
    /// that [`begin`](EnrollmentFlow::begin) returned to this session: activates it, burns that
    /// code's step (it cannot be replayed as a login), stores the observed clock drift, changes
    /// the factor stamp (which revokes every trusted browser), and on a first enrolment issues
    /// recovery codes (returned once, stored hashed).
    ///
    /// # Errors
    /// [`FlowError::NoPendingEnrollment`] (also when the ticket is not this enrolment's: a
    /// session cannot confirm what another began), [`FlowError::EnrollmentExpired`],
    /// [`FlowError::Malformed`], [`FlowError::InvalidCode`], [`FlowError::Throttled`],
    /// [`FlowError::Locked`], [`FlowError::Conflict`] (a concurrent begin or confirm won),
    /// [`FlowError::Busy`] (hashing the new recovery codes would wait behind too many key
    /// derivations; nothing was counted or written: confirm again with the same code).
    pub async fn confirm(
        &self,
        user_id: &str,
        ticket: &EnrollmentTicket,
        code: &str,
    ) -> Result<Confirmation, FlowError> {
        let now = self.clock.now();
        let record = self
            .store
            .get(user_id)
            .await?
            .ok_or(FlowError::NoPendingEnrollment)?;
        let (meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
        let pending = state
            .pending()
            .ok_or(FlowError::NoPendingEnrollment)?
            .clone();
        if !pending
            .ticket
            .as_ref()
            .is_some_and(|hash| hash.matches(ticket))
        {
            self.emit(AuditEvent::TicketRefused {
                user_id: user_id.to_owned(),
            });
            return Err(FlowError::NoPendingEnrollment);
        }
        if now >= pending.expires_at {
            return Err(FlowError::EnrollmentExpired);
        }
        if parse_code(code, pending.params.digits).is_err() {
            return Err(FlowError::Malformed);
        }
        self.gate(&record, now)?;
        let secret = self.keys.open(user_id, &pending.sealed)?;
        let totp = Totp::new(&secret, pending.params)
            .with_window(self.config.confirm_window)
            .with_max_drift(0);
        // A new secret has no accepted step yet; the stored last step is raised below.
        let accepted = match totp.verify(code, now, &TotpState::default()) {
            Ok(m) => m,
            Err(_) => {
                // Counted with a compare-and-swap on the count (one verdict per count); a right
                // code is settled by the compare-and-swap on the version below instead.
                let (_, _, (), failures) = self
                    .settle(record, now, |_| Ok((Attempt::Failed, ())))
                    .await?;
                return Err(self.failed(user_id, failures, now));
            }
        };
        if let Some(name) = meta.adding.clone() {
            return self
                .confirm_addition(record, meta, state, pending, &name, accepted, now)
                .await;
        }
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
            let kdf = self.config.kdf;
            // Nothing is written before this point: a refusal here changes nothing.
            let admitted = self.admit_kdf()?;
            let (set, hashed) = off_executor(&admitted, move || {
                let hashed = set.hash(&kdf);
                (set, hashed)
            })
            .await?;
            let hashed = hashed.map_err(|_| FlowError::Internal("recovery code hashing"))?;
            let state = state.with_revealable(self.seal_codes(user_id, &set)?);
            (
                record.cold.recovery_generation.wrapping_add(1),
                Some(hashed.encode()),
                Some(set),
                state,
            )
        };
        let stamp = FactorStamp::generate()?;
        // A factor change: trusted browsers are revoked, the requirement to enrol is kept. A
        // new device replaces the primary authenticator (unnamed again); the others stay.
        let meta = Meta {
            primary: None,
            ..meta.after_authenticator_change(stamp)
        };
        let cold = ColdFields {
            status: state.status(),
            state: state.encode_with(&meta),
            required: record.cold.required,
            recovery_generation: generation,
            recovery,
        };
        let effects = ReplaceEffects {
            accept_step: Some((accepted.step, accepted.drift)),
            reset_failures: true,
        };
        self.replace_or_conflict(&record, &cold, effects).await?;
        self.emit(AuditEvent::EnrollmentConfirmed {
            user_id: user_id.to_owned(),
            replaced,
        });
        self.emit(AuditEvent::FactorStampChanged {
            user_id: user_id.to_owned(),
        });
        Ok(Confirmation {
            recovery_codes: issued,
            replaced_device: replaced,
            stamp,
            added: None,
        })
    }

    /// Confirms a pending addition: the new authenticator joins the others (the primary and its
    /// replay state untouched), the factor stamp changes, trusted browsers are revoked.
    #[allow(clippy::too_many_arguments)]
    async fn confirm_addition(
        &self,
        record: StoredUser,
        meta: Meta,
        state: EnrollmentState,
        pending: Pending,
        name: &str,
        accepted: crate::otp::TotpMatch,
        now: u64,
    ) -> Result<Confirmation, FlowError> {
        let user_id = record.user_id.clone();
        let EnrollmentState::Active { active, .. } = state else {
            return Err(FlowError::NoPendingEnrollment);
        };
        let stamp = FactorStamp::generate()?;
        let (meta, added) = self.add_confirmed(&meta, name, pending, accepted, now, stamp)?;
        let state = EnrollmentState::Active {
            active,
            replacement: None,
        };
        let cold = ColdFields {
            state: state.encode_with(&meta),
            ..record.cold.clone()
        };
        // The primary's step is not the new authenticator's: it is not raised.
        let effects = ReplaceEffects {
            accept_step: None,
            reset_failures: true,
        };
        self.replace_or_conflict(&record, &cold, effects).await?;
        self.emit(AuditEvent::AuthenticatorAdded {
            user_id: user_id.clone(),
            id: added.id.clone(),
        });
        self.emit(AuditEvent::FactorStampChanged { user_id });
        Ok(Confirmation {
            recovery_codes: None,
            replaced_device: false,
            stamp,
            added: Some(added),
        })
    }

    /// The sealed copy of a set's plain codes, when the application opted in.
    pub(super) fn seal_codes(
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

    pub(super) fn new_recovery_set(&self) -> Result<RecoveryCodeSet, FlowError> {
        RecoveryCodeSet::generate(self.config.recovery).map_err(|_| FlowError::Internal("rng"))
    }
}
