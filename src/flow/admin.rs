//! Administration: listing, reset, the requirement to enrol (with a deadline), and resealing
//! under a new key.

use super::audit::{AuditEvent, AuditSink};
use super::clock::Clock;
use super::record::first_generation;
use super::state::{EnrollmentState, Meta};
use super::tokens::FactorStamp;
use super::{CAS_RETRIES, EnrollmentFlow, FlowError, Requirement, Status};
use crate::seal::RECOVERY_PURPOSE;
use crate::store::{ColdFields, ListFilter, ReplaceEffects, SecretStore, StoreError, StoredStatus};

impl<S: SecretStore, C: Clock, A: AuditSink> EnrollmentFlow<S, C, A> {
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

    /// Removes a user's second factor and recovery codes, as when an administrator has verified
    /// the user's identity another way, and (deliberately, as part of that decision) clears the
    /// failure count and any lock, so the user can enrol again at once. Revokes every trusted
    /// browser; keeps the requirement to enrol. Returns the new factor stamp: every session of
    /// the user is now stale.
    ///
    /// # Errors
    /// Store errors; [`FlowError::Conflict`] only if changes keep racing.
    pub async fn admin_reset(&self, user_id: &str) -> Result<FactorStamp, FlowError> {
        let stamp = FactorStamp::generate()?;
        self.update_cold(
            user_id,
            |cold| {
                let (meta, _) = EnrollmentState::decode_meta(&cold.state)?;
                Ok(ColdFields {
                    status: StoredStatus::NotEnrolled,
                    state: EnrollmentState::NotEnrolled
                        .encode_with(&meta.after_factor_change(stamp)),
                    required: cold.required,
                    recovery_generation: cold.recovery_generation.wrapping_add(1),
                    recovery: None,
                })
            },
            true,
        )
        .await?;
        self.emit(AuditEvent::AdminReset {
            user_id: user_id.to_owned(),
        });
        self.emit(AuditEvent::FactorStampChanged {
            user_id: user_id.to_owned(),
        });
        Ok(stamp)
    }

    /// Deletes everything stored about a user's second factor (an erasure request, or the
    /// account deleted): the record with its sealed secrets, recovery code hashes, replay state
    /// and failure count. Returns whether there was a record. Afterwards the user reads as never
    /// enrolled, with the all-zero factor stamp that sessions opened before a first enrolment
    /// also hold, so end all of the user's sessions (the audit trail says so with
    /// [`AuditEvent::FactorStampChanged`]). The requirement to enrol and its deadline go with
    /// the record: to turn a user's 2FA off and keep the requirement, use
    /// [`EnrollmentFlow::admin_reset`].
    ///
    /// # Errors
    /// Store errors.
    pub async fn admin_delete(&self, user_id: &str) -> Result<bool, FlowError> {
        let deleted = self.store.delete(user_id).await?;
        if deleted {
            self.emit(AuditEvent::Erased {
                user_id: user_id.to_owned(),
            });
            // Back to the all-zero stamp of a user without a record, which sessions from before
            // the first enrolment also hold: end every session of the user (an erasure usually
            // deletes the account with them).
            self.emit(AuditEvent::FactorStampChanged {
                user_id: user_id.to_owned(),
            });
        }
        Ok(deleted)
    }

    /// Marks a user as required to enrol now (the application's "2FA is mandatory" policy), or
    /// not: [`EnrollmentFlow::admin_require`] with [`Requirement::Now`] or [`Requirement::Off`]
    /// (either clears a deadline). Read it back with [`EnrollmentFlow::status`]. Touches nothing
    /// else: not the failure count or a lock, not the factor stamp.
    ///
    /// # Errors
    /// Store errors.
    pub async fn admin_set_required(&self, user_id: &str, required: bool) -> Result<(), FlowError> {
        let requirement = if required {
            Requirement::Now
        } else {
            Requirement::Off
        };
        self.admin_require(user_id, requirement).await
    }

    /// Stores whether a user must enrol: [`Requirement::Now`], [`Requirement::By`] a deadline
    /// (until then [`EnrollmentFlow::next_step`] offers enrolment, after it requires it), or
    /// [`Requirement::Off`]. Replaces the stored requirement (it is not combined with it; an
    /// application's own policy is combined at [`EnrollmentFlow::next_step`]). Touches nothing
    /// else: not the failure count or a lock, not the factor stamp, not trusted browsers.
    ///
    /// ```
    /// use twofactor::flow::{NextStep, Requirement};
    /// use twofactor::{Clock, EncryptionKey, EnrollmentFlow, FlowConfig, KeyRing, ManualClock, MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let clock = ManualClock::new(1_800_000_000);
    /// let flow = EnrollmentFlow::new(
    ///     MemoryStore::new(),
    ///     KeyRing::new(EncryptionKey::generate(1)?),
    ///     FlowConfig::new("Example Co"),
    /// )?
    /// .with_clock(clock.clone());
    /// let deadline = clock.now() + 14 * 24 * 3600;
    /// flow.admin_require("u1", Requirement::By(deadline)).await?;
    /// assert!(matches!(
    ///     flow.next_step("u1", None, None).await?,
    ///     NextStep::OfferEnrollment { deadline: d } if d == deadline
    /// ));
    /// clock.set(deadline);
    /// assert!(matches!(flow.next_step("u1", None, None).await?, NextStep::RequireEnrollment));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Store errors; [`FlowError::Conflict`] only if changes keep racing.
    pub async fn admin_require(
        &self,
        user_id: &str,
        requirement: Requirement,
    ) -> Result<(), FlowError> {
        let (required, deadline) = match requirement {
            Requirement::Off => (false, None),
            Requirement::Now => (true, None),
            Requirement::By(deadline) => (true, Some(deadline)),
        };
        self.update_cold(
            user_id,
            |cold| {
                let (meta, state) = EnrollmentState::decode_meta(&cold.state)?;
                let meta = Meta {
                    required_by: deadline,
                    ..meta
                };
                Ok(ColdFields {
                    required,
                    state: state.encode_with(&meta),
                    ..cold.clone()
                })
            },
            false,
        )
        .await?;
        self.emit(AuditEvent::RequirementChanged {
            user_id: user_id.to_owned(),
            required,
            deadline,
        });
        Ok(())
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
            let (mut meta, mut state) = EnrollmentState::decode_meta(&record.cold.state)?;
            let mut changed = false;
            let extras = meta.authenticators.iter_mut().map(|a| &mut a.sealed);
            for sealed in state.sealed_mut().into_iter().chain(extras) {
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
            // Key rotation is not a factor change: the stamp (and all metadata) stays.
            let cold = ColdFields {
                state: state.encode_with(&meta),
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

    pub(super) async fn update_cold(
        &self,
        user_id: &str,
        change: impl Fn(&ColdFields) -> Result<ColdFields, FlowError>,
        reset_failures: bool,
    ) -> Result<(), FlowError> {
        for _ in 0..CAS_RETRIES {
            let result = match self.store.get(user_id).await? {
                None => {
                    let blank = ColdFields {
                        status: StoredStatus::NotEnrolled,
                        state: EnrollmentState::NotEnrolled.encode(&FactorStamp::default()),
                        required: false,
                        recovery_generation: first_generation()?,
                        recovery: None,
                    };
                    self.store.insert(user_id, &change(&blank)?).await
                }
                Some(record) => {
                    let effects = ReplaceEffects {
                        accept_step: None,
                        reset_failures,
                    };
                    self.store
                        .replace(user_id, record.version, &change(&record.cold)?, effects)
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
}
