//! The shared secret (the HOTP/TOTP key) and its base32 form.
//!
//! RFC 4226 §4 R6 requires at least 128 bits and recommends 160; this crate generates the hash's
//! output size (160, 256 or 512 bits) and refuses anything under 128 bits unless the caller uses
//! the explicitly named import escape hatch.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use data_encoding::{Encoding, Specification};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

#[cfg(feature = "std")]
use super::Algorithm;

/// Minimum secret length accepted by default: 128 bits (RFC 4226 §4 R6).
pub const MIN_SECRET_BYTES: usize = 16;
/// Minimum length accepted by the `danger_*_allow_80_bit` import paths: 80 bits, what some large
/// providers issue. NIST SP 800-63B §5.1.4.1 asks for 112 bits, so such secrets are for importing
/// existing enrolments only.
pub const MIN_IMPORT_SECRET_BYTES: usize = 10;
/// Maximum secret length: longer keys add nothing (HMAC hashes keys longer than a block).
pub const MAX_SECRET_BYTES: usize = 256;
/// Longest base32 text accepted, separators included, before any decoding work is done.
const MAX_BASE32_INPUT: usize = 1024;

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// Shorter than the minimum (128 bits, or 80 bits on the import path).
    #[error("secret is too short: {bits} bits, at least {min_bits} required")]
    TooShort {
        /// Length of the refused secret in bits.
        bits: usize,
        /// The minimum that applied.
        min_bits: usize,
    },
    /// Longer than [`MAX_SECRET_BYTES`] (or its base32 text is absurdly long).
    #[error("secret is too long")]
    TooLong,
    /// Not base32 (RFC 4648 §6): a character outside `A-Z 2-7` (any case), a misplaced `=`, or a
    /// length that no byte string encodes to. The offending character is not repeated here.
    #[error("secret is not valid base32 (problem at character {position})")]
    InvalidBase32 {
        /// Index of the offending character in the input, counted in characters.
        position: usize,
    },
    /// The operating system's random generator failed.
    #[error("the operating system random generator failed")]
    Rng,
}

/// RFC 4648 base32 without padding, lenient on input: lower case is folded to upper case and
/// trailing bits are not required to be zero (authenticator apps accept such secrets too).
fn lenient_base32() -> Option<Encoding> {
    let mut spec = Specification::new();
    spec.symbols.push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    spec.translate.from.push_str("abcdefghijklmnopqrstuvwxyz");
    spec.translate.to.push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    spec.check_trailing_bits = false;
    spec.encoding().ok()
}

/// [`lenient_base32`], built once (without `std` it is built per call: parsing is not a hot path).
#[cfg(feature = "std")]
static LENIENT_BASE32: std::sync::LazyLock<Option<Encoding>> =
    std::sync::LazyLock::new(lenient_base32);

/// A HOTP/TOTP shared secret.
///
/// - Zeroized when dropped (as are the copies this crate makes while parsing or encoding).
/// - `Debug` prints `Secret([redacted])`; there is no `Display`.
/// - The bytes are reachable only through [`Secret::expose_bytes`] and the base32 form only through
///   [`Secret::expose_base32`]: grep for `expose_` to audit where a secret leaves the type.
/// - Equality is constant-time.
///
/// ```
/// use twofactor::{Algorithm, Secret};
///
/// let secret = Secret::generate(Algorithm::Sha1)?;
/// assert_eq!(secret.len(), 20);
/// assert_eq!(format!("{secret:?}"), "Secret([redacted])");
///
/// // Lenient on input: lower case, spaces, hyphens, padding.
/// let typed = Secret::from_base32("gezd gnbv-gy3t qojq gezd gnbv gy3t qojq====")?;
/// assert_eq!(typed.expose_bytes(), b"12345678901234567890");
/// // Strict on output: upper case, no padding.
/// assert_eq!(&*typed.expose_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
/// # Ok::<(), twofactor::SecretError>(())
/// ```
#[derive(Clone)]
pub struct Secret {
    bytes: Zeroizing<Vec<u8>>,
}

impl Secret {
    /// Generates a secret from the operating system's CSPRNG, as long as the algorithm's output
    /// (20 bytes for SHA-1, 32 for SHA-256, 64 for SHA-512).
    ///
    /// # Errors
    /// [`SecretError::Rng`] if the operating system cannot provide randomness.
    #[cfg(feature = "std")]
    pub fn generate(algorithm: Algorithm) -> Result<Secret, SecretError> {
        Secret::generate_len(algorithm.default_secret_len())
    }

    /// Generates a secret of `len` bytes from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`SecretError::TooShort`] below 16 bytes, [`SecretError::TooLong`] above
    /// [`MAX_SECRET_BYTES`], [`SecretError::Rng`] if the OS generator fails.
    #[cfg(feature = "std")]
    pub fn generate_len(len: usize) -> Result<Secret, SecretError> {
        check_len(len, MIN_SECRET_BYTES)?;
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        getrandom::fill(&mut bytes).map_err(|_| SecretError::Rng)?;
        Ok(Secret { bytes })
    }

    /// Takes a copy of raw key bytes (at least 128 bits).
    ///
    /// # Errors
    /// [`SecretError::TooShort`] or [`SecretError::TooLong`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Secret, SecretError> {
        Secret::from_bytes_min(bytes, MIN_SECRET_BYTES)
    }

    /// Like [`Secret::from_bytes`] but accepts secrets down to 80 bits.
    ///
    /// **Danger:** for importing existing enrolments only. Such a key is below NIST SP 800-63B's
    /// 112-bit minimum; never issue one.
    ///
    /// # Errors
    /// [`SecretError::TooShort`] below 80 bits, [`SecretError::TooLong`].
    pub fn danger_from_bytes_allow_80_bit(bytes: &[u8]) -> Result<Secret, SecretError> {
        Secret::from_bytes_min(bytes, MIN_IMPORT_SECRET_BYTES)
    }

    /// Parses base32 (RFC 4648 §6) leniently: upper or lower case, spaces and hyphens anywhere,
    /// trailing `=` padding present, partial or absent. At least 128 bits.
    ///
    /// # Errors
    /// [`SecretError::InvalidBase32`], [`SecretError::TooShort`], [`SecretError::TooLong`].
    pub fn from_base32(text: &str) -> Result<Secret, SecretError> {
        Secret::from_base32_min(text, MIN_SECRET_BYTES)
    }

    /// Like [`Secret::from_base32`] but accepts secrets down to 80 bits (16 base32 characters).
    ///
    /// **Danger:** for importing existing enrolments only; see
    /// [`Secret::danger_from_bytes_allow_80_bit`].
    ///
    /// # Errors
    /// As [`Secret::from_base32`], with an 80-bit minimum.
    pub fn danger_from_base32_allow_80_bit(text: &str) -> Result<Secret, SecretError> {
        Secret::from_base32_min(text, MIN_IMPORT_SECRET_BYTES)
    }

    fn from_bytes_min(bytes: &[u8], min: usize) -> Result<Secret, SecretError> {
        check_len(bytes.len(), min)?;
        Ok(Secret {
            bytes: Zeroizing::new(bytes.to_vec()),
        })
    }

    fn from_base32_min(text: &str, min: usize) -> Result<Secret, SecretError> {
        if text.len() > MAX_BASE32_INPUT {
            return Err(SecretError::TooLong);
        }
        // Keep the significant characters, remembering where each came from for error positions.
        let mut symbols = Zeroizing::new(Vec::with_capacity(text.len()));
        let mut origin = Vec::with_capacity(text.len());
        let mut padding_from: Option<usize> = None;
        for (position, c) in text.chars().enumerate() {
            match c {
                ' ' | '\t' | '\n' | '\r' | '-' => {}
                '=' => {
                    padding_from.get_or_insert(position);
                }
                _ if padding_from.is_some() || !c.is_ascii() => {
                    return Err(SecretError::InvalidBase32 { position });
                }
                _ => {
                    symbols.push(c as u8);
                    origin.push(position);
                }
            }
        }
        #[cfg(feature = "std")]
        let engine = LENIENT_BASE32.as_ref();
        #[cfg(not(feature = "std"))]
        let built = lenient_base32();
        #[cfg(not(feature = "std"))]
        let engine = built.as_ref();
        let engine = engine.ok_or(SecretError::InvalidBase32 { position: 0 })?;
        let invalid_at = |index: usize| SecretError::InvalidBase32 {
            position: origin
                .get(index)
                .copied()
                .unwrap_or_else(|| text.chars().count()),
        };
        let decoded_len = engine
            .decode_len(symbols.len())
            .map_err(|e| invalid_at(e.position))?;
        check_len(decoded_len, min)?;
        let mut bytes = Zeroizing::new(vec![0u8; decoded_len]);
        let written = engine
            .decode_mut(&symbols, &mut bytes)
            .map_err(|partial| invalid_at(partial.error.position))?;
        bytes.truncate(written);
        check_len(bytes.len(), min)?;
        Ok(Secret { bytes })
    }

    /// The raw key bytes.
    ///
    /// **Security:** this is the long-term credential. Do not log it, put it in an error, or store
    /// it unencrypted.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The key as base32: upper case, no padding (the form otpauth URIs use). The returned string
    /// is zeroized when dropped.
    ///
    /// **Security:** see [`Secret::expose_bytes`].
    pub fn expose_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&self.bytes))
    }

    /// The base32 key in groups of four separated by spaces, for users who type it into their
    /// authenticator app by hand (`JBSW Y3DP EHPK 3PXP ...`). [`Secret::from_base32`] reads this
    /// form back.
    ///
    /// **Security:** see [`Secret::expose_bytes`].
    pub fn expose_base32_grouped(&self) -> Zeroizing<String> {
        let plain = self.expose_base32();
        let mut out = Zeroizing::new(String::with_capacity(plain.len() + plain.len() / 4));
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always `false`: a secret has at least 80 bits. Present for API convention.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Length in bits.
    pub fn bits(&self) -> usize {
        self.bytes.len() * 8
    }
}

fn check_len(len: usize, min: usize) -> Result<(), SecretError> {
    if len < min {
        Err(SecretError::TooShort {
            bits: len * 8,
            min_bits: min * 8,
        })
    } else if len > MAX_SECRET_BYTES {
        Err(SecretError::TooLong)
    } else {
        Ok(())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl ConstantTimeEq for Secret {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        // Lengths are not secret; contents are compared without early exit.
        self.bytes.as_slice().ct_eq(other.bytes.as_slice())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_input_forms_decode_alike() {
        let want = b"12345678901234567890";
        for text in [
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
            "gezd-gnbv-gy3t-qojq-gezd-gnbv-gy3t-qojq",
            "  GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====",
        ] {
            let s = Secret::from_base32(text).unwrap();
            assert_eq!(s.expose_bytes(), want, "{text:?}");
        }
    }

    #[test]
    fn trailing_bits_need_not_be_zero() {
        // 26 characters = 130 bits: 16 bytes plus two ignored bits, as some providers issue.
        let s = Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEH").unwrap();
        assert_eq!(s.len(), 16);
    }

    #[test]
    fn invalid_input_is_a_typed_error_with_a_position() {
        assert_eq!(
            Secret::from_base32("GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ"),
            Err(SecretError::InvalidBase32 { position: 15 })
        );
        assert_eq!(
            Secret::from_base32("GEZD GNBV GY3T QOJ0 GEZDGNBVGY3TQOJQ"),
            Err(SecretError::InvalidBase32 { position: 18 })
        );
        assert!(matches!(
            Secret::from_base32("GEZDGNBV=GY3TQOJQGEZDGNBVGY3TQOJQ"),
            Err(SecretError::InvalidBase32 { .. })
        ));
        assert!(matches!(
            Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQé"),
            Err(SecretError::InvalidBase32 { position: 32 })
        ));
        // A length no byte string encodes to (1, 3 or 6 symbols past a multiple of 8).
        assert!(matches!(
            Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQG"),
            Err(SecretError::InvalidBase32 { .. })
        ));
        assert_eq!(
            Secret::from_base32(""),
            Err(SecretError::TooShort {
                bits: 0,
                min_bits: 128
            })
        );
        assert_eq!(
            Secret::from_base32(&"A".repeat(2000)),
            Err(SecretError::TooLong)
        );
    }

    #[test]
    fn eighty_bit_secrets_only_through_the_danger_path() {
        let b32 = "JBSWY3DPEHPK3PXP"; // 80 bits
        assert_eq!(
            Secret::from_base32(b32),
            Err(SecretError::TooShort {
                bits: 80,
                min_bits: 128
            })
        );
        assert_eq!(
            Secret::danger_from_base32_allow_80_bit(b32).map(|s| s.bits()),
            Ok(80)
        );
        assert!(Secret::danger_from_base32_allow_80_bit("JBSWY3DPEHPK3P").is_err());
        assert!(Secret::from_bytes(&[7; 15]).is_err());
        assert!(Secret::danger_from_bytes_allow_80_bit(&[7; 10]).is_ok());
    }

    #[test]
    fn generation_lengths_and_uniqueness() {
        for (alg, len) in [
            (Algorithm::Sha1, 20),
            (Algorithm::Sha256, 32),
            (Algorithm::Sha512, 64),
        ] {
            let a = Secret::generate(alg).unwrap();
            let b = Secret::generate(alg).unwrap();
            assert_eq!(a.len(), len);
            assert_ne!(a, b);
        }
        assert!(Secret::generate_len(8).is_err());
        assert!(Secret::generate_len(MAX_SECRET_BYTES + 1).is_err());
    }

    #[test]
    fn debug_is_redacted_and_grouping_round_trips() {
        let s = Secret::from_bytes(b"12345678901234567890").unwrap();
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        let grouped = s.expose_base32_grouped();
        assert_eq!(&*grouped, "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
        assert_eq!(Secret::from_base32(&grouped).unwrap(), s);
    }
}
