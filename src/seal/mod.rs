//! Secrets at rest: AES-256-GCM-SIV under a key ring, bound to the user.
//!
//! Every secret is encrypted before it reaches a store. The ciphertext carries a format tag and
//! the id of the key that sealed it, so older keys can stay in the ring for decryption while new
//! secrets use the current key, and [`KeyRing::reseal`] moves a record to the current key and
//! format. The user id is the associated data: a ciphertext copied into another user's row does
//! not decrypt.
//!
//! Formats (the tag is the text form's first field):
//! - `v2` (sealed now): AES-256-GCM-SIV (RFC 8452), nonce-misuse resistant, under a key derived
//!   from the ring key with HKDF-SHA256-Expand (RFC 5869, info
//!   `twofactor/seal/v2 AES-256-GCM-SIV`);
//! - `v1` (opened only): ChaCha20-Poly1305 (RFC 8439) under the ring key itself.
//!
//! `docs/secret-handling.md` ("Secrets at rest") has the measurements behind the choice.
//!
//! Values handed to the session that need integrity but no secrecy (recent-verification proofs)
//! are authenticated instead: HMAC-SHA256 under a key derived the same way (info
//! `twofactor/mac/m1 HMAC-SHA256`), with no nonce to draw.

use core::fmt;
use std::collections::BTreeMap;

use aes_gcm_siv::Aes256GcmSiv;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use data_encoding::BASE64_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::otp::Secret;

/// Purposes, for domain separation in the associated data: a sealed secret never opens as sealed
/// recovery codes, nor the reverse.
const SECRET_PURPOSE: &str = "secret";
pub(crate) const RECOVERY_PURPOSE: &str = "recovery-codes";
/// Both formats' AEADs take a 96-bit nonce and a 128-bit tag.
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// HKDF info of the format-v2 key: the ring key is never used with two algorithms.
const V2_KEY_INFO: &[u8] = b"twofactor/seal/v2 AES-256-GCM-SIV";
/// HKDF info of the key that authenticates (without encrypting) values the crate hands out:
/// recent-verification proofs.
const MAC_KEY_INFO: &[u8] = b"twofactor/mac/m1 HMAC-SHA256";
/// Bytes of a tag made by [`KeyRing::mac`]: HMAC-SHA256, untruncated.
pub(crate) const MAC_LEN: usize = 32;

/// The format of a sealed record: which AEAD sealed it, named by the text form's tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// ChaCha20-Poly1305 under the ring key. Opened, never sealed any more.
    V1,
    /// AES-256-GCM-SIV under a key derived from the ring key.
    V2,
}

impl Format {
    /// The format [`KeyRing`] seals in.
    const CURRENT: Format = Format::V2;

    fn tag(self) -> &'static str {
        match self {
            Format::V1 => "v1",
            Format::V2 => "v2",
        }
    }

    fn from_tag(tag: &str) -> Option<Format> {
        match tag {
            "v1" => Some(Format::V1),
            "v2" => Some(Format::V2),
            _ => None,
        }
    }
}

/// Why sealing or opening failed. Never says anything about the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The record names a key id the ring does not hold.
    #[error("no key with id {0} in the key ring")]
    UnknownKey(u32),
    /// Authentication failed: wrong key, tampered ciphertext, or a record of another user.
    #[error("the sealed secret does not authenticate")]
    Authentication,
    /// The sealed text is malformed.
    #[error("malformed sealed secret")]
    Malformed,
    /// Two keys with the same id were added to the ring.
    #[error("duplicate key id {0}")]
    DuplicateKey(u32),
    /// A key is not 32 bytes (or not valid base64).
    #[error("an encryption key must be 32 bytes")]
    KeyLength,
    /// A key in text is not `ID:BASE64` with a numeric id ([`EncryptionKey::from_tagged`]).
    #[error("an encryption key in text is ID:BASE64, with a numeric id")]
    KeyFormat,
    /// The operating system random generator failed.
    #[error("the operating system random generator failed")]
    Rng,
}

/// A 256-bit key with an id. Zeroized on drop (with the cipher and MAC states initialised from
/// it); `Debug` shows only the id.
#[derive(Clone)]
pub struct EncryptionKey {
    id: u32,
    key: Zeroizing<[u8; 32]>,
    /// The format-v2 cipher, initialised once: its key schedule is not redone per call.
    v2: Aes256GcmSiv,
    /// HMAC-SHA256 under the derived MAC key, its padded key blocks hashed once: each tag costs
    /// only its message's compressions.
    mac: Hmac<Sha256>,
}

impl EncryptionKey {
    /// A new random key from the OS CSPRNG.
    ///
    /// # Errors
    /// [`SealError::Rng`].
    pub fn generate(id: u32) -> Result<EncryptionKey, SealError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|_| SealError::Rng)?;
        EncryptionKey::with_key(id, key)
    }

    /// A key from 32 raw bytes.
    ///
    /// # Errors
    /// [`SealError::KeyLength`].
    pub fn from_bytes(id: u32, bytes: &[u8]) -> Result<EncryptionKey, SealError> {
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::KeyLength)?;
        EncryptionKey::with_key(id, Zeroizing::new(key))
    }

    fn with_key(id: u32, key: Zeroizing<[u8; 32]>) -> Result<EncryptionKey, SealError> {
        let v2 = Aes256GcmSiv::new_from_slice(expand(&key, V2_KEY_INFO)?.as_ref())
            .map_err(|_| SealError::KeyLength)?;
        let mac =
            <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(expand(&key, MAC_KEY_INFO)?.as_ref())
                .map_err(|_| SealError::KeyLength)?;
        Ok(EncryptionKey { id, key, v2, mac })
    }

    /// A key from its base64 form (as kept in a configuration secret), padding optional.
    ///
    /// # Errors
    /// [`SealError::KeyLength`].
    pub fn from_base64(id: u32, text: &str) -> Result<EncryptionKey, SealError> {
        let trimmed = text.trim().trim_end_matches('=');
        let bytes = Zeroizing::new(
            BASE64_NOPAD
                .decode(trimmed.as_bytes())
                .map_err(|_| SealError::KeyLength)?,
        );
        EncryptionKey::from_bytes(id, &bytes)
    }

    /// A key in the form `ID:BASE64` (its id in the key ring, a colon, the key in base64), as
    /// `twofactor key` prints it and [`EncryptionKey::to_tagged`] writes it: one value for an
    /// environment variable such as `TWOFACTOR_KEY` or a secret file. Whitespace around it (a
    /// file's final newline) is ignored.
    ///
    /// ```
    /// use twofactor::EncryptionKey;
    ///
    /// let key = EncryptionKey::generate(3)?;
    /// let text = key.to_tagged();
    /// assert!(text.starts_with("3:"));
    /// let back = EncryptionKey::from_tagged(&format!("{}\n", &*text))?;
    /// assert_eq!(back.id(), 3);
    /// assert!(EncryptionKey::from_tagged("no colon here").is_err());
    /// # Ok::<(), twofactor::SealError>(())
    /// ```
    ///
    /// # Errors
    /// [`SealError::KeyFormat`], [`SealError::KeyLength`].
    pub fn from_tagged(text: &str) -> Result<EncryptionKey, SealError> {
        let (id, key) = text.trim().split_once(':').ok_or(SealError::KeyFormat)?;
        let id: u32 = id.trim().parse().map_err(|_| SealError::KeyFormat)?;
        EncryptionKey::from_base64(id, key)
    }

    /// The key as `ID:BASE64`, the form [`EncryptionKey::from_tagged`] reads.
    ///
    /// **Security:** this is the key that protects every stored secret.
    pub fn to_tagged(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}:{}", self.id, &*self.expose_base64()))
    }

    /// The key in base64, for storing in a configuration secret.
    ///
    /// **Security:** this is the key that protects every stored secret.
    pub fn expose_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64_NOPAD.encode(self.key.as_ref()))
    }

    /// The key id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The format-v1 cipher: ChaCha20-Poly1305 keeps only the key, so building it is a copy.
    fn v1_cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.key.as_ref()))
    }
}

/// HKDF-SHA256-Expand(`key`, `info`, 32): one HMAC block (RFC 5869 §2.3; a uniformly random key
/// may serve as the PRK, §3.3). Each use of the ring key has its own `info`, so the same key
/// bytes never serve two algorithms.
fn expand(key: &[u8; 32], info: &[u8]) -> Result<Zeroizing<[u8; 32]>, SealError> {
    let mut mac =
        <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).map_err(|_| SealError::KeyLength)?;
    mac.update(info);
    mac.update(&[1]);
    let mut okm = mac.finalize().into_bytes();
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&okm);
    okm.as_mut_slice().zeroize();
    Ok(out)
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// A secret encrypted for one user: format, key id, random nonce, ciphertext with tag.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    format: Format,
    key_id: u32,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl SealedSecret {
    /// The id of the key that sealed it.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Text form: `FORMAT.KEYID.NONCE.CIPHERTEXT`, the format `v2` (or `v1` for a record sealed
    /// before it), the key id in decimal, nonce and ciphertext in base64 without padding.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.format.tag(),
            self.key_id,
            BASE64_NOPAD.encode(&self.nonce),
            BASE64_NOPAD.encode(&self.ciphertext)
        )
    }

    /// Parses [`SealedSecret::encode`]'s form, of either format. Only that form: every sealed
    /// secret has exactly one text.
    ///
    /// # Errors
    /// [`SealError::Malformed`].
    pub fn decode(text: &str) -> Result<SealedSecret, SealError> {
        if text.len() > 4096 {
            return Err(SealError::Malformed);
        }
        let mut parts = text.split('.');
        let (Some(format), Some(id), Some(nonce), Some(ct), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SealError::Malformed);
        };
        let format = Format::from_tag(format).ok_or(SealError::Malformed)?;
        let key_id = decode_key_id(id).ok_or(SealError::Malformed)?;
        let nonce = decode_nonce(nonce).ok_or(SealError::Malformed)?;
        let ciphertext = BASE64_NOPAD
            .decode(ct.as_bytes())
            .map_err(|_| SealError::Malformed)?;
        if ciphertext.len() < TAG_LEN {
            return Err(SealError::Malformed);
        }
        Ok(SealedSecret {
            format,
            key_id,
            nonce,
            ciphertext,
        })
    }
}

/// A key id as [`SealedSecret::encode`] writes it: decimal digits, no sign, no leading zero.
fn decode_key_id(text: &str) -> Option<u32> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// The nonce, decoded straight into its array.
fn decode_nonce(text: &str) -> Option<[u8; NONCE_LEN]> {
    let mut nonce = [0u8; NONCE_LEN];
    if BASE64_NOPAD.decode_len(text.len()).ok()? != NONCE_LEN {
        return None;
    }
    BASE64_NOPAD.decode_mut(text.as_bytes(), &mut nonce).ok()?;
    Some(nonce)
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("format", &self.format.tag())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The encryption keys: one current key for sealing, older ones kept for opening.
#[derive(Clone, Debug)]
pub struct KeyRing {
    current: u32,
    keys: BTreeMap<u32, EncryptionKey>,
}

impl KeyRing {
    /// A ring whose current key is `current`.
    pub fn new(current: EncryptionKey) -> KeyRing {
        let id = current.id;
        KeyRing {
            current: id,
            keys: BTreeMap::from([(id, current)]),
        }
    }

    /// Adds an older key, used only to open records sealed under it.
    ///
    /// # Errors
    /// [`SealError::DuplicateKey`] if the id is taken.
    pub fn with_old_key(mut self, key: EncryptionKey) -> Result<KeyRing, SealError> {
        if self.keys.contains_key(&key.id) {
            return Err(SealError::DuplicateKey(key.id));
        }
        self.keys.insert(key.id, key);
        Ok(self)
    }

    /// The current key's id.
    pub fn current_id(&self) -> u32 {
        self.current
    }

    /// `twofactor/PURPOSE/v1 NUL USER_ID`, in both formats (`v1` here numbers this layout, not
    /// the record format).
    fn aad(purpose: &str, user_id: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(16 + purpose.len() + user_id.len());
        aad.extend_from_slice(b"twofactor/");
        aad.extend_from_slice(purpose.as_bytes());
        aad.extend_from_slice(b"/v1\0");
        aad.extend_from_slice(user_id.as_bytes());
        aad
    }

    /// Seals `data` for `user_id` under `purpose`, in the current format under the current key.
    pub(crate) fn seal_data(
        &self,
        purpose: &str,
        user_id: &str,
        data: &[u8],
    ) -> Result<SealedSecret, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Rng)?;
        self.seal_with_nonce(purpose, user_id, data, nonce)
    }

    fn seal_with_nonce(
        &self,
        purpose: &str,
        user_id: &str,
        data: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<SealedSecret, SealError> {
        let key = self
            .keys
            .get(&self.current)
            .ok_or(SealError::UnknownKey(self.current))?;
        let payload = Payload {
            msg: data,
            aad: &KeyRing::aad(purpose, user_id),
        };
        let ciphertext = key
            .v2
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| SealError::Authentication)?;
        Ok(SealedSecret {
            format: Format::CURRENT,
            key_id: key.id,
            nonce,
            ciphertext,
        })
    }

    /// Opens data sealed by [`KeyRing::seal_data`] with the same purpose and user, in either
    /// format.
    pub(crate) fn open_data(
        &self,
        purpose: &str,
        user_id: &str,
        sealed: &SealedSecret,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let key = self
            .keys
            .get(&sealed.key_id)
            .ok_or(SealError::UnknownKey(sealed.key_id))?;
        let nonce = Nonce::from_slice(&sealed.nonce);
        let payload = Payload {
            msg: &sealed.ciphertext,
            aad: &KeyRing::aad(purpose, user_id),
        };
        match sealed.format {
            Format::V2 => key.v2.decrypt(nonce, payload),
            Format::V1 => key.v1_cipher().decrypt(nonce, payload),
        }
        .map(Zeroizing::new)
        .map_err(|_| SealError::Authentication)
    }

    /// HMAC-SHA256, under the MAC key derived from the current key, of `twofactor/PURPOSE/m1 NUL`,
    /// the length of `data` (64-bit big-endian), `data` and `user_id`: authenticates `data` for
    /// that user and purpose without hiding it, and costs no random nonce. Returns the key id
    /// with the tag; [`KeyRing::mac_matches`] checks it.
    pub(crate) fn mac(
        &self,
        purpose: &str,
        user_id: &str,
        data: &[u8],
    ) -> Result<(u32, [u8; MAC_LEN]), SealError> {
        let key = self
            .keys
            .get(&self.current)
            .ok_or(SealError::UnknownKey(self.current))?;
        Ok((key.id, KeyRing::tag(key, purpose, user_id, data)))
    }

    /// Whether `tag` is [`KeyRing::mac`]'s tag of `data` for `user_id` and `purpose` under the
    /// current key, compared in constant time. Only the current key's tags hold: what is
    /// authenticated is short-lived, so a key kept only to read old records (and perhaps
    /// retired because it leaked) vouches for nothing.
    pub(crate) fn mac_matches(
        &self,
        purpose: &str,
        user_id: &str,
        data: &[u8],
        tag: &[u8],
    ) -> bool {
        self.keys.get(&self.current).is_some_and(|key| {
            let expected = Zeroizing::new(KeyRing::tag(key, purpose, user_id, data));
            bool::from(expected.as_slice().ct_eq(tag))
        })
    }

    fn tag(key: &EncryptionKey, purpose: &str, user_id: &str, data: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = key.mac.clone();
        mac.update(b"twofactor/");
        mac.update(purpose.as_bytes());
        mac.update(b"/m1\0");
        mac.update(&u64::try_from(data.len()).unwrap_or(u64::MAX).to_be_bytes());
        mac.update(data);
        mac.update(user_id.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Encrypts `secret` for `user_id` under the current key with a fresh random nonce.
    ///
    /// # Errors
    /// [`SealError::Rng`], [`SealError::UnknownKey`] (not possible for a ring built with
    /// [`KeyRing::new`]).
    pub fn seal(&self, user_id: &str, secret: &Secret) -> Result<SealedSecret, SealError> {
        self.seal_data(SECRET_PURPOSE, user_id, secret.expose_bytes())
    }

    /// Decrypts a sealed secret of `user_id`.
    ///
    /// # Errors
    /// [`SealError::UnknownKey`], [`SealError::Authentication`] (wrong key, tampering, other
    /// user's record), [`SealError::Malformed`] (plaintext not a valid secret).
    pub fn open(&self, user_id: &str, sealed: &SealedSecret) -> Result<Secret, SealError> {
        let plain = self.open_data(SECRET_PURPOSE, user_id, sealed)?;
        Secret::danger_from_bytes_allow_80_bit(&plain).map_err(|_| SealError::Malformed)
    }

    /// Whether a record was sealed under an older key, or in an older format.
    pub fn needs_reseal(&self, sealed: &SealedSecret) -> bool {
        sealed.key_id != self.current || sealed.format != Format::CURRENT
    }

    /// Opens a record and seals it again under the current key, in the current format (key
    /// rotation, format upgrade).
    ///
    /// # Errors
    /// As [`KeyRing::open`] and [`KeyRing::seal`].
    pub fn reseal(&self, user_id: &str, sealed: &SealedSecret) -> Result<SealedSecret, SealError> {
        self.reseal_data(SECRET_PURPOSE, user_id, sealed)
    }

    /// [`KeyRing::reseal`] for data sealed under another purpose.
    pub(crate) fn reseal_data(
        &self,
        purpose: &str,
        user_id: &str,
        sealed: &SealedSecret,
    ) -> Result<SealedSecret, SealError> {
        self.seal_data(purpose, user_id, &self.open_data(purpose, user_id, sealed)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(EncryptionKey::generate(1).unwrap())
    }

    #[test]
    fn round_trip_and_binding_to_the_user() {
        let ring = ring();
        let secret = Secret::generate(crate::otp::Algorithm::Sha1).unwrap();
        let sealed = ring.seal("alice", &secret).unwrap();
        assert_eq!(ring.open("alice", &sealed).unwrap(), secret);
        assert_eq!(ring.open("bob", &sealed), Err(SealError::Authentication));
        // Purposes are separated: a sealed secret does not open as other data.
        assert_eq!(
            ring.open_data(RECOVERY_PURPOSE, "alice", &sealed),
            Err(SealError::Authentication)
        );
        let text = sealed.encode();
        assert!(!text.contains(&*secret.expose_base32()));
        assert_eq!(SealedSecret::decode(&text).unwrap(), sealed);
        let other = ring.seal("alice", &secret).unwrap();
        assert_ne!(other, sealed, "fresh nonce each time");
    }

    #[test]
    fn tampering_and_unknown_keys_are_refused() {
        let ring = ring();
        let secret = Secret::generate(crate::otp::Algorithm::Sha1).unwrap();
        let mut sealed = ring.seal("alice", &secret).unwrap();
        sealed.ciphertext[0] ^= 1;
        assert_eq!(ring.open("alice", &sealed), Err(SealError::Authentication));
        let foreign = KeyRing::new(EncryptionKey::generate(9).unwrap());
        let sealed = foreign.seal("alice", &secret).unwrap();
        assert_eq!(ring.open("alice", &sealed), Err(SealError::UnknownKey(9)));
        for bad in [
            "",
            "v1",
            "v2.1.AAAA.AAAA",
            "v1.x.AAAA.AAAA",
            "v1.1.AAAA.AAAA",
            "v1.1.AAAAAAAAAAAAAAAA.AA",
        ] {
            assert_eq!(
                SealedSecret::decode(bad),
                Err(SealError::Malformed),
                "{bad}"
            );
        }
    }

    /// Known answers from another implementation (Python `cryptography` on OpenSSL): key
    /// `0x42` × 32 with id 7, nonce `00 01 .. 0b`, user `alice`, the secret below; v2 under
    /// HMAC-SHA256(key, `twofactor/seal/v2 AES-256-GCM-SIV` 01).
    const KAT_SECRET: &[u8] = b"12345678901234567890";
    const KAT_V1: &str = "v1.7.AAECAwQFBgcICQoL.1XJncq8PRGRQYez88g4OhBGgqWw6hL+Bj+55VS2cEpifU4BY";
    const KAT_V2: &str = "v2.7.AAECAwQFBgcICQoL.kWOX/g0aalhy/jHtL+7v/pMaXKAZe+7AIdX2Ge6N7Il8vuci";

    fn kat_ring() -> KeyRing {
        KeyRing::new(EncryptionKey::from_bytes(7, &[0x42; 32]).unwrap())
    }

    fn kat_secret() -> Secret {
        Secret::danger_from_bytes_allow_80_bit(KAT_SECRET).unwrap()
    }

    #[test]
    fn both_formats_match_another_implementation() {
        let ring = kat_ring();
        for text in [KAT_V1, KAT_V2] {
            let sealed = SealedSecret::decode(text).unwrap();
            assert_eq!(sealed.encode(), text);
            assert_eq!(ring.open("alice", &sealed).unwrap(), kat_secret());
            assert_eq!(ring.open("bob", &sealed), Err(SealError::Authentication));
        }
        let nonce = core::array::from_fn(|i| u8::try_from(i).unwrap());
        let sealed = ring
            .seal_with_nonce(SECRET_PURPOSE, "alice", KAT_SECRET, nonce)
            .unwrap();
        assert_eq!(sealed.encode(), KAT_V2);
        assert!(
            ring.seal("alice", &kat_secret())
                .unwrap()
                .encode()
                .starts_with("v2.7.")
        );
    }

    #[test]
    fn v1_records_are_resealed_as_v2() {
        let v1 = SealedSecret::decode(KAT_V1).unwrap();
        // Under the same key: the format alone calls for resealing.
        let ring = kat_ring();
        assert!(ring.needs_reseal(&v1));
        let v2 = ring.reseal("alice", &v1).unwrap();
        assert_eq!((v2.format, v2.key_id()), (Format::V2, 7));
        assert!(!ring.needs_reseal(&v2));
        assert_eq!(ring.open("alice", &v2).unwrap(), kat_secret());
        assert_eq!(ring.reseal("bob", &v1), Err(SealError::Authentication));
        // After a rotation: new key and new format at once.
        let rotated = KeyRing::new(EncryptionKey::generate(8).unwrap())
            .with_old_key(EncryptionKey::from_bytes(7, &[0x42; 32]).unwrap())
            .unwrap();
        let v2 = rotated.reseal("alice", &v1).unwrap();
        assert_eq!((v2.format, v2.key_id()), (Format::V2, 8));
        assert!(!rotated.needs_reseal(&v2));
        assert_eq!(rotated.open("alice", &v2).unwrap(), kat_secret());
        // Other purposes too.
        let codes = ring.seal_data(RECOVERY_PURPOSE, "alice", b"codes").unwrap();
        let moved = rotated
            .reseal_data(RECOVERY_PURPOSE, "alice", &codes)
            .unwrap();
        assert_eq!(moved.key_id(), 8);
        assert_eq!(
            *rotated
                .open_data(RECOVERY_PURPOSE, "alice", &moved)
                .unwrap(),
            b"codes"
        );
    }

    #[test]
    fn a_changed_format_tag_does_not_open() {
        let ring = kat_ring();
        let mut sealed = SealedSecret::decode(KAT_V2).unwrap();
        sealed.format = Format::V1;
        assert_eq!(ring.open("alice", &sealed), Err(SealError::Authentication));
        let mut sealed = SealedSecret::decode(KAT_V1).unwrap();
        sealed.format = Format::V2;
        assert_eq!(ring.open("alice", &sealed), Err(SealError::Authentication));
    }

    #[test]
    fn one_text_per_record() {
        let nonce = "AAECAwQFBgcICQoL";
        let ct = KAT_V2.rsplit('.').next().unwrap();
        for id in ["07", "+7", "-7", " 7", "7 ", "", "4294967296", "0x7"] {
            let text = format!("v2.{id}.{nonce}.{ct}");
            assert_eq!(
                SealedSecret::decode(&text),
                Err(SealError::Malformed),
                "{text}"
            );
        }
        for format in ["V2", "v3", "v0", "v", "v02", ""] {
            let text = format!("{format}.7.{nonce}.{ct}");
            assert_eq!(
                SealedSecret::decode(&text),
                Err(SealError::Malformed),
                "{text}"
            );
        }
        let zero = format!("v2.0.{nonce}.{ct}");
        assert_eq!(SealedSecret::decode(&zero).unwrap().key_id(), 0);
    }

    #[test]
    fn rotation_keeps_old_records_readable() {
        let old = EncryptionKey::generate(1).unwrap();
        let secret = Secret::generate(crate::otp::Algorithm::Sha1).unwrap();
        let sealed = KeyRing::new(old.clone()).seal("alice", &secret).unwrap();
        let rotated = KeyRing::new(EncryptionKey::generate(2).unwrap())
            .with_old_key(old)
            .unwrap();
        assert!(rotated.needs_reseal(&sealed));
        assert_eq!(rotated.open("alice", &sealed).unwrap(), secret);
        let resealed = rotated.reseal("alice", &sealed).unwrap();
        assert_eq!(resealed.key_id(), 2);
        assert!(!rotated.needs_reseal(&resealed));
        assert_eq!(rotated.open("alice", &resealed).unwrap(), secret);
        assert!(matches!(
            rotated
                .clone()
                .with_old_key(EncryptionKey::generate(2).unwrap()),
            Err(SealError::DuplicateKey(2))
        ));
        let key = EncryptionKey::generate(3).unwrap();
        let back = EncryptionKey::from_base64(3, &key.expose_base64()).unwrap();
        assert_eq!(*back.key, *key.key);
        assert_eq!(
            format!("{key:?}"),
            "EncryptionKey { id: 3, key: \"[redacted]\" }"
        );
    }
}
