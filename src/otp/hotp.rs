//! HOTP (RFC 4226): codes from a moving counter.

use core::fmt;

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use super::code::{Code, parse_code};
use super::hmac::HmacKey;
use super::window::{Pick, VerifyError, scan};
use super::{Algorithm, Digits, Secret};

/// The HOTP parameters shared with the authenticator app. `Default`: SHA-1, 6 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct HotpParams {
    /// HMAC hash function.
    pub algorithm: Algorithm,
    /// Digits per code.
    pub digits: Digits,
}

impl HotpParams {
    /// The parameters for `algorithm` and `digits`.
    pub const fn new(algorithm: Algorithm, digits: Digits) -> HotpParams {
        HotpParams { algorithm, digits }
    }
}

/// What the verifier remembers between HOTP verifications: the next counter it expects.
///
/// Every counter before it has been used (or skipped) and is refused. Like TOTP's last step, a
/// store must only ever move it forward, atomically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HotpState {
    next: Option<u64>,
}

impl HotpState {
    /// The state of a new enrolment whose device starts at `counter` (the otpauth URI's `counter`
    /// parameter; usually 0).
    pub const fn starting_at(counter: u64) -> HotpState {
        HotpState {
            next: Some(counter),
        }
    }

    /// The next counter accepted, or `None` once the counter space is exhausted (after
    /// `u64::MAX` was accepted), when no further code is accepted.
    pub const fn next_counter(&self) -> Option<u64> {
        self.next
    }
}

impl Default for HotpState {
    fn default() -> Self {
        HotpState::starting_at(0)
    }
}

/// An accepted HOTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[must_use = "store the new state, or the code can be replayed"]
pub struct HotpMatch {
    /// The counter the (last) code belongs to.
    pub counter: u64,
}

impl HotpMatch {
    /// The state to store: the counter after the matched one.
    pub fn state(&self) -> HotpState {
        HotpState {
            next: self.counter.checked_add(1),
        }
    }
}

/// An HOTP generator and verifier with its key prepared.
///
/// ```
/// use twofactor::{Hotp, HotpParams, HotpState, Secret};
///
/// let secret = Secret::from_bytes(b"12345678901234567890")?;
/// let hotp = Hotp::new(&secret, HotpParams::default());
/// assert_eq!(hotp.generate(0).as_str(), "755224"); // RFC 4226 Appendix D
///
/// // The device pressed twice without logging in: counter 1 is skipped, 2 is accepted.
/// let accepted = hotp.verify("359152", &HotpState::starting_at(0))?;
/// assert_eq!(accepted.counter, 2);
/// assert_eq!(accepted.state().next_counter(), Some(3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Hotp {
    key: HmacKey,
    params: HotpParams,
    look_ahead: u8,
}

impl Hotp {
    /// Default look-ahead: the expected counter plus 3 more (RFC 4226 §7.4 asks for a small
    /// window).
    pub const DEFAULT_LOOK_AHEAD: u8 = 3;

    /// Prepares the key, with [`Hotp::DEFAULT_LOOK_AHEAD`].
    pub fn new(secret: &Secret, params: HotpParams) -> Hotp {
        Hotp {
            key: HmacKey::new(params.algorithm, secret.expose_bytes()),
            params,
            look_ahead: Hotp::DEFAULT_LOOK_AHEAD,
        }
    }

    /// Sets how many counters past the expected one are accepted (RFC 4226 §7.4's `s`).
    pub fn with_look_ahead(mut self, look_ahead: u8) -> Hotp {
        self.look_ahead = look_ahead;
        self
    }

    /// The parameters.
    pub fn params(&self) -> HotpParams {
        self.params
    }

    /// The code for `counter`.
    pub fn generate(&self, counter: u64) -> Code {
        Code::new(self.key.truncated(counter), self.params.digits)
    }

    /// Verifies `input` against counters `next ..= next + look_ahead`, in constant time over that
    /// range; the newest match wins. Counters before `next` are never accepted.
    ///
    /// # Errors
    /// [`VerifyError::Malformed`], or [`VerifyError::Invalid`] (which includes a replayed code).
    pub fn verify(&self, input: &str, state: &HotpState) -> Result<HotpMatch, VerifyError> {
        let code = parse_code(input, self.params.digits)?;
        let next = state.next.ok_or(VerifyError::Invalid)?;
        let last = next.saturating_add(u64::from(self.look_ahead));
        scan(
            &self.key,
            self.params.digits,
            code,
            next,
            last,
            Some(next),
            Pick::Newest,
        )
        .matched
        .map(|counter| HotpMatch { counter })
        .ok_or(VerifyError::Invalid)
    }

    /// Resynchronises a counter that drifted beyond the look-ahead (RFC 4226 §7.4): finds the
    /// counter `c` in `next ..= next + look_ahead` such that `first` is the code for `c` and
    /// `second` the code for `c + 1`, scanning the whole range in constant time. On success the
    /// match names `c + 1`, so [`HotpMatch::state`] continues after the second code.
    ///
    /// Use a larger look-ahead here than in [`Hotp::verify`] (for example 100): requiring two
    /// consecutive codes keeps the chance of a false match small.
    ///
    /// # Errors
    /// [`VerifyError::Malformed`] if either input is malformed, otherwise [`VerifyError::Invalid`].
    pub fn resynchronize(
        &self,
        first: &str,
        second: &str,
        state: &HotpState,
        look_ahead: u16,
    ) -> Result<HotpMatch, VerifyError> {
        let digits = self.params.digits;
        let first = parse_code(first, digits)?;
        let second = parse_code(second, digits)?;
        let next = state.next.ok_or(VerifyError::Invalid)?;
        let last = next.saturating_add(u64::from(look_ahead)).saturating_add(1);
        // Constant divisors, as in the verification scan: `%` by a run-time value may take
        // data-dependent time.
        let (found, best) = match digits.get() {
            6 => pair_scan::<1_000_000>(&self.key, first, second, next, last),
            7 => pair_scan::<10_000_000>(&self.key, first, second, next, last),
            _ => pair_scan::<100_000_000>(&self.key, first, second, next, last),
        };
        if bool::from(found) {
            Ok(HotpMatch { counter: best })
        } else {
            Err(VerifyError::Invalid)
        }
    }
}

/// Finds, in constant time over `next..=last`, the counter whose code is `second` while the one
/// before it has code `first`.
fn pair_scan<const MODULUS: u32>(
    key: &HmacKey,
    first: u32,
    second: u32,
    next: u64,
    last: u64,
) -> (Choice, u64) {
    let mut previous_matches_first = Choice::from(0);
    let mut found = Choice::from(0);
    let mut best = 0u64;
    key.for_each_truncated(next, last, |counter, value| {
        // `previous_matches_first` is only ever set after the first counter, so `counter` is at
        // least `next + 1` when a pair is found.
        let value = value % MODULUS;
        let pair = previous_matches_first & value.ct_eq(&second);
        best.conditional_assign(&counter, pair);
        found |= pair;
        previous_matches_first = value.ct_eq(&first);
    });
    (found, best)
}

impl fmt::Debug for Hotp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hotp")
            .field("key", &"[redacted]")
            .field("params", &self.params)
            .field("look_ahead", &self.look_ahead)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hotp(params: HotpParams) -> Hotp {
        Hotp::new(
            &Secret::from_bytes(b"12345678901234567890").unwrap(),
            params,
        )
    }

    #[test]
    fn the_parameters_are_kept() {
        let params = HotpParams::new(Algorithm::Sha256, Digits::EIGHT);
        assert_eq!(hotp(params).params(), params);
    }

    #[test]
    fn resynchronisation_works_at_every_digit_count() {
        for digits in [Digits::SIX, Digits::SEVEN, Digits::EIGHT] {
            let h = hotp(HotpParams::new(Algorithm::Sha1, digits));
            let (first, second) = (h.generate(40), h.generate(41));
            let found = h
                .resynchronize(
                    first.as_str(),
                    second.as_str(),
                    &HotpState::starting_at(10),
                    50,
                )
                .unwrap();
            assert_eq!(found.counter, 41, "{digits:?}");
        }
    }
}
