//! The values an application keeps in its session: the enrolment ticket, the factor stamp and
//! the recent-verification proof; and [`Reauth`], what a sensitive change is authorised with.
//!
//! | value | made by | proves | stored by the crate as |
//! |---|---|---|---|
//! | [`EnrollmentTicket`] | `begin`, `begin_new_device` | this session began this enrolment | a SHA-256 hash in the pending state |
//! | [`FactorStamp`] | every factor change | which factor configuration a session saw | itself (not a secret) |
//! | [`RecentVerification`] | every successful login | a second factor was verified at a time, for a user and stamp | nothing: sealed with the key ring |

use core::fmt;
use core::str::FromStr;

use data_encoding::BASE64URL_NOPAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::FlowError;
use crate::seal::{KeyRing, SealError, SealedSecret};

/// Bytes of entropy in an enrolment ticket.
const TICKET_BYTES: usize = 32;
/// Bytes in a factor stamp.
const STAMP_BYTES: usize = 16;
/// Purpose (associated data) of sealed recent-verification proofs.
const PROOF_PURPOSE: &str = "recent-verification";

/// Proof that a session began an enrolment: returned once by
/// [`EnrollmentFlow::begin`](super::EnrollmentFlow::begin) and
/// [`begin_new_device`](super::EnrollmentFlow::begin_new_device), kept by the application in
/// the session that began it, and required to show the secret again or to confirm it. Only its
/// SHA-256 hash is stored, so a reader of the store cannot use it; beginning again invalidates it.
///
/// 256 bits from the operating system's generator. Zeroized on drop; `Debug` is redacted.
#[derive(Clone)]
pub struct EnrollmentTicket(Zeroizing<String>);

impl EnrollmentTicket {
    pub(super) fn generate() -> Result<EnrollmentTicket, FlowError> {
        let mut bytes = Zeroizing::new([0u8; TICKET_BYTES]);
        getrandom::fill(bytes.as_mut()).map_err(|_| FlowError::Internal("rng"))?;
        Ok(EnrollmentTicket(Zeroizing::new(
            BASE64URL_NOPAD.encode(bytes.as_ref()),
        )))
    }

    /// The ticket as text, to keep in the session (server-side session storage, or a cookie that
    /// is encrypted and bound to the session).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A ticket read back from the session. Any text is accepted here; a wrong one simply does
    /// not match.
    pub fn from_session(text: &str) -> EnrollmentTicket {
        EnrollmentTicket(Zeroizing::new(text.to_owned()))
    }

    /// The hash the pending state stores.
    pub(super) fn hash(&self) -> TicketHash {
        TicketHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for EnrollmentTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnrollmentTicket([redacted])")
    }
}

/// The stored SHA-256 hash of an [`EnrollmentTicket`].
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TicketHash([u8; 32]);

impl TicketHash {
    /// Whether `ticket` hashes to this value (constant time).
    pub(super) fn matches(&self, ticket: &EnrollmentTicket) -> bool {
        bool::from(self.0.ct_eq(&ticket.hash().0))
    }

    pub(super) fn encode(&self) -> String {
        BASE64URL_NOPAD.encode(&self.0)
    }

    pub(super) fn decode(text: &str) -> Option<TicketHash> {
        let bytes = BASE64URL_NOPAD.decode(text.as_bytes()).ok()?;
        Some(TicketHash(bytes.try_into().ok()?))
    }
}

impl fmt::Debug for TicketHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TicketHash(..)")
    }
}

/// An opaque value that changes whenever a user's second-factor configuration changes: 2FA
/// turned on, turned off, a new device confirmed, an administrator's reset, recovery codes
/// regenerated; and on nothing else. Store it in the session at login and end sessions whose
/// stamp no longer equals [`Status::factor_stamp`](super::Status::factor_stamp) (the idea of
/// axum-login's session auth hash).
///
/// It is not a secret: it grants nothing by itself. A user who never had a record, and records
/// written before stamps existed, have the all-zero stamp until their first factor change.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FactorStamp([u8; STAMP_BYTES]);

impl FactorStamp {
    /// A fresh random stamp.
    pub(super) fn generate() -> Result<FactorStamp, FlowError> {
        let mut bytes = [0u8; STAMP_BYTES];
        getrandom::fill(&mut bytes).map_err(|_| FlowError::Internal("rng"))?;
        Ok(FactorStamp(bytes))
    }

    /// Whether two stamps are equal, in constant time.
    pub fn matches(&self, other: &FactorStamp) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }

    pub(super) fn as_bytes(&self) -> &[u8; STAMP_BYTES] {
        &self.0
    }
}

impl fmt::Display for FactorStamp {
    /// URL-safe base64 (22 characters), for the session.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE64URL_NOPAD.encode(&self.0))
    }
}

impl fmt::Debug for FactorStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FactorStamp({self})")
    }
}

impl FromStr for FactorStamp {
    type Err = FlowError;

    /// Parses [`FactorStamp`]'s `Display` form.
    fn from_str(s: &str) -> Result<FactorStamp, FlowError> {
        let bytes = BASE64URL_NOPAD
            .decode(s.as_bytes())
            .map_err(|_| FlowError::Malformed)?;
        Ok(FactorStamp(
            bytes.try_into().map_err(|_| FlowError::Malformed)?,
        ))
    }
}

/// As its `Display` text (22 characters), to keep in a session that serializes.
#[cfg(feature = "serde")]
impl serde::Serialize for FactorStamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// From its `Display` text.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for FactorStamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<FactorStamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom("not a factor stamp"))
    }
}

/// Proof that a user verified a second factor at a given time: returned by every successful
/// login ([`Verified::proof`]) and kept by the application in the session. Sensitive changes
/// (disable, regenerate recovery codes, begin a new device, reveal recovery codes) accept it
/// instead of a fresh code while it is younger than
/// [`FlowConfig::reauth_window`](super::FlowConfig::reauth_window).
///
/// Sealed with the key ring (AES-256-GCM-SIV, the user id as associated data) over the time of
/// verification and the [`FactorStamp`] at that time: it cannot be forged or edited, opens only
/// for its user, and dies with any factor change. Zeroized on drop; `Debug` is redacted.
#[derive(Clone)]
pub struct RecentVerification(Zeroizing<String>);

impl RecentVerification {
    /// Seals a proof that `user_id` verified a factor at `at` under `stamp`.
    pub(super) fn issue(
        keys: &KeyRing,
        user_id: &str,
        at: u64,
        stamp: &FactorStamp,
    ) -> Result<RecentVerification, SealError> {
        let mut payload = Zeroizing::new([0u8; 8 + STAMP_BYTES]);
        payload[..8].copy_from_slice(&at.to_be_bytes());
        payload[8..].copy_from_slice(stamp.as_bytes());
        let sealed = keys.seal_data(PROOF_PURPOSE, user_id, payload.as_ref())?;
        Ok(RecentVerification(Zeroizing::new(sealed.encode())))
    }

    /// Opens the proof for `user_id`: the time of verification and the stamp it was made under,
    /// or `None` if it is not an authentic proof for this user.
    /// Only proofs sealed under the ring's current key open: a proof lives minutes, so a key
    /// kept only to read old records (and perhaps retired because it leaked) cannot mint one.
    pub(super) fn open(&self, keys: &KeyRing, user_id: &str) -> Option<(u64, FactorStamp)> {
        let sealed = SealedSecret::decode(&self.0).ok()?;
        if sealed.key_id() != keys.current_id() {
            return None;
        }
        let payload = keys.open_data(PROOF_PURPOSE, user_id, &sealed).ok()?;
        (payload.len() == 8 + STAMP_BYTES).then(|| {
            let mut at = [0u8; 8];
            at.copy_from_slice(&payload[..8]);
            let mut stamp = [0u8; STAMP_BYTES];
            stamp.copy_from_slice(&payload[8..]);
            (u64::from_be_bytes(at), FactorStamp(stamp))
        })
    }

    /// The proof as text, to keep in the session.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A proof read back from the session. Any text is accepted here; one that does not open is
    /// simply not a proof.
    pub fn from_session(text: &str) -> RecentVerification {
        RecentVerification(Zeroizing::new(text.to_owned()))
    }
}

impl fmt::Debug for RecentVerification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecentVerification([redacted])")
    }
}

/// A successful login: which factor matched, the proof to keep for sensitive changes, and the
/// factor stamp to keep in the session.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Verified {
    /// The factor that matched (and, for a recovery code, how many remain).
    pub factor: super::LoginFactor,
    /// A recent-verification proof; keep it in the session.
    pub proof: RecentVerification,
    /// The user's factor stamp; keep it in the session and compare on later requests.
    pub stamp: FactorStamp,
    /// At most [`FlowConfig::recovery_codes_low`](super::FlowConfig) unused recovery codes
    /// remain: tell the user (or send them to regenerate).
    pub recovery_codes_low: bool,
    /// The authenticator whose code passed (its last use is now); `None` for a recovery code.
    pub authenticator: Option<super::Authenticator>,
}

/// How a sensitive change (disable, regenerate, begin a new device, reveal) is authorised: a
/// code or recovery code typed now, a [`RecentVerification`] from this session, or both.
///
/// A proof younger than the reauthentication window suffices alone (a factor typed beside it is
/// then neither checked nor consumed: the session has already proved it). With an older (or a zero)
/// window a factor must be typed; if the request also carries an authentic proof and the code
/// typed is the one just used to log in, the change is refused with
/// [`FlowError::CodeAlreadyUsed`] ("wait for the next code") and nothing is counted.
///
/// ```
/// use twofactor::Reauth;
///
/// let by_code: Reauth<'_> = "123456".into();
/// # let _ = by_code;
/// # fn proof() -> twofactor::RecentVerification { twofactor::RecentVerification::from_session("x") }
/// let proof = proof(); // from the session
/// let by_proof = Reauth::recent(&proof);
/// let by_both = Reauth::recent(&proof).with_factor("123456");
/// # let _ = (by_proof, by_both);
/// ```
#[derive(Clone, Copy)]
pub struct Reauth<'a> {
    pub(super) factor: Option<&'a str>,
    pub(super) proof: Option<&'a RecentVerification>,
}

impl fmt::Debug for Reauth<'_> {
    /// Never prints the typed factor (a recovery code is a whole second factor).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reauth")
            .field("factor", &self.factor.map(|_| "[redacted]"))
            .field("proof", &self.proof)
            .finish()
    }
}

impl<'a> Reauth<'a> {
    /// A code or recovery code typed now.
    pub fn factor(input: &'a str) -> Reauth<'a> {
        Reauth {
            factor: Some(input),
            proof: None,
        }
    }

    /// The session's recent-verification proof.
    pub fn recent(proof: &'a RecentVerification) -> Reauth<'a> {
        Reauth {
            factor: None,
            proof: Some(proof),
        }
    }

    /// Adds a code or recovery code typed now.
    #[must_use]
    pub fn with_factor(mut self, input: &'a str) -> Reauth<'a> {
        self.factor = Some(input);
        self
    }
}

impl<'a> From<&'a str> for Reauth<'a> {
    fn from(input: &'a str) -> Reauth<'a> {
        Reauth::factor(input)
    }
}

impl<'a> From<&'a String> for Reauth<'a> {
    fn from(input: &'a String) -> Reauth<'a> {
        Reauth::factor(input)
    }
}

impl<'a> From<&'a RecentVerification> for Reauth<'a> {
    fn from(proof: &'a RecentVerification) -> Reauth<'a> {
        Reauth::recent(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_hash_prints_nothing_of_itself() {
        let hash = EnrollmentTicket::generate().unwrap().hash();
        assert_eq!(format!("{hash:?}"), "TicketHash(..)");
    }
}
