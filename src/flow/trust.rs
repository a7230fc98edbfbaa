//! Trusted browsers ("remember this browser for 30 days"): a long-lived bearer token that lets
//! a browser skip the second step of later logins.
//!
//! | value | made by | proves | stored by the crate as |
//! |---|---|---|---|
//! | [`TrustToken`] | [`EnrollmentFlow::trust_browser`], behind a fresh login's proof | this browser passed a second factor for this user under this factor stamp | a SHA-256 hash (over the user id and the token) in the user's state text |
//!
//! The token is itself a credential, so it is treated like one (OWASP MFA cheat sheet, "remember
//! this device"): 256 bits from the operating system's generator, returned once, stored only as
//! a hash, compared in constant time, bound to the user (the hash covers the user id) and to the
//! factor stamp at issue (any factor change kills it), listed for the user without the token,
//! revocable one by one or all at once, revoked by disable, an administrator's reset and a new
//! device, capped per user (the oldest dropped), and expiring.
//!
//! The entries live in the same state text as the enrolment (see `state.rs`), so issuing, using
//! and revoking are each one compare-and-swap on the record's version in every store: a use
//! that loses a race with a revoke re-reads and finds the token gone, so no server accepts a
//! token after its revoke commits.
//!
//! The token is bound to the factor stamp, not to the password: when the password changes or
//! is reset (above all after a compromise), call
//! [`EnrollmentFlow::revoke_trusted_browsers`] too, or a browser that learns the new password
//! still skips the second step.
//!
//! The stored value is a plain hash, not a keyed MAC: one who can write the database can add a
//! trusted browser of their own, as they could already turn the user's 2FA off by writing the
//! state; the audit event of its first use ([`AuditEvent::TrustedBrowserUsed`]) shows it.
//!
//! A trusted login skips the second factor but yields no
//! [`RecentVerification`]: sensitive changes (disable, a new device, regenerating or revealing
//! recovery codes) still need a code typed now, so a stolen cookie cannot turn 2FA off.

use core::fmt;

use data_encoding::BASE64URL_NOPAD;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

use super::audit::{AuditEvent, AuditSink};
use super::clock::Clock;
use super::state::{EnrollmentState, Meta, canonical_number};
use super::tokens::{FactorStamp, RecentVerification};
use super::{CAS_RETRIES, EnrollmentFlow, FlowError};
use crate::store::{ColdFields, ReplaceEffects, SecretStore, StoreError, StoredUser};

/// Bytes of entropy in a trust token.
const TOKEN_BYTES: usize = 32;
/// Bytes in a trusted browser's id.
const ID_BYTES: usize = 16;
/// The longest label kept, in bytes (longer ones are cut at a character boundary).
pub const MAX_LABEL_BYTES: usize = 64;
/// How long after a login its proof may still ask for a trust token, in seconds.
pub const TRUST_AFTER_LOGIN: u64 = 10 * 60;
/// Domain separation of the stored hash.
const HASH_DOMAIN: &[u8] = b"twofactor trusted browser v1\0";

/// A trusted browser's token: returned once by [`EnrollmentFlow::trust_browser`], set by the
/// application as a long-lived cookie (`Secure`, `HttpOnly`, `SameSite=Lax` or stricter, path
/// limited to the login), and presented at later logins to
/// [`EnrollmentFlow::next_step`] or [`EnrollmentFlow::verify_trusted`].
///
/// 256 bits from the operating system's generator, as URL-safe base64 (43 characters). Only a
/// hash of it is stored. Zeroized on drop; `Debug` prints `[redacted]`; no `Display`.
#[derive(Clone)]
pub struct TrustToken(Zeroizing<String>);

impl TrustToken {
    fn generate() -> Result<TrustToken, FlowError> {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        getrandom::fill(bytes.as_mut()).map_err(|_| FlowError::Internal("rng"))?;
        Ok(TrustToken(Zeroizing::new(
            BASE64URL_NOPAD.encode(bytes.as_ref()),
        )))
    }

    /// The token as text, for the cookie. **Security:** a credential that skips the second
    /// factor until it expires or is revoked.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A token read back from the browser's cookie. Any text is accepted here; a wrong one
    /// simply does not match.
    ///
    /// ```
    /// let token = twofactor::flow::TrustToken::from_cookie("from-the-cookie");
    /// assert_eq!(format!("{token:?}"), "TrustToken([redacted])");
    /// ```
    pub fn from_cookie(text: &str) -> TrustToken {
        TrustToken(Zeroizing::new(text.to_owned()))
    }

    /// The stored hash: SHA-256 over a domain tag, the user id (length-prefixed) and the token,
    /// so a hash copied to another user's record matches nothing.
    fn hash(&self, user_id: &str) -> TrustHash {
        let mut h = Sha256::new();
        h.update(HASH_DOMAIN);
        h.update((user_id.len() as u64).to_be_bytes());
        h.update(user_id.as_bytes());
        h.update(self.0.as_bytes());
        TrustHash(h.finalize().into())
    }
}

impl fmt::Debug for TrustToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TrustToken([redacted])")
    }
}

/// The stored hash of a [`TrustToken`].
#[derive(Clone, PartialEq, Eq)]
struct TrustHash([u8; 32]);

impl fmt::Debug for TrustHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TrustHash(..)")
    }
}

/// One trusted browser as stored in the state text.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TrustEntry {
    id: [u8; ID_BYTES],
    hash: TrustHash,
    stamp: FactorStamp,
    label: String,
    created_at: u64,
    last_used_at: Option<u64>,
    expires_at: u64,
}

impl fmt::Debug for TrustEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustEntry")
            .field("id", &BASE64URL_NOPAD.encode(&self.id))
            .field("label", &self.label)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl TrustEntry {
    /// `ID,HASH,STAMP,LABEL,CREATED,LAST or -,EXPIRES`: id, hash and label in URL-safe base64
    /// (the label's UTF-8 bytes, so no separator can appear in it), times in Unix seconds.
    pub(crate) fn encode(&self) -> String {
        format!(
            "{},{},{},{},{},{},{}",
            BASE64URL_NOPAD.encode(&self.id),
            BASE64URL_NOPAD.encode(&self.hash.0),
            self.stamp,
            BASE64URL_NOPAD.encode(self.label.as_bytes()),
            self.created_at,
            self.last_used_at
                .map_or_else(|| "-".to_owned(), |t| t.to_string()),
            self.expires_at,
        )
    }

    /// Parses [`TrustEntry::encode`]'s form, validating every field.
    pub(crate) fn decode(text: &str) -> Option<TrustEntry> {
        let fields: Vec<&str> = text.split(',').collect();
        let [id, hash, stamp, label, created, last, expires] = fields.as_slice() else {
            return None;
        };
        let label = String::from_utf8(BASE64URL_NOPAD.decode(label.as_bytes()).ok()?).ok()?;
        if label.len() > MAX_LABEL_BYTES || clean_label(&label) != label {
            return None;
        }
        Some(TrustEntry {
            id: BASE64URL_NOPAD
                .decode(id.as_bytes())
                .ok()?
                .try_into()
                .ok()?,
            hash: TrustHash(
                BASE64URL_NOPAD
                    .decode(hash.as_bytes())
                    .ok()?
                    .try_into()
                    .ok()?,
            ),
            stamp: stamp.parse().ok()?,
            label,
            created_at: canonical_number(created)?,
            last_used_at: match *last {
                "-" => None,
                t => Some(canonical_number(t)?),
            },
            expires_at: canonical_number(expires)?,
        })
    }

    pub(crate) fn same_id(&self, other: &TrustEntry) -> bool {
        self.id == other.id
    }

    /// Usable at `now` under the user's current `stamp`, and younger than `max_lifetime` (the
    /// configured maximum now, which may be shorter than when it was issued).
    fn valid(&self, now: u64, stamp: &FactorStamp, max_lifetime: u64) -> bool {
        now < self.expires_at
            && now < self.created_at.saturating_add(max_lifetime)
            && self.stamp.matches(stamp)
    }

    fn view(&self) -> TrustedBrowser {
        TrustedBrowser {
            id: BASE64URL_NOPAD.encode(&self.id),
            label: self.label.clone(),
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            expires_at: self.expires_at,
        }
    }
}

/// The label as kept: control characters and invisible formatting (text-direction overrides,
/// zero-width characters, which could disguise a label in the user's list) dropped, white space
/// trimmed, at most [`MAX_LABEL_BYTES`] bytes (cut at a character boundary).
pub(super) fn clean_label(label: &str) -> String {
    let mut out = String::new();
    for c in label
        .trim()
        .chars()
        .filter(|c| !c.is_control() && !is_invisible_format(*c))
    {
        if out.len() + c.len_utf8() > MAX_LABEL_BYTES {
            break;
        }
        out.push(c);
    }
    out.trim_end().to_owned()
}

/// Unicode format characters that change how text around them reads without being seen:
/// bidirectional marks, embeddings, overrides and isolates, zero-width characters, the soft
/// hyphen and the byte order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// A trusted browser as the user sees it in their settings: never the token.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TrustedBrowser {
    /// An opaque id to revoke it by ([`EnrollmentFlow::revoke_trusted_browser`]). Not a secret
    /// and not the token: it grants nothing.
    pub id: String,
    /// The label given at issue ("Firefox on Linux"), cleaned (no control characters, at most
    /// [`MAX_LABEL_BYTES`] bytes).
    pub label: String,
    /// When it was trusted (Unix seconds).
    pub created_at: u64,
    /// When it last skipped a second step, if ever.
    pub last_used_at: Option<u64>,
    /// When it stops being trusted.
    pub expires_at: u64,
}

/// A browser just trusted: the token to set as a cookie (once; it cannot be read back) and what
/// the user will see in their list.
#[derive(Debug)]
#[non_exhaustive]
pub struct BrowserTrusted {
    /// The token, for the cookie (its `Max-Age` up to [`TrustedBrowser::expires_at`]).
    pub token: TrustToken,
    /// The entry as listed.
    pub browser: TrustedBrowser,
}

/// A login whose second step a trusted browser skipped.
///
/// Unlike [`Verified`](super::Verified), it carries no [`RecentVerification`]: sensitive changes
/// still ask for a code typed now.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TrustedLogin {
    /// The browser that was used (its last use is now).
    pub browser: TrustedBrowser,
    /// The user's factor stamp; keep it in the session as after any login.
    pub stamp: FactorStamp,
}

/// The index of the entry whose hash is `hash`: every entry is compared, in constant time, and
/// the index is selected without a branch on any comparison.
fn find(entries: &[TrustEntry], hash: &TrustHash) -> Option<usize> {
    let mut index = 0u64;
    let mut any = Choice::from(0);
    for (i, entry) in entries.iter().enumerate() {
        let hit = entry.hash.0.ct_eq(&hash.0);
        index.conditional_assign(&(i as u64), hit);
        any |= hit;
    }
    if bool::from(any) {
        usize::try_from(index).ok()
    } else {
        None
    }
}

impl<S: SecretStore, C: Clock, A: AuditSink> EnrollmentFlow<S, C, A> {
    /// Trusts this browser after a successful second factor: issues a [`TrustToken`] that
    /// skips the second step of this user's later logins from it until it expires (after
    /// `lifetime` seconds, default [`FlowConfig::trusted_browser_lifetime`], at most
    /// [`FlowConfig::trusted_browser_max_lifetime`]) or is revoked. `label` names it in the
    /// user's list ("Firefox on Linux"). At most [`FlowConfig::trusted_browsers_max`] are kept
    /// per user: the oldest is dropped.
    ///
    /// Requires `proof`, the [`Verified::proof`](super::Verified::proof) of a login at most
    /// [`TRUST_AFTER_LOGIN`] seconds old under the user's current factor stamp, so that a
    /// session that passed only the password step (or a trusted login) cannot ask for one.
    ///
    /// ```
    /// use twofactor::{EncryptionKey, EnrollmentFlow, FlowConfig, KeyRing, MemoryStore};
    /// use twofactor::flow::{NextStep, TrustToken};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let flow = EnrollmentFlow::new(
    ///     MemoryStore::new(),
    ///     KeyRing::new(EncryptionKey::generate(1)?),
    ///     FlowConfig::new("Example Co"),
    /// )?;
    /// # let e = flow.begin("u1", "alice").await?;
    /// # let app = e.uri().to_totp().expect("totp");
    /// # let codes = flow.confirm("u1", e.ticket(), app.generate_now()?.as_str()).await?
    /// #     .into_recovery_codes().expect("codes");
    /// // A login passed the second factor, with "remember this browser" ticked:
    /// let login = flow.verify("u1", &codes.codes()[0].expose()).await?;
    /// let trusted = flow.trust_browser("u1", &login.proof, "Firefox on Linux", None).await?;
    /// let cookie = trusted.token.expose().to_owned(); // Secure, HttpOnly, Max-Age
    ///
    /// // A later login from that browser, after the password step:
    /// let token = TrustToken::from_cookie(&cookie);
    /// let step = flow.next_step("u1", None, Some(&token)).await?;
    /// assert!(matches!(step, NextStep::Trusted(_)));
    ///
    /// // The settings page lists it (never the token) and can revoke it.
    /// let listed = flow.trusted_browsers("u1").await?;
    /// assert_eq!(listed[0].label, "Firefox on Linux");
    /// assert!(flow.revoke_trusted_browser("u1", &listed[0].id).await?);
    /// let step = flow.next_step("u1", None, Some(&token)).await?;
    /// assert!(matches!(step, NextStep::SecondFactor));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`FlowConfig::trusted_browser_lifetime`]: super::FlowConfig::trusted_browser_lifetime
    /// [`FlowConfig::trusted_browser_max_lifetime`]: super::FlowConfig::trusted_browser_max_lifetime
    /// [`FlowConfig::trusted_browsers_max`]: super::FlowConfig::trusted_browsers_max
    ///
    /// # Errors
    /// [`FlowError::Config`] when trusted browsers are turned off (a cap of 0) or `lifetime` is
    /// 0; [`FlowError::NotEnrolled`]; [`FlowError::ReauthRequired`] when the proof is not a
    /// recent login's for this user and stamp; store errors; [`FlowError::Conflict`] if changes
    /// keep racing.
    pub async fn trust_browser(
        &self,
        user_id: &str,
        proof: &RecentVerification,
        label: &str,
        lifetime: Option<u64>,
    ) -> Result<BrowserTrusted, FlowError> {
        let cap = self.config.trusted_browsers_max;
        if cap == 0 {
            return Err(FlowError::Config("trusted browsers are turned off"));
        }
        let lifetime = lifetime
            .unwrap_or(self.config.trusted_browser_lifetime)
            .min(self.config.trusted_browser_max_lifetime);
        if lifetime == 0 {
            return Err(FlowError::Config(
                "a trusted browser's lifetime must be positive",
            ));
        }
        let token = TrustToken::generate()?;
        let hash = token.hash(user_id);
        let mut id = [0u8; ID_BYTES];
        getrandom::fill(&mut id).map_err(|_| FlowError::Internal("rng"))?;
        let label = clean_label(label);
        for _ in 0..CAS_RETRIES {
            let (record, _, stamp) = self.active_record(user_id).await?;
            let now = self.clock.now();
            let (mut meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
            // The user's latest second factor: the primary's (hot) or another authenticator's.
            let last_use = record
                .last_used_at
                .max(super::authenticators::latest_extra_use(&meta));
            let proven = proof
                .open(&self.keys, user_id)
                .filter(|(_, proof_stamp)| proof_stamp.matches(&stamp))
                .is_some_and(|(at, _)| {
                    at <= now && now - at <= TRUST_AFTER_LOGIN && last_use == Some(at)
                });
            prune(
                &mut meta,
                now,
                cap,
                self.config.trusted_browser_max_lifetime,
            );
            // Only the proof of the user's latest second factor qualifies.
            if !proven {
                return Err(FlowError::ReauthRequired);
            }
            // Oldest first: entries are appended as they are issued.
            let evicted = (meta.trusted.len() + 1).saturating_sub(cap);
            meta.trusted.drain(..evicted);
            let entry = TrustEntry {
                id,
                hash: hash.clone(),
                stamp,
                label: label.clone(),
                created_at: now,
                last_used_at: None,
                expires_at: now.saturating_add(lifetime),
            };
            let browser = entry.view();
            meta.trusted.push(entry);
            match self.write_meta(&record, &state, &meta).await {
                Ok(()) => {
                    if evicted > 0 {
                        self.emit(AuditEvent::TrustedBrowsersRevoked {
                            user_id: user_id.to_owned(),
                            count: evicted,
                        });
                    }
                    self.emit(AuditEvent::BrowserTrusted {
                        user_id: user_id.to_owned(),
                        id: browser.id.clone(),
                    });
                    return Ok(BrowserTrusted { token, browser });
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlowError::Conflict)
    }

    /// Checks a trusted browser's token after the password step: `Some` (the second step is
    /// skipped, and the token's last use is recorded) if it is this user's, unexpired, not
    /// revoked, issued under the current factor stamp, and 2FA is active; `None` otherwise
    /// (ask for the second factor). An expired or stale-stamp token is removed as it is refused.
    ///
    /// The acceptance is the compare-and-swap that records the last use: a concurrent revoke
    /// either commits first (and this re-reads and refuses) or fails and re-reads itself, so a
    /// token is never accepted after its revoke commits, on any server. A trusted login is not
    /// throttled (a 256-bit token cannot be guessed) and is not refused by a lock, which guards
    /// against guessed codes only.
    ///
    /// See [`EnrollmentFlow::trust_browser`] for an example; [`EnrollmentFlow::next_step`] calls
    /// this when given a token.
    ///
    /// # Errors
    /// Store errors; [`FlowError::Conflict`] if changes keep racing (treat as not trusted).
    pub async fn verify_trusted(
        &self,
        user_id: &str,
        token: &TrustToken,
    ) -> Result<Option<TrustedLogin>, FlowError> {
        let Some(record) = self.store.get(user_id).await? else {
            return Ok(None);
        };
        self.verify_trusted_in(record, token).await
    }

    /// [`EnrollmentFlow::verify_trusted`] starting from a record already read.
    pub(super) async fn verify_trusted_in(
        &self,
        record: StoredUser,
        token: &TrustToken,
    ) -> Result<Option<TrustedLogin>, FlowError> {
        let user_id = record.user_id.clone();
        let hash = token.hash(&user_id);
        let mut record = Some(record);
        for _ in 0..CAS_RETRIES {
            let current = match record.take() {
                Some(r) => r,
                None => match self.store.get(&user_id).await? {
                    Some(r) => r,
                    None => return Ok(None),
                },
            };
            let (mut meta, state) = EnrollmentState::decode_meta(&current.cold.state)?;
            if state.active().is_none() {
                return Ok(None);
            }
            let now = self.clock.now();
            let stamp = meta.stamp;
            // Expired, stale-stamp, over-age and over-cap entries go first: with the feature
            // turned off (a cap of 0) or a shorter maximum lifetime, issued tokens stop working.
            let pruned = prune(
                &mut meta,
                now,
                self.config.trusted_browsers_max,
                self.config.trusted_browser_max_lifetime,
            );
            let accepted = find(&meta.trusted, &hash).map(|i| {
                meta.trusted[i].last_used_at = Some(now);
                meta.trusted[i].view()
            });
            if accepted.is_none() && pruned == 0 {
                self.emit(AuditEvent::TrustedBrowserRefused {
                    user_id: user_id.clone(),
                });
                return Ok(None);
            }
            match self.write_meta(&current, &state, &meta).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
            return Ok(match accepted {
                Some(browser) => {
                    self.emit(AuditEvent::TrustedBrowserUsed {
                        user_id: user_id.clone(),
                        id: browser.id.clone(),
                    });
                    Some(TrustedLogin { browser, stamp })
                }
                None => {
                    self.emit(AuditEvent::TrustedBrowserRefused {
                        user_id: user_id.clone(),
                    });
                    None
                }
            });
        }
        Err(FlowError::Conflict)
    }

    /// The user's trusted browsers (unexpired, under the current factor stamp), oldest first:
    /// label, created, last used, expires, and the id to revoke by. Never a token.
    ///
    /// # Errors
    /// Store errors.
    pub async fn trusted_browsers(&self, user_id: &str) -> Result<Vec<TrustedBrowser>, FlowError> {
        let Some(record) = self.store.get(user_id).await? else {
            return Ok(Vec::new());
        };
        let (mut meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
        if state.active().is_none() {
            return Ok(Vec::new());
        }
        prune(
            &mut meta,
            self.clock.now(),
            self.config.trusted_browsers_max,
            self.config.trusted_browser_max_lifetime,
        );
        Ok(meta.trusted.iter().map(TrustEntry::view).collect())
    }

    /// Revokes one trusted browser by its [`TrustedBrowser::id`]. Returns whether it was there.
    /// Once this returns, the token is refused by every server.
    ///
    /// # Errors
    /// Store errors; [`FlowError::Conflict`] if changes keep racing.
    pub async fn revoke_trusted_browser(&self, user_id: &str, id: &str) -> Result<bool, FlowError> {
        let Some(id) = BASE64URL_NOPAD
            .decode(id.as_bytes())
            .ok()
            .and_then(|b| <[u8; ID_BYTES]>::try_from(b).ok())
        else {
            return Ok(false);
        };
        Ok(self.revoke_where(user_id, |t| t.id == id).await? > 0)
    }

    /// Revokes every trusted browser of the user ("sign out everywhere" for this feature).
    /// Returns how many were usable. Disable, an administrator's reset and a new device do this
    /// too.
    ///
    /// # Errors
    /// Store errors; [`FlowError::Conflict`] if changes keep racing.
    pub async fn revoke_trusted_browsers(&self, user_id: &str) -> Result<usize, FlowError> {
        self.revoke_where(user_id, |_| true).await
    }

    /// Removes the entries `which` selects (and any no longer usable); returns how many usable
    /// ones were removed.
    async fn revoke_where(
        &self,
        user_id: &str,
        which: impl Fn(&TrustEntry) -> bool,
    ) -> Result<usize, FlowError> {
        for _ in 0..CAS_RETRIES {
            let Some(record) = self.store.get(user_id).await? else {
                return Ok(0);
            };
            let (mut meta, state) = EnrollmentState::decode_meta(&record.cold.state)?;
            let now = self.clock.now();
            let stamp = meta.stamp;
            let max_lifetime = self.config.trusted_browser_max_lifetime;
            let before = meta.trusted.len();
            let revoked = meta
                .trusted
                .iter()
                .filter(|t| which(t) && t.valid(now, &stamp, max_lifetime))
                .count();
            meta.trusted
                .retain(|t| !which(t) && t.valid(now, &stamp, max_lifetime));
            if meta.trusted.len() == before {
                return Ok(0);
            }
            match self.write_meta(&record, &state, &meta).await {
                Ok(()) => {
                    if revoked > 0 {
                        self.emit(AuditEvent::TrustedBrowsersRevoked {
                            user_id: user_id.to_owned(),
                            count: revoked,
                        });
                    }
                    return Ok(revoked);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlowError::Conflict)
    }

    /// Writes `state` with `meta` over `record` (compare-and-swap; hot fields untouched).
    async fn write_meta(
        &self,
        record: &StoredUser,
        state: &EnrollmentState,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let cold = ColdFields {
            state: state.encode_with(meta),
            ..record.cold.clone()
        };
        self.store
            .replace(
                &record.user_id,
                record.version,
                &cold,
                ReplaceEffects::default(),
            )
            .await
            .map(|_| ())
    }
}

/// Drops entries that are expired or were issued under another stamp; returns how many.
fn prune(meta: &mut Meta, now: u64, cap: usize, max_lifetime: u64) -> usize {
    let stamp = meta.stamp;
    let before = meta.trusted.len();
    meta.trusted.retain(|t| t.valid(now, &stamp, max_lifetime));
    let excess = meta.trusted.len().saturating_sub(cap);
    meta.trusted.drain(..excess);
    before - meta.trusted.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(label: &str) -> TrustEntry {
        TrustEntry {
            id: [7; ID_BYTES],
            hash: TrustToken::from_cookie("t").hash("u"),
            stamp: FactorStamp::default(),
            label: label.to_owned(),
            created_at: 10,
            last_used_at: Some(20),
            expires_at: 30,
        }
    }

    #[test]
    fn entries_round_trip_and_refuse_malformed_text() {
        for label in ["", "Firefox on Linux", "Ünïcødé, with | and ; and ,"] {
            let e = entry(label);
            assert_eq!(TrustEntry::decode(&e.encode()), Some(e));
        }
        let good = entry("x").encode();
        assert!(TrustEntry::decode(&good).is_some());
        for bad in [
            "",
            "a,b,c,d,e,f",
            &good.replacen(",20,", ",020,", 1),
            &good.replacen(",20,", ",x,", 1),
            &good.replacen(",10,", ",-1,", 1),
            &format!("{good},1"),
        ] {
            assert_eq!(TrustEntry::decode(bad), None, "{bad}");
        }
        // A label with a control character, or too long, is not what `encode` writes.
        let mut e = entry("x");
        e.label = "a\nb".to_owned();
        assert_eq!(TrustEntry::decode(&e.encode()), None);
        e.label = "a".repeat(MAX_LABEL_BYTES + 1);
        assert_eq!(TrustEntry::decode(&e.encode()), None);
    }

    #[test]
    fn labels_are_cleaned_and_cut_at_a_character_boundary() {
        assert_eq!(clean_label("  Firefox\n on\tLinux "), "Firefox onLinux");
        assert_eq!(clean_label("Work\u{202E}xcod.exe\u{200B}"), "Workxcod.exe");
        let long = "é".repeat(MAX_LABEL_BYTES);
        let cut = clean_label(&long);
        assert!(cut.len() <= MAX_LABEL_BYTES && cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn tokens_hash_per_user_and_are_redacted() {
        let t = TrustToken::generate().unwrap();
        assert_eq!(t.expose().len(), 43);
        assert_ne!(t.hash("a"), t.hash("b"));
        assert_eq!(t.hash("a"), TrustToken::from_cookie(t.expose()).hash("a"));
        assert!(!format!("{t:?}").contains(t.expose()));
        let entries = [entry("a")];
        assert_eq!(
            find(&entries, &TrustToken::from_cookie("t").hash("u")),
            Some(0)
        );
        assert_eq!(find(&entries, &t.hash("u")), None);
    }
}
