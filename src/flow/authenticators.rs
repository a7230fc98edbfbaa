//! Several named authenticators per user (a phone and a password manager, say).
//!
//! The confirmed device of the enrolment state is the *primary* authenticator: its replay state
//! is the record's hot last step and drift, and a login with its code stays one read and one
//! [`SecretStore::settle_attempt`]. Every further authenticator lives in the metadata of the
//! state text (`au=` items, see `state.rs`) with its own sealed secret, parameters, last accepted
//! step, drift and last use, so adding one needs no schema change in any store, and a record
//! written before this feature reads as one primary authenticator.
//!
//! A login code is checked against every authenticator of the user, all of them every time, and
//! the match is selected without a branch per comparison. One failure count per user is shared
//! by all authenticators and the recovery codes. A code of an additional authenticator is
//! accepted in two writes: the attempt is first reserved on the failure count it was decided on
//! (`settle_attempt(Failed)`, so concurrent guesses get no more verdicts than the throttling
//! policy allows), then accepted by a compare-and-swap on the record's version that raises that
//! authenticator's step and resets the count; a lost race re-reads and decides again, so a code
//! is accepted at most once across servers. See `docs/authenticators.md`.

use core::fmt;

use data_encoding::BASE64URL_NOPAD;
use subtle::{Choice, ConditionallySelectable};

use super::audit::{AuditEvent, AuditSink};
use super::clock::Clock;
use super::state::{Active, EnrollmentState, Meta, Pending, canonical_number};
use super::tokens::{FactorStamp, Reauth};
use super::trust::clean_label;
use super::{CAS_RETRIES, Enrollment, EnrollmentFlow, FlowError};
use crate::otp::{Totp, TotpMatch, TotpParams, TotpState, VerifyError};
use crate::seal::SealedSecret;
use crate::store::{Attempt, ColdFields, ReplaceEffects, SecretStore, StoreError, StoredUser};

/// Bytes in an authenticator's id.
const ID_BYTES: usize = 16;
/// The name of an authenticator that was never named (every record written before names).
pub const DEFAULT_AUTHENTICATOR_NAME: &str = "Authenticator app";
/// The longest authenticator name kept, in bytes (longer ones are cut at a character boundary).
pub const MAX_AUTHENTICATOR_NAME_BYTES: usize = 64;
/// At most this many authenticators in one stored state (the configurable cap is lower).
pub(crate) const MAX_STORED_AUTHENTICATORS: usize = 16;

/// The id of a primary authenticator that was never given one (`AAAAAAAAAAAAAAAAAAAAAA`).
const UNNAMED_PRIMARY_ID: [u8; ID_BYTES] = [0; ID_BYTES];

/// The primary authenticator's id and name, stored once it has them (`pa=ID,NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrimaryName {
    pub(crate) id: [u8; ID_BYTES],
    pub(crate) name: String,
}

impl PrimaryName {
    /// `ID,NAME`, both URL-safe base64 (the name's UTF-8 bytes).
    pub(crate) fn encode(&self) -> String {
        format!(
            "{},{}",
            BASE64URL_NOPAD.encode(&self.id),
            BASE64URL_NOPAD.encode(self.name.as_bytes())
        )
    }

    /// Parses [`PrimaryName::encode`]'s form, validating every field.
    pub(crate) fn decode(text: &str) -> Option<PrimaryName> {
        let (id, name) = text.split_once(',')?;
        Some(PrimaryName {
            id: decode_id(id)?,
            name: decode_name(name)?,
        })
    }
}

/// One additional authenticator as stored in the state text.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AuthEntry {
    pub(crate) id: [u8; ID_BYTES],
    pub(crate) name: String,
    pub(crate) created_at: u64,
    pub(crate) sealed: SealedSecret,
    pub(crate) params: TotpParams,
    /// Its last accepted step (its own replay state).
    pub(crate) last_step: Option<u64>,
    /// The drift observed at that step.
    pub(crate) drift: i64,
    /// When it last passed a login or a reauthentication.
    pub(crate) last_used_at: Option<u64>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEntry")
            .field("id", &BASE64URL_NOPAD.encode(&self.id))
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("last_step", &self.last_step)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

impl AuthEntry {
    /// `ID,NAME,CREATED,ALG,DIGITS,PERIOD,EPOCH,SEALED,STEP or -,DRIFT,LAST or -`: id and name
    /// in URL-safe base64 (the name's UTF-8 bytes, so no separator can appear in it), the
    /// secret sealed with the key ring, times in Unix seconds.
    pub(crate) fn encode(&self) -> String {
        let p = &self.params;
        format!(
            "{},{},{},{},{},{},{},{},{},{},{}",
            BASE64URL_NOPAD.encode(&self.id),
            BASE64URL_NOPAD.encode(self.name.as_bytes()),
            self.created_at,
            p.algorithm.as_str(),
            p.digits.get(),
            p.period.seconds(),
            p.epoch,
            self.sealed.encode(),
            self.last_step
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            self.drift,
            self.last_used_at
                .map_or_else(|| "-".to_owned(), |t| t.to_string()),
        )
    }

    /// Parses [`AuthEntry::encode`]'s form, validating every field (canonical numbers only).
    pub(crate) fn decode(text: &str) -> Option<AuthEntry> {
        let fields: Vec<&str> = text.split(',').collect();
        let [
            id,
            name,
            created,
            alg,
            digits,
            period,
            epoch,
            sealed,
            step,
            drift,
            last,
        ] = fields.as_slice()
        else {
            return None;
        };
        let params = TotpParams::new(
            alg.parse().ok()?,
            digits.parse().ok()?,
            period.parse().ok()?,
        )
        .with_epoch(canonical_number(epoch)?);
        let entry = AuthEntry {
            id: decode_id(id)?,
            name: decode_name(name)?,
            created_at: canonical_number(created)?,
            sealed: SealedSecret::decode(sealed).ok()?,
            params,
            last_step: optional(step)?,
            drift: drift.parse().ok()?,
            last_used_at: optional(last)?,
        };
        // Canonical only: every field as it is written (no leading zero, no `+`, no `-0`).
        (entry.encode() == text).then_some(entry)
    }

    fn view(&self, primary: bool) -> Authenticator {
        Authenticator {
            id: BASE64URL_NOPAD.encode(&self.id),
            name: self.name.clone(),
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            primary,
        }
    }
}

fn decode_id(text: &str) -> Option<[u8; ID_BYTES]> {
    BASE64URL_NOPAD
        .decode(text.as_bytes())
        .ok()?
        .try_into()
        .ok()
}

fn decode_name(text: &str) -> Option<String> {
    let name = String::from_utf8(BASE64URL_NOPAD.decode(text.as_bytes()).ok()?).ok()?;
    (!name.is_empty() && clean_name(&name) == name).then_some(name)
}

fn optional(text: &str) -> Option<Option<u64>> {
    match text {
        "-" => Some(None),
        t => canonical_number(t).map(Some),
    }
}

/// A name as kept: control characters dropped, white space trimmed, at most
/// [`MAX_AUTHENTICATOR_NAME_BYTES`] bytes; [`DEFAULT_AUTHENTICATOR_NAME`] if nothing is left.
pub(crate) fn clean_name(name: &str) -> String {
    let cleaned = clean_label(name);
    if cleaned.is_empty() {
        DEFAULT_AUTHENTICATOR_NAME.to_owned()
    } else {
        cleaned
    }
}

fn new_id() -> Result<[u8; ID_BYTES], FlowError> {
    let mut id = [0u8; ID_BYTES];
    getrandom::fill(&mut id).map_err(|_| FlowError::Internal("rng"))?;
    Ok(id)
}

/// Unix time at the start of `step` under `params`.
fn step_time(params: &TotpParams, step: u64) -> u64 {
    step.saturating_mul(params.period.seconds())
        .saturating_add(params.epoch)
}

/// An authenticator as the user sees it in their settings: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Authenticator {
    /// An opaque id to rename or remove it by. Not a secret: it grants nothing.
    pub id: String,
    /// Its name ("Phone", "Password manager"), cleaned (no control characters, at most
    /// [`MAX_AUTHENTICATOR_NAME_BYTES`] bytes); [`DEFAULT_AUTHENTICATOR_NAME`] if never named.
    pub name: String,
    /// When it was confirmed (Unix seconds).
    pub created_at: u64,
    /// When a code of it was last accepted, if ever (for the primary authenticator: the start of
    /// its last accepted time step).
    pub last_used_at: Option<u64>,
    /// Whether this is the primary authenticator (the one enrolled first, or the one promoted
    /// when it was removed). Every authenticator logs in alike; the primary's login is the
    /// cheapest to settle.
    pub primary: bool,
}

/// The primary authenticator's view, from the record it is read from.
pub(super) fn primary_view(meta: &Meta, active: &Active, record: &StoredUser) -> Authenticator {
    let (id, name) = match &meta.primary {
        Some(p) => (p.id, p.name.clone()),
        None => (UNNAMED_PRIMARY_ID, DEFAULT_AUTHENTICATOR_NAME.to_owned()),
    };
    Authenticator {
        id: BASE64URL_NOPAD.encode(&id),
        name,
        created_at: active.since,
        last_used_at: record.last_step.map(|s| step_time(&active.params, s)),
        primary: true,
    }
}

fn primary_id(meta: &Meta) -> [u8; ID_BYTES] {
    meta.primary.as_ref().map_or(UNNAMED_PRIMARY_ID, |p| p.id)
}

/// Every authenticator of an active enrolment, primary first.
fn list(meta: &Meta, active: &Active, record: &StoredUser) -> Vec<Authenticator> {
    let mut out = Vec::with_capacity(1 + meta.authenticators.len());
    out.push(primary_view(meta, active, record));
    out.extend(meta.authenticators.iter().map(|a| a.view(false)));
    out
}

/// The latest use of an additional authenticator, if any.
pub(super) fn latest_extra_use(meta: &Meta) -> Option<u64> {
    meta.authenticators
        .iter()
        .filter_map(|a| a.last_used_at)
        .max()
}

/// Which authenticator a code matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Matched {
    /// The primary: settled by `settle_attempt(AcceptStep)`.
    Primary,
    /// An additional authenticator, as it stands after the login.
    Extra(Authenticator),
}

/// What one read decided for a code, with the data to settle it.
enum Decision {
    Primary { step: u64, drift: i64 },
    Extra { index: usize, step: u64, drift: i64 },
    Refused(VerifyError),
}

impl<S: SecretStore, C: Clock, A: AuditSink> EnrollmentFlow<S, C, A> {
    pub(super) fn login_totp(&self, secret: &crate::otp::Secret, params: TotpParams) -> Totp {
        Totp::new(secret, params)
            .with_window(self.config.window)
            .with_max_drift(self.config.max_drift)
            .with_skew_diagnosis(self.config.skew_diagnosis)
    }

    /// Checks `code` against every authenticator of the user and settles the attempt: the
    /// primary's match with `settle_attempt(AcceptStep)` (one write, as with one
    /// authenticator), an additional one's by reserving the attempt on the failure count and
    /// then a compare-and-swap raising its step, a wrong code with `settle_attempt(Failed)`.
    /// Returns the record as it stands after the winning write (for an additional
    /// authenticator, with the new version and state text) and which authenticator matched.
    pub(super) async fn check_any_code(
        &self,
        record: StoredUser,
        active: &Active,
        meta: &Meta,
        code: &str,
        now: u64,
    ) -> Result<(StoredUser, Matched), FlowError> {
        if meta.authenticators.is_empty() {
            // One authenticator: today's path, one read and one write.
            let record = self.check_code(record, active, code, now).await?;
            return Ok((record, Matched::Primary));
        }
        let user_id = record.user_id.clone();
        // The first round decides on the record the caller read and decoded.
        let mut next = Some((record, active.clone(), meta.clone()));
        for _ in 0..CAS_RETRIES {
            let (record, active, meta) = match next.take() {
                Some(read) => read,
                None => {
                    let record = self
                        .store
                        .get(&user_id)
                        .await?
                        .ok_or(FlowError::NotEnrolled)?;
                    let (meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
                    let active = state.active().cloned().ok_or(FlowError::NotEnrolled)?;
                    (record, active, meta)
                }
            };
            // Scanned without skew diagnosis (a login's window only, so a right code costs the
            // same whichever authenticator it is of); a refused code is diagnosed afterwards.
            let primary = self
                .login_totp(&self.keys.open(&user_id, &active.sealed)?, active.params)
                .with_skew_diagnosis(0);
            let mut extras = Vec::with_capacity(meta.authenticators.len());
            for entry in &meta.authenticators {
                let secret = self.keys.open(&user_id, &entry.sealed)?;
                extras.push(
                    self.login_totp(&secret, entry.params)
                        .with_skew_diagnosis(0),
                );
            }
            let diagnosis = self.config.skew_diagnosis;
            let settled = self
                .settle(record, now, |read| {
                    let decision = decide(&primary, &extras, &meta, read, code, now, diagnosis);
                    let attempt = match decision {
                        Decision::Primary { step, drift } => Attempt::AcceptStep {
                            step,
                            drift,
                            version: read.version,
                            generation: read.cold.recovery_generation,
                        },
                        // An additional authenticator's code reserves the attempt like a
                        // failure; the compare-and-swap below accepts it and resets the count.
                        Decision::Extra { .. } | Decision::Refused(_) => Attempt::Failed,
                    };
                    Ok((attempt, decision))
                })
                .await;
            let (record, attempt, decision, failures) = match settled {
                Err(FlowError::Conflict) => continue,
                other => other?,
            };
            match (attempt, decision) {
                (Attempt::AcceptStep { .. }, _) => return Ok((record, Matched::Primary)),
                (_, Decision::Extra { index, step, drift }) => {
                    // The state as read, to write it back with the new step.
                    let (mut meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
                    let Some(entry) = meta.authenticators.get_mut(index) else {
                        return Err(FlowError::Internal("authenticator index"));
                    };
                    entry.last_step = Some(step);
                    entry.drift = drift;
                    entry.last_used_at = Some(now);
                    let cold = ColdFields {
                        state: state.encode_with(&meta),
                        ..record.cold.clone()
                    };
                    let effects = ReplaceEffects {
                        accept_step: None,
                        reset_failures: true,
                    };
                    match self
                        .store
                        .replace(&user_id, record.version, &cold, effects)
                        .await
                    {
                        Ok(version) => {
                            let mut after = record;
                            after.version = version;
                            after.cold = cold;
                            after.failures = 0;
                            after.last_failure_at = None;
                            let view = meta
                                .authenticators
                                .get(index)
                                .map(|a| a.view(false))
                                .ok_or(FlowError::Internal("authenticator index"))?;
                            return Ok((after, Matched::Extra(view)));
                        }
                        // Another write came first (maybe this very code on another server):
                        // read again and decide again.
                        Err(StoreError::Conflict) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                (_, Decision::Refused(error)) => {
                    return Err(self.refused(&user_id, error, failures, now));
                }
                (_, Decision::Primary { .. }) => {
                    return Err(self.refused(&user_id, VerifyError::Invalid, failures, now));
                }
            }
        }
        Err(FlowError::Conflict)
    }

    /// Every authenticator of a user with 2FA active, the primary first: id, name, created and
    /// last used, never a secret.
    ///
    /// ```
    /// use twofactor::{EncryptionKey, EnrollmentFlow, FlowConfig, KeyRing, MemoryStore, Reauth};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let flow = EnrollmentFlow::new(
    ///     MemoryStore::new(),
    ///     KeyRing::new(EncryptionKey::generate(1)?),
    ///     FlowConfig::new("Example Co"),
    /// )?;
    /// # let e = flow.begin("u1", "alice").await?;
    /// # let phone = e.uri().to_totp().expect("totp");
    /// # let codes = flow.confirm("u1", e.ticket(), phone.generate_now()?.as_str()).await?
    /// #     .into_recovery_codes().expect("codes");
    /// // A login passed the second factor; on the settings page, add a password manager:
    /// let login = flow.verify("u1", &codes.codes()[0].expose()).await?;
    /// let proof = login.proof;
    /// let added = flow
    ///     .begin_add_authenticator("u1", "alice", "Password manager", Reauth::recent(&proof))
    ///     .await?;
    /// let manager = added.uri().to_totp().expect("totp");
    /// flow.confirm("u1", added.ticket(), manager.generate_now()?.as_str()).await?;
    ///
    /// let listed = flow.authenticators("u1").await?;
    /// assert_eq!(listed.len(), 2);
    /// assert_eq!(listed[1].name, "Password manager");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`FlowError::NotEnrolled`]; store errors (also a corrupt record).
    pub async fn authenticators(&self, user_id: &str) -> Result<Vec<Authenticator>, FlowError> {
        let (record, active, meta) = self.active_record_meta(user_id).await?;
        Ok(list(&meta, &active, &record))
    }

    /// Begins adding another authenticator named `name` ("Password manager") for a user with
    /// 2FA active: returns its secret and ticket like [`EnrollmentFlow::begin`]; it is added
    /// when [`EnrollmentFlow::confirm`] gets the ticket and its first code. Requires a valid
    /// code or recovery code now (consumed) or a recent-verification proof ([`Reauth`]), like a
    /// new device. Replaces any enrolment pending for the user (a new device or another
    /// addition). At most [`FlowConfig::authenticators_max`](super::FlowConfig) in all: each
    /// extra secret is one more a guess can match.
    ///
    /// # Errors
    /// [`FlowError::TooManyAuthenticators`]; as [`EnrollmentFlow::begin_new_device`].
    pub async fn begin_add_authenticator<'a>(
        &self,
        user_id: &str,
        account_name: &str,
        name: &str,
        reauth: impl Into<Reauth<'a>>,
    ) -> Result<Enrollment, FlowError> {
        let proven = self.prove(user_id, reauth.into()).await?;
        let (meta, _) = EnrollmentState::decode_meta(&proven.cold.state)?;
        let max = self.config.authenticators_max;
        if 1 + meta.authenticators.len() >= max {
            return Err(FlowError::TooManyAuthenticators { max });
        }
        self.begin_inner(user_id, account_name, Some(proven), Some(clean_name(name)))
            .await
    }

    /// Confirms a pending addition (called by [`EnrollmentFlow::confirm`]): the new
    /// authenticator joins the others with the confirming code's step as its last step.
    pub(super) fn add_confirmed(
        &self,
        meta: &Meta,
        name: &str,
        pending: Pending,
        accepted: TotpMatch,
        now: u64,
        stamp: FactorStamp,
    ) -> Result<(Meta, Authenticator), FlowError> {
        let max = self.config.authenticators_max;
        if 1 + meta.authenticators.len() >= max {
            return Err(FlowError::TooManyAuthenticators { max });
        }
        let entry = AuthEntry {
            id: new_id()?,
            name: name.to_owned(),
            created_at: now,
            sealed: pending.sealed,
            params: pending.params,
            last_step: Some(accepted.step),
            drift: accepted.drift,
            last_used_at: None,
        };
        let view = entry.view(false);
        let mut meta = meta.after_authenticator_change(stamp);
        meta.authenticators.push(entry);
        Ok((meta, view))
    }

    /// Removes an authenticator. Requires a valid code or recovery code now (consumed) or a
    /// recent-verification proof ([`Reauth`]). The last one cannot be removed (turn 2FA off
    /// with [`EnrollmentFlow::disable`] instead). Removing the primary promotes the oldest
    /// other one: its step becomes the record's last step, which is never lowered, so that
    /// device's code may be refused for the rest of the current time step (never a replay
    /// accepted). Changes the factor stamp, which revokes every trusted browser; cancels any
    /// pending enrolment. Returns the new stamp.
    ///
    /// ```
    /// use twofactor::{EncryptionKey, EnrollmentFlow, FlowConfig, FlowError, KeyRing, MemoryStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let flow = EnrollmentFlow::new(
    ///     MemoryStore::new(),
    ///     KeyRing::new(EncryptionKey::generate(1)?),
    ///     FlowConfig::new("Example Co"),
    /// )?;
    /// # let e = flow.begin("u1", "alice").await?;
    /// # let phone = e.uri().to_totp().expect("totp");
    /// # let codes = flow.confirm("u1", e.ticket(), phone.generate_now()?.as_str()).await?
    /// #     .into_recovery_codes().expect("codes");
    /// let proof = flow.verify("u1", &codes.codes()[0].expose()).await?.proof;
    /// let only = flow.authenticators("u1").await?.remove(0);
    /// flow.rename_authenticator("u1", &only.id, "Phone").await?;
    /// // The only authenticator stays: turning 2FA off is a decision of its own.
    /// let refused = flow.remove_authenticator("u1", &only.id, &proof).await;
    /// assert!(matches!(refused, Err(FlowError::LastAuthenticator)));
    /// assert_eq!(flow.authenticators("u1").await?[0].name, "Phone");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`FlowError::UnknownAuthenticator`], [`FlowError::LastAuthenticator`], as
    /// [`EnrollmentFlow::disable`] for the reauthentication, and [`FlowError::Conflict`].
    pub async fn remove_authenticator<'a>(
        &self,
        user_id: &str,
        id: &str,
        reauth: impl Into<Reauth<'a>>,
    ) -> Result<FactorStamp, FlowError> {
        let wanted = decode_id(id).ok_or(FlowError::UnknownAuthenticator)?;
        let record = self.prove(user_id, reauth.into()).await?;
        let (meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
        let EnrollmentState::Active { active, .. } = state else {
            return Err(FlowError::NotEnrolled);
        };
        let stamp = FactorStamp::generate()?;
        let mut after = meta.after_authenticator_change(stamp);
        after.adding = None;
        let (active, accept_step, primary) = if wanted == primary_id(&meta) {
            if after.authenticators.is_empty() {
                return Err(FlowError::LastAuthenticator);
            }
            let promoted = after.authenticators.remove(0);
            after.primary = Some(PrimaryName {
                id: promoted.id,
                name: promoted.name.clone(),
            });
            let active = Active {
                sealed: promoted.sealed,
                params: promoted.params,
                since: promoted.created_at,
                revealable: active.revealable,
            };
            (
                active,
                promoted.last_step.map(|s| (s, promoted.drift)),
                true,
            )
        } else {
            let before = after.authenticators.len();
            after.authenticators.retain(|a| a.id != wanted);
            if after.authenticators.len() == before {
                return Err(FlowError::UnknownAuthenticator);
            }
            (active, None, false)
        };
        let state = EnrollmentState::Active {
            active,
            replacement: None,
        };
        let cold = ColdFields {
            status: state.status(),
            state: state.encode_with(&after),
            ..record.cold.clone()
        };
        let effects = ReplaceEffects {
            accept_step,
            reset_failures: false,
        };
        self.replace_or_conflict(&record, &cold, effects).await?;
        self.emit(AuditEvent::AuthenticatorRemoved {
            user_id: user_id.to_owned(),
            id: id.to_owned(),
            primary,
        });
        self.emit(AuditEvent::FactorStampChanged {
            user_id: user_id.to_owned(),
        });
        Ok(stamp)
    }

    /// Renames an authenticator (the name is cleaned as at
    /// [`EnrollmentFlow::begin_add_authenticator`]). Not a factor change: no reauthentication,
    /// the stamp and trusted browsers stay.
    ///
    /// # Errors
    /// [`FlowError::UnknownAuthenticator`], [`FlowError::NotEnrolled`], store errors,
    /// [`FlowError::Conflict`] if changes keep racing.
    pub async fn rename_authenticator(
        &self,
        user_id: &str,
        id: &str,
        name: &str,
    ) -> Result<Authenticator, FlowError> {
        let wanted = decode_id(id).ok_or(FlowError::UnknownAuthenticator)?;
        let name = clean_name(name);
        for _ in 0..CAS_RETRIES {
            let (record, active, mut meta) = self.active_record_meta(user_id).await?;
            let (_, state) = EnrollmentState::decode_meta(&record.cold.state)?;
            let view = if wanted == primary_id(&meta) {
                meta.primary = Some(PrimaryName {
                    id: wanted,
                    name: name.clone(),
                });
                primary_view(&meta, &active, &record)
            } else {
                let entry = meta
                    .authenticators
                    .iter_mut()
                    .find(|a| a.id == wanted)
                    .ok_or(FlowError::UnknownAuthenticator)?;
                entry.name.clone_from(&name);
                entry.view(false)
            };
            let cold = ColdFields {
                state: state.encode_with(&meta),
                ..record.cold.clone()
            };
            match self
                .store
                .replace(user_id, record.version, &cold, ReplaceEffects::default())
                .await
            {
                Ok(_) => {
                    self.emit(AuditEvent::AuthenticatorRenamed {
                        user_id: user_id.to_owned(),
                        id: id.to_owned(),
                    });
                    return Ok(view);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlowError::Conflict)
    }

    /// The sealed secret, parameters and last step of the authenticator whose last use is
    /// `at`, for telling a login's own code typed again.
    pub(super) fn used_at(meta: &Meta, at: u64) -> Option<(&SealedSecret, TotpParams, u64)> {
        meta.authenticators
            .iter()
            .find(|a| a.last_used_at == Some(at))
            .and_then(|a| a.last_step.map(|s| (&a.sealed, a.params, s)))
    }
}

/// Decides a code against every authenticator as read: each one is verified, and the match
/// is selected without a branch per authenticator (the primary wins a tie: its write is one
/// `settle_attempt`). A code none accepts is then checked for clock skew against each of them
/// (`diagnosis` steps either side), for the audit trail and the person typing.
fn decide(
    primary: &Totp,
    extras: &[Totp],
    meta: &Meta,
    read: &StoredUser,
    code: &str,
    now: u64,
    diagnosis: u16,
) -> Decision {
    let first = primary.verify(code, now, &TotpState::new(read.last_step, read.drift));
    let mut any = Choice::from(0);
    let mut index = 0u64;
    let mut step = 0u64;
    let mut drift = 0i64;
    let mut replayed = Choice::from(u8::from(matches!(first, Err(VerifyError::Replayed))));
    let mut skew = match first {
        Err(VerifyError::ClockSkew { steps }) => Some(steps),
        _ => None,
    };
    for (i, (totp, entry)) in extras.iter().zip(&meta.authenticators).enumerate() {
        let result = totp.verify(code, now, &TotpState::new(entry.last_step, entry.drift));
        let (hit, s, d) = result
            .as_ref()
            .map_or((0u8, 0, 0), |m| (1u8, m.step, m.drift));
        // The first match wins: later ones may not overwrite it.
        let take = Choice::from(hit) & !any;
        index.conditional_assign(&(i as u64), take);
        step.conditional_assign(&s, take);
        drift.conditional_assign(&d, take);
        any |= Choice::from(hit);
        replayed |= Choice::from(u8::from(matches!(result, Err(VerifyError::Replayed))));
        if let (None, Err(VerifyError::ClockSkew { steps })) = (skew, &result) {
            skew = Some(*steps);
        }
    }
    if let Ok(m) = &first {
        return Decision::Primary {
            step: m.step,
            drift: m.drift,
        };
    }
    if bool::from(any) {
        return match usize::try_from(index) {
            Ok(index) => Decision::Extra { index, step, drift },
            Err(_) => Decision::Refused(VerifyError::Invalid),
        };
    }
    if diagnosis > 0 && !bool::from(replayed) {
        let states = core::iter::once(TotpState::new(read.last_step, read.drift)).chain(
            meta.authenticators
                .iter()
                .map(|a| TotpState::new(a.last_step, a.drift)),
        );
        for (totp, state) in core::iter::once(primary).chain(extras).zip(states) {
            let result = totp
                .clone()
                .with_skew_diagnosis(diagnosis)
                .verify(code, now, &state);
            if let (None, Err(VerifyError::ClockSkew { steps })) = (skew, result) {
                skew = Some(steps);
            }
        }
    }
    Decision::Refused(if bool::from(replayed) {
        VerifyError::Replayed
    } else if let Some(steps) = skew {
        VerifyError::ClockSkew { steps }
    } else {
        VerifyError::Invalid
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otp::{Algorithm, Secret};
    use crate::seal::{EncryptionKey, KeyRing};

    fn entry() -> AuthEntry {
        let ring = KeyRing::new(EncryptionKey::generate(1).unwrap());
        AuthEntry {
            id: [7; ID_BYTES],
            name: "Password manager".to_owned(),
            created_at: 5,
            sealed: ring
                .seal("u", &Secret::generate(Algorithm::Sha1).unwrap())
                .unwrap(),
            params: TotpParams::default(),
            last_step: Some(100),
            drift: -1,
            last_used_at: None,
        }
    }

    #[test]
    fn entries_round_trip_and_malformed_ones_are_refused() {
        let e = entry();
        let text = e.encode();
        assert_eq!(AuthEntry::decode(&text), Some(e.clone()));
        let fields: Vec<&str> = text.split(',').collect();
        let with = |i: usize, value: &str| {
            let mut f = fields.clone();
            f[i] = value;
            f.join(",")
        };
        for bad in [
            with(0, "short"),
            with(1, ""),
            with(1, &BASE64URL_NOPAD.encode(b" padded ")),
            with(1, &BASE64URL_NOPAD.encode(b"bell\x07")),
            with(2, "05"),
            with(2, "-1"),
            with(3, "MD5"),
            with(4, "9"),
            with(5, "0"),
            with(6, "x"),
            with(7, "garbage"),
            with(8, "x"),
            with(8, "007"),
            with(9, "+1"),
            with(9, "-0"),
            with(9, "-"),
            with(10, "1.5"),
            format!("{text},1"),
            fields[..10].join(","),
            String::new(),
        ] {
            assert_eq!(AuthEntry::decode(&bad), None, "{bad}");
        }
        assert!(AuthEntry::decode(&with(8, "-")).is_some());
        assert!(AuthEntry::decode(&with(10, "99")).is_some());
        // Debug never shows the sealed secret.
        let debug = format!("{e:?}");
        assert!(!debug.contains(&e.sealed.encode()), "{debug}");
    }

    #[test]
    fn primary_names_round_trip() {
        let p = PrimaryName {
            id: [1; ID_BYTES],
            name: "Phone".to_owned(),
        };
        assert_eq!(PrimaryName::decode(&p.encode()), Some(p));
        assert_eq!(PrimaryName::decode("AQEBAQEBAQEBAQEBAQEBAQ"), None);
        assert_eq!(PrimaryName::decode("AQEBAQEBAQEBAQEBAQEBAQ,"), None);
        assert_eq!(PrimaryName::decode("x,UGhvbmU"), None);
    }

    #[test]
    fn names_are_cleaned_and_never_empty() {
        assert_eq!(clean_name("  Phone\n"), "Phone");
        assert_eq!(clean_name(" \t "), DEFAULT_AUTHENTICATOR_NAME);
        assert!(clean_name(&"é".repeat(100)).len() <= MAX_AUTHENTICATOR_NAME_BYTES);
    }
}
