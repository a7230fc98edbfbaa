//! Code parameters: hash algorithm, number of digits, time step.
//!
//! Each parameter is a small validated type, so a `Totp` or `Hotp` built from them can never hold a
//! value that would make code generation panic or produce out-of-spec codes.

use core::fmt;
use core::str::FromStr;

/// A parameter outside the range the standards allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// Codes must have 6, 7 or 8 digits (RFC 4226 §5.3 requires at least 6; 8 is the most any
    /// authenticator supports and the most a 31-bit truncated value can fill with uniform digits).
    #[error("codes must have 6 to 8 digits, got {0}")]
    Digits(u64),
    /// The time step must be at least one second.
    #[error("the time step must be at least one second")]
    Period,
    /// The algorithm name is not SHA1, SHA256 or SHA512.
    #[error("unsupported algorithm (expected SHA1, SHA256 or SHA512)")]
    Algorithm,
}

/// The HMAC hash function (RFC 6238 §1.2 allows SHA-1, SHA-256 and SHA-512).
///
/// SHA-1 is the default and the only choice every authenticator app honours; see
/// [`crate::otp::OtpAuthUri::warnings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA-1 (the default).
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name used in otpauth URIs: `SHA1`, `SHA256` or `SHA512`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// The secret length this crate generates for the algorithm: the hash output size
    /// (20, 32 or 64 bytes), as RFC 6238 Appendix B's seeds do.
    pub const fn default_secret_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = ParamError;

    /// Parses leniently, as found in real URIs: any case, with or without a hyphen
    /// (`SHA1`, `sha1`, `SHA-1`, `HmacSHA1` is not accepted).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut buf = [0u8; 6];
        let mut n = 0;
        for b in s.trim().bytes().filter(|&b| b != b'-' && b != b'_') {
            if n == buf.len() {
                return Err(ParamError::Algorithm);
            }
            buf[n] = b.to_ascii_uppercase();
            n += 1;
        }
        match &buf[..n] {
            b"SHA1" => Ok(Algorithm::Sha1),
            b"SHA256" => Ok(Algorithm::Sha256),
            b"SHA512" => Ok(Algorithm::Sha512),
            _ => Err(ParamError::Algorithm),
        }
    }
}

/// The number of digits in a code: 6, 7 or 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digits(u8);

impl Digits {
    /// Six digits: the default, and what every authenticator app supports.
    pub const SIX: Digits = Digits(6);
    /// Seven digits.
    pub const SEVEN: Digits = Digits(7);
    /// Eight digits.
    pub const EIGHT: Digits = Digits(8);

    /// Validates a digit count.
    ///
    /// # Errors
    /// [`ParamError::Digits`] unless `n` is 6, 7 or 8.
    pub const fn new(n: u8) -> Result<Digits, ParamError> {
        match n {
            6..=8 => Ok(Digits(n)),
            _ => Err(ParamError::Digits(n as u64)),
        }
    }

    /// The digit count.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// `10^digits`, the modulus applied to the truncated HMAC value (RFC 4226 §5.3).
    pub(crate) const fn modulus(self) -> u32 {
        match self.0 {
            6 => 1_000_000,
            7 => 10_000_000,
            _ => 100_000_000,
        }
    }
}

impl Default for Digits {
    fn default() -> Self {
        Digits::SIX
    }
}

impl fmt::Display for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Digits {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n: u64 = s.trim().parse().map_err(|_| ParamError::Digits(0))?;
        u8::try_from(n)
            .map_err(|_| ParamError::Digits(n))
            .and_then(Digits::new)
    }
}

/// The TOTP time step in seconds (RFC 6238 `X`): at least one second, 30 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period(u64);

impl Period {
    /// Thirty seconds: the RFC 6238 default and the only period every authenticator app honours.
    pub const THIRTY_SECONDS: Period = Period(30);

    /// Validates a period in seconds.
    ///
    /// # Errors
    /// [`ParamError::Period`] if `seconds` is zero.
    pub const fn new(seconds: u64) -> Result<Period, ParamError> {
        if seconds == 0 {
            Err(ParamError::Period)
        } else {
            Ok(Period(seconds))
        }
    }

    /// The period in seconds.
    pub const fn seconds(self) -> u64 {
        self.0
    }
}

impl Default for Period {
    fn default() -> Self {
        Period::THIRTY_SECONDS
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Period {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<u64>()
            .map_err(|_| ParamError::Period)
            .and_then(Period::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_as_found_in_real_uris() {
        for (s, a) in [
            ("SHA1", Algorithm::Sha1),
            ("sha1", Algorithm::Sha1),
            ("SHA-1", Algorithm::Sha1),
            ("sha-256", Algorithm::Sha256),
            ("SHA256", Algorithm::Sha256),
            ("Sha512", Algorithm::Sha512),
        ] {
            assert_eq!(s.parse::<Algorithm>(), Ok(a), "{s}");
        }
        for s in ["", "MD5", "SHA3", "SHA-1-1", "SHA1024", "sha1x"] {
            assert_eq!(s.parse::<Algorithm>(), Err(ParamError::Algorithm), "{s}");
        }
    }

    #[test]
    fn digits_and_period_ranges() {
        assert!(Digits::new(5).is_err());
        assert!(Digits::new(9).is_err());
        assert_eq!("10".parse::<Digits>(), Err(ParamError::Digits(10)));
        assert_eq!(
            "99999999999".parse::<Digits>(),
            Err(ParamError::Digits(99_999_999_999))
        );
        assert_eq!("8".parse::<Digits>().map(Digits::get), Ok(8));
        assert_eq!("0".parse::<Period>(), Err(ParamError::Period));
        assert_eq!("-5".parse::<Period>(), Err(ParamError::Period));
        assert_eq!("1".parse::<Period>().map(Period::seconds), Ok(1));
    }
}
