//! Secrets at rest: ChaCha20-Poly1305 under a key ring, bound to the user.
//!
//! Every secret is encrypted before it reaches a store. The ciphertext carries the id of the key
//! that sealed it, so older keys can stay in the ring for decryption while new secrets use the
//! current key, and [`KeyRing::reseal`] moves a record to the current key. The user id is the
//! associated data: a ciphertext copied into another user's row does not decrypt.

use core::fmt;
use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use data_encoding::BASE64_NOPAD;
use zeroize::Zeroizing;

use crate::otp::Secret;

/// Purposes, for domain separation in the associated data: a sealed secret never opens as sealed
/// recovery codes, nor the reverse.
const SECRET_PURPOSE: &str = "secret";
pub(crate) const RECOVERY_PURPOSE: &str = "recovery-codes";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

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
    /// The operating system random generator failed.
    #[error("the operating system random generator failed")]
    Rng,
}

/// A 256-bit ChaCha20-Poly1305 key with an id. Zeroized on drop; `Debug` shows only the id.
#[derive(Clone)]
pub struct EncryptionKey {
    id: u32,
    key: Zeroizing<[u8; 32]>,
}

impl EncryptionKey {
    /// A new random key from the OS CSPRNG.
    ///
    /// # Errors
    /// [`SealError::Rng`].
    pub fn generate(id: u32) -> Result<EncryptionKey, SealError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|_| SealError::Rng)?;
        Ok(EncryptionKey { id, key })
    }

    /// A key from 32 raw bytes.
    ///
    /// # Errors
    /// [`SealError::KeyLength`].
    pub fn from_bytes(id: u32, bytes: &[u8]) -> Result<EncryptionKey, SealError> {
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::KeyLength)?;
        Ok(EncryptionKey {
            id,
            key: Zeroizing::new(key),
        })
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

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(self.key.as_ref()))
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// A secret encrypted for one user: key id, random nonce, ciphertext with tag.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    key_id: u32,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl SealedSecret {
    /// The id of the key that sealed it.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Text form: `v1.KEYID.NONCE.CIPHERTEXT` (base64 without padding).
    pub fn encode(&self) -> String {
        format!(
            "v1.{}.{}.{}",
            self.key_id,
            BASE64_NOPAD.encode(&self.nonce),
            BASE64_NOPAD.encode(&self.ciphertext)
        )
    }

    /// Parses [`SealedSecret::encode`]'s form.
    ///
    /// # Errors
    /// [`SealError::Malformed`].
    pub fn decode(text: &str) -> Result<SealedSecret, SealError> {
        if text.len() > 4096 {
            return Err(SealError::Malformed);
        }
        let mut parts = text.split('.');
        let (Some("v1"), Some(id), Some(nonce), Some(ct), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SealError::Malformed);
        };
        let key_id = id.parse().map_err(|_| SealError::Malformed)?;
        let nonce: [u8; NONCE_LEN] = BASE64_NOPAD
            .decode(nonce.as_bytes())
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(SealError::Malformed)?;
        let ciphertext = BASE64_NOPAD
            .decode(ct.as_bytes())
            .map_err(|_| SealError::Malformed)?;
        if ciphertext.len() < TAG_LEN {
            return Err(SealError::Malformed);
        }
        Ok(SealedSecret {
            key_id,
            nonce,
            ciphertext,
        })
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
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

    /// `twofactor/PURPOSE/v1 NUL USER_ID`.
    fn aad(purpose: &str, user_id: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(16 + purpose.len() + user_id.len());
        aad.extend_from_slice(b"twofactor/");
        aad.extend_from_slice(purpose.as_bytes());
        aad.extend_from_slice(b"/v1\0");
        aad.extend_from_slice(user_id.as_bytes());
        aad
    }

    /// Seals `data` for `user_id` under `purpose`.
    pub(crate) fn seal_data(
        &self,
        purpose: &str,
        user_id: &str,
        data: &[u8],
    ) -> Result<SealedSecret, SealError> {
        let key = self
            .keys
            .get(&self.current)
            .ok_or(SealError::UnknownKey(self.current))?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Rng)?;
        let ciphertext = key
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: data,
                    aad: &KeyRing::aad(purpose, user_id),
                },
            )
            .map_err(|_| SealError::Authentication)?;
        Ok(SealedSecret {
            key_id: key.id,
            nonce,
            ciphertext,
        })
    }

    /// Opens data sealed by [`KeyRing::seal_data`] with the same purpose and user.
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
        key.cipher()
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &KeyRing::aad(purpose, user_id),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Authentication)
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

    /// Whether a record was sealed under an older key.
    pub fn needs_reseal(&self, sealed: &SealedSecret) -> bool {
        sealed.key_id != self.current
    }

    /// Opens a record and seals it again under the current key (key rotation).
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
