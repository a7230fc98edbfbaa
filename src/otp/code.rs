//! One-time codes: generated codes as digit strings, and parsing what a user typed.
//!
//! Codes are strings with their leading zeros, never integers: `012345` and `12345` are different
//! inputs, and the second is refused for having the wrong length.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::Digits;

/// Longest input looked at before refusing; anything longer is refused as the wrong length
/// without further work.
const MAX_CODE_INPUT: usize = 64;

/// Why typed input is not a well-formed code. Reported before any HMAC is computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// Nothing but white space.
    #[error("no code was entered")]
    Empty,
    /// The wrong number of digits.
    #[error("the code must have exactly {expected} digits")]
    Length {
        /// How many digits this verifier expects.
        expected: u8,
    },
    /// A character other than an ASCII digit (beyond one inner space or hyphen).
    #[error("the code may contain only digits")]
    NotDigits,
}

/// Normalises user input and parses it as a code of exactly `digits` digits.
///
/// Accepted: surrounding white space, and at most one inner space or hyphen (`123 456`,
/// `1234-5678`). The value is returned as an integer only after the exact length was checked, so
/// leading zeros are significant.
pub(crate) fn parse_code(input: &str, digits: Digits) -> Result<u32, CodeError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(CodeError::Empty);
    }
    let expected = digits.get();
    let length = CodeError::Length { expected };
    if trimmed.len() > MAX_CODE_INPUT {
        return Err(length);
    }
    let bytes = trimmed.as_bytes();
    let mut value: u32 = 0;
    let mut count: u8 = 0;
    let mut separators = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                if count == expected {
                    // Keep scanning so that a stray letter is reported as such, but the value is
                    // already full.
                    count = expected.saturating_add(1);
                    continue;
                }
                if count > expected {
                    continue;
                }
                value = value * 10 + u32::from(b - b'0');
                count += 1;
            }
            // One separator, between digits (trimming removed the outer white space).
            b' ' | b'-' if separators == 0 && i > 0 && i + 1 < bytes.len() => separators += 1,
            b' ' | b'-' | b'\t' => return Err(length),
            _ => return Err(CodeError::NotDigits),
        }
    }
    if count != expected {
        return Err(length);
    }
    Ok(value)
}

/// A generated code: `digits` ASCII digits, leading zeros kept.
///
/// `Display` and [`Code::as_str`] give the digits, for showing to a user or typing into a test.
/// `Debug` is redacted so that codes do not end up in logs. Zeroized on drop; equality is
/// constant-time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Code {
    buf: [u8; 8],
    len: u8,
}

impl Code {
    pub(crate) fn new(value: u32, digits: Digits) -> Code {
        let len = digits.get();
        let mut buf = [b'0'; 8];
        let mut v = value % digits.modulus();
        for slot in buf[..usize::from(len)].iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        Code { buf, len }
    }

    /// The code's digits.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The number of digits.
    pub fn digits(&self) -> u8 {
        self.len
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code([redacted; {} digits])", self.len)
    }
}

impl PartialEq for Code {
    fn eq(&self, other: &Self) -> bool {
        (self.len == other.len) && bool::from(self.buf.ct_eq(&other.buf))
    }
}

impl Eq for Code {}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        bool::from(self.as_str().as_bytes().ct_eq(other.as_bytes()))
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_input_forms() {
        let six = Digits::SIX;
        for s in [
            "012345",
            " 012345 ",
            "\t012345\n",
            "012 345",
            "012-345",
            "0-12345",
        ] {
            assert_eq!(parse_code(s, six), Ok(12345), "{s:?}");
        }
        assert_eq!(parse_code("1234-5678", Digits::EIGHT), Ok(12_345_678));
        assert_eq!(parse_code("0000000", Digits::SEVEN), Ok(0));
    }

    #[test]
    fn refused_input_forms() {
        let six = Digits::SIX;
        let len = CodeError::Length { expected: 6 };
        assert_eq!(parse_code("", six), Err(CodeError::Empty));
        assert_eq!(parse_code("   ", six), Err(CodeError::Empty));
        assert_eq!(
            parse_code("12345", six),
            Err(len.clone()),
            "leading zero dropped"
        );
        assert_eq!(parse_code("1234567", six), Err(len.clone()));
        assert_eq!(
            parse_code("12 34 56", six),
            Err(len.clone()),
            "two separators"
        );
        assert_eq!(parse_code("123--456", six), Err(len.clone()));
        assert_eq!(parse_code("-123456", six), Err(len.clone()));
        assert_eq!(parse_code("123\t456", six), Err(len.clone()));
        assert_eq!(parse_code(&"1".repeat(10_000), six), Err(len));
        assert_eq!(parse_code("12a456", six), Err(CodeError::NotDigits));
        assert_eq!(parse_code("１２３４５６", six), Err(CodeError::NotDigits));
        assert_eq!(parse_code("+12345", six), Err(CodeError::NotDigits));
        assert_eq!(parse_code("1234567x", six), Err(CodeError::NotDigits));
    }

    #[test]
    fn input_past_the_limit_is_refused_unread() {
        let six = Digits::SIX;
        // At the limit the input is still read, so a stray letter is reported as such...
        let at_limit = format!("{}x", "1".repeat(MAX_CODE_INPUT - 1));
        assert_eq!(parse_code(&at_limit, six), Err(CodeError::NotDigits));
        // ...one character past it, it is refused for its length without being read.
        let past = format!("{}x", "1".repeat(MAX_CODE_INPUT));
        assert_eq!(
            parse_code(&past, six),
            Err(CodeError::Length { expected: 6 })
        );
        // Digits past the expected count are counted, not accumulated.
        assert_eq!(
            parse_code(&"9".repeat(MAX_CODE_INPUT), Digits::EIGHT),
            Err(CodeError::Length { expected: 8 })
        );
    }

    #[test]
    fn codes_are_equal_with_equal_digits_and_length() {
        let six = Code::new(12_345, Digits::SIX);
        assert_eq!(six.digits(), 6);
        assert_eq!(Code::new(12_345, Digits::EIGHT).digits(), 8);
        assert!(six == Code::new(12_345, Digits::SIX));
        assert!(six != Code::new(12_346, Digits::SIX));
        // "012345" keeps the buffer's filler after its six digits: "01234500", which is also
        // the whole buffer of the eight-digit code 01234500. The lengths tell them apart.
        assert!(six != Code::new(1_234_500, Digits::EIGHT));
    }

    #[test]
    fn a_separator_must_stand_between_digits() {
        let len = Err(CodeError::Length { expected: 6 });
        assert_eq!(parse_code("123456-", Digits::SIX), len);
        assert_eq!(parse_code("123456 -", Digits::SIX), len);
        assert_eq!(parse_code("12345-6", Digits::SIX), Ok(123_456));
    }

    #[test]
    fn codes_keep_leading_zeros_and_redact_debug() {
        let c = Code::new(12345, Digits::EIGHT);
        assert_eq!(c.as_str(), "00012345");
        assert_eq!(c.to_string(), "00012345");
        assert_eq!(format!("{c:?}"), "Code([redacted; 8 digits])");
        assert_eq!(c, "00012345");
        assert!(c != "12345");
        assert_eq!(Code::new(1_234_567_891, Digits::SIX).as_str(), "567891");
    }
}
