//! The values an application keeps in its session: the enrolment ticket, the factor stamp and
//! the recent-verification proof; and [`Reauth`], what a sensitive change is authorised with.
//!
//! | value | made by | proves | stored by the crate as |
//! |---|---|---|---|
//! | [`EnrollmentTicket`] | `begin`, `begin_new_device` | this session began this enrolment | a SHA-256 hash in the pending state |
//! | [`FactorStamp`] | every factor change | which factor configuration a session saw | itself (not a secret) |
//! | [`RecentVerification`] | every successful login | a second factor was verified at a time, for a user and stamp | nothing: authenticated with a key of the key ring |

use core::fmt;
use core::fmt::Write as _;
use core::str::FromStr;

use data_encoding::BASE64URL_NOPAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::FlowError;
use super::state::canonical_number;
use crate::seal::{KeyRing, MAC_LEN, SealError, SealedSecret};

/// Bytes of entropy in an enrolment ticket.
const TICKET_BYTES: usize = 32;
/// Bytes in a factor stamp.
const STAMP_BYTES: usize = 16;
/// Purpose (domain separation) of recent-verification proofs.
const PROOF_PURPOSE: &str = "recent-verification";
/// The tag that begins a proof's text in the current format.
const PROOF_FORMAT: &str = "m1.";
/// A proof's payload: the time of verification (8 bytes, big-endian) and the stamp.
const PROOF_PAYLOAD: usize = 8 + STAMP_BYTES;

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
/// The time of verification and the [`FactorStamp`] at that time, authenticated for the user
/// with HMAC-SHA256 under a key derived from the key ring's current key: it cannot be forged or
/// edited, holds only for its user, and dies with any factor change. Neither value is a secret;
/// the proof is still a bearer credential for its session. Zeroized on drop; `Debug` is
/// redacted.
///
/// Text form: `m1.KEY_ID.` then the time, the stamp and the tag in URL-safe base64. Proofs of
/// the earlier, sealed form (`v2.…`, AES-256-GCM-SIV) are still accepted until they expire.
#[derive(Clone)]
pub struct RecentVerification(Zeroizing<String>);

impl RecentVerification {
    /// A proof that `user_id` verified a factor at `at` under `stamp`.
    pub(super) fn issue(
        keys: &KeyRing,
        user_id: &str,
        at: u64,
        stamp: &FactorStamp,
    ) -> Result<RecentVerification, SealError> {
        let mut bytes = Zeroizing::new([0u8; PROOF_PAYLOAD + MAC_LEN]);
        bytes[..8].copy_from_slice(&at.to_be_bytes());
        bytes[8..PROOF_PAYLOAD].copy_from_slice(stamp.as_bytes());
        let (key_id, tag) = keys.mac(PROOF_PURPOSE, user_id, &bytes[..PROOF_PAYLOAD])?;
        bytes[PROOF_PAYLOAD..].copy_from_slice(&tag);
        let mut text = Zeroizing::new(String::with_capacity(
            PROOF_FORMAT.len() + 11 + BASE64URL_NOPAD.encode_len(bytes.len()),
        ));
        text.push_str(PROOF_FORMAT);
        // Formatting into a `String` cannot fail.
        let _ = write!(text, "{key_id}.");
        BASE64URL_NOPAD.encode_append(bytes.as_ref(), &mut text);
        Ok(RecentVerification(text))
    }

    /// The time of verification and the stamp the proof was made under, for `user_id`, or
    /// `None` if it is not an authentic proof for this user.
    /// Only proofs made under the ring's current key hold: a proof lives minutes, so a key
    /// kept only to read old records (and perhaps retired because it leaked) cannot mint one.
    pub(super) fn open(&self, keys: &KeyRing, user_id: &str) -> Option<(u64, FactorStamp)> {
        let payload = match self.0.strip_prefix(PROOF_FORMAT) {
            Some(rest) => Self::authentic(keys, user_id, rest)?,
            None => Self::unsealed(keys, user_id, &self.0)?,
        };
        let mut at = [0u8; 8];
        at.copy_from_slice(&payload[..8]);
        let mut stamp = [0u8; STAMP_BYTES];
        stamp.copy_from_slice(&payload[8..]);
        Some((u64::from_be_bytes(at), FactorStamp(stamp)))
    }

    /// The payload of a proof in the current form (`rest` follows its format tag), if its tag
    /// holds under the current key.
    fn authentic(keys: &KeyRing, user_id: &str, rest: &str) -> Option<[u8; PROOF_PAYLOAD]> {
        let (id, body) = rest.split_once('.')?;
        // The current key's id as `issue` writes it: decimal, no sign, no leading zero.
        if canonical_number(id) != Some(u64::from(keys.current_id())) {
            return None;
        }
        let mut bytes = Zeroizing::new([0u8; PROOF_PAYLOAD + MAC_LEN]);
        if BASE64URL_NOPAD.decode_len(body.len()).ok()? != bytes.len() {
            return None;
        }
        BASE64URL_NOPAD
            .decode_mut(body.as_bytes(), bytes.as_mut())
            .ok()?;
        let (payload, tag) = bytes.split_at(PROOF_PAYLOAD);
        if !keys.mac_matches(PROOF_PURPOSE, user_id, payload, tag) {
            return None;
        }
        let mut out = [0u8; PROOF_PAYLOAD];
        out.copy_from_slice(payload);
        Some(out)
    }

    /// The payload of a proof in the earlier, sealed form, if it opens under the current key.
    fn unsealed(keys: &KeyRing, user_id: &str, text: &str) -> Option<[u8; PROOF_PAYLOAD]> {
        let sealed = SealedSecret::decode(text).ok()?;
        if sealed.key_id() != keys.current_id() {
            return None;
        }
        let payload = keys.open_data(PROOF_PURPOSE, user_id, &sealed).ok()?;
        payload.as_slice().try_into().ok()
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

    use crate::seal::EncryptionKey;

    const AT: u64 = 1_800_000_000;

    fn ring(id: u32, byte: u8) -> KeyRing {
        KeyRing::new(EncryptionKey::from_bytes(id, &[byte; 32]).unwrap())
    }

    fn stamp() -> FactorStamp {
        FactorStamp(core::array::from_fn(|i| u8::try_from(i).unwrap()))
    }

    /// Computed independently (Python's `hmac`): key `0x42` x 32 with id 7, MAC key
    /// HMAC-SHA256(key, "twofactor/mac/m1 HMAC-SHA256" 0x01), tag HMAC-SHA256(MAC key,
    /// "twofactor/recent-verification/m1" NUL, 24 as u64 big-endian, time, stamp, "alice").
    const KAT: &str =
        "m1.7.AAAAAGtJ0gAAAQIDBAUGBwgJCgsMDQ4PL3MmDP_tlbCoZ0AoxCjWOlfPvVxPw0dviB3m9l8gM_M";

    #[test]
    fn a_proof_is_its_payload_and_an_hmac_tag_known_answer() {
        let keys = ring(7, 0x42);
        let proof = RecentVerification::issue(&keys, "alice", AT, &stamp()).unwrap();
        assert_eq!(proof.expose(), KAT);
        let (at, made_under) = RecentVerification::from_session(KAT)
            .open(&keys, "alice")
            .unwrap();
        assert_eq!(at, AT);
        assert!(made_under.matches(&stamp()));
    }

    #[test]
    fn a_proof_holds_only_for_its_user_key_and_exact_text() {
        let keys = ring(7, 0x42);
        let proof = RecentVerification::from_session(KAT);
        assert!(proof.open(&keys, "alice").is_some());
        assert!(proof.open(&keys, "alicf").is_none(), "another user");
        assert!(proof.open(&keys, "alic").is_none(), "a prefix of the user");
        assert!(
            proof.open(&ring(7, 0x43), "alice").is_none(),
            "another key, same id"
        );
        // Rotated: the key that made it is kept for reading only.
        let rotated = ring(8, 0x43)
            .with_old_key(EncryptionKey::from_bytes(7, &[0x42; 32]).unwrap())
            .unwrap();
        assert!(
            proof.open(&rotated, "alice").is_none(),
            "not the current key"
        );
        // Every character changed, in the key id and the body, and every length change.
        let body_start = "m1.7.".len();
        for i in 0..KAT.len() {
            for replacement in [b'A', b'B', b'-', b'.', b'0'] {
                let mut bytes = KAT.as_bytes().to_vec();
                if bytes[i] == replacement {
                    continue;
                }
                bytes[i] = replacement;
                let text = String::from_utf8(bytes).unwrap();
                assert!(
                    RecentVerification::from_session(&text)
                        .open(&keys, "alice")
                        .is_none(),
                    "changed at {i} ({} of the body): {text}",
                    i.saturating_sub(body_start)
                );
            }
        }
        for text in [
            &KAT[..KAT.len() - 1],
            &format!("{KAT}A"),
            &KAT.replacen("m1.7.", "m1.07.", 1),
            &KAT.replacen("m1.7.", "m1.+7.", 1),
            &KAT.replacen("m1.7.", "m1..", 1),
            &KAT.replacen("m1.7.", "m2.7.", 1),
            "m1.",
            "",
        ] {
            assert!(
                RecentVerification::from_session(text)
                    .open(&keys, "alice")
                    .is_none(),
                "{text}"
            );
        }
    }

    #[test]
    fn proofs_of_the_sealed_form_still_hold_until_they_expire() {
        let keys = ring(7, 0x42);
        let mut payload = [0u8; PROOF_PAYLOAD];
        payload[..8].copy_from_slice(&AT.to_be_bytes());
        payload[8..].copy_from_slice(stamp().as_bytes());
        let sealed = keys
            .seal_data(PROOF_PURPOSE, "alice", &payload)
            .unwrap()
            .encode();
        assert!(sealed.starts_with("v2.7."));
        let proof = RecentVerification::from_session(&sealed);
        let (at, made_under) = proof.open(&keys, "alice").unwrap();
        assert_eq!(at, AT);
        assert!(made_under.matches(&stamp()));
        assert!(proof.open(&keys, "bob").is_none());
        // A secret sealed for the user is not a proof (another purpose).
        let secret = keys
            .seal_data("secret", "alice", &payload)
            .unwrap()
            .encode();
        assert!(
            RecentVerification::from_session(&secret)
                .open(&keys, "alice")
                .is_none()
        );
    }

    #[test]
    fn a_ticket_hash_prints_nothing_of_itself() {
        let hash = EnrollmentTicket::generate().unwrap().hash();
        assert_eq!(format!("{hash:?}"), "TicketHash(..)");
    }
}
