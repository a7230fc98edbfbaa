//! The verification window and the constant-time scan shared by TOTP and HOTP.
//!
//! Every candidate in the window is computed and compared; nothing exits early. Among the
//! candidates that match, the newest one later than the last accepted step wins (so that two
//! adjacent steps that happen to produce the same code never lock out the next legitimate login);
//! a match only at already-accepted steps is reported as a replay.

use subtle::{Choice, ConstantTimeEq};

use super::code::CodeError;
use super::hmac::HmacKey;
use super::{Digits, TimeError};

/// Why a code was not accepted.
///
/// Only [`VerifyError::Invalid`] and [`VerifyError::Malformed`] are meant for the person who typed
/// the code; [`VerifyError::Replayed`] and [`VerifyError::ClockSkew`] are diagnostics for the
/// application (audit, support) and should be shown to the user as an invalid code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The input is not a code of the right shape (checked before any HMAC is computed).
    #[error(transparent)]
    Malformed(#[from] CodeError),
    /// The code matches no step in the window.
    #[error("invalid code")]
    Invalid,
    /// The code is valid only for a step that was already accepted, or an earlier one (RFC 6238
    /// §5.2: a code is accepted once).
    #[error("invalid code (already used)")]
    Replayed,
    /// The code is valid only outside the window, `steps` time steps away from the verifier's
    /// current step: the device clock looks that far off. Never accepted; reported only when
    /// skew diagnosis is enabled (see `Totp::with_skew_diagnosis`).
    #[error("invalid code (device clock looks {steps} steps off)")]
    ClockSkew {
        /// Offset of the matching step from the current step (positive: device ahead).
        steps: i64,
    },
    /// The time given is unusable (before the epoch, or the system clock failed).
    #[error(transparent)]
    Time(#[from] TimeError),
}

/// The TOTP acceptance window around the current step (after re-centring by the stored drift).
///
/// RFC 6238 §5.2 recommends at most one step of network delay; the default is one step behind and
/// one ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// Steps before the current one that are accepted.
    pub behind: u8,
    /// Steps after the current one that are accepted.
    pub ahead: u8,
}

impl Window {
    /// Only the current step.
    pub const EXACT: Window = Window::symmetric(0);
    /// One step each side: the default.
    pub const DEFAULT: Window = Window::symmetric(1);

    /// A window `behind` steps back and `ahead` steps forward.
    pub const fn new(behind: u8, ahead: u8) -> Window {
        Window { behind, ahead }
    }

    /// The same number of steps each side.
    pub const fn symmetric(steps: u8) -> Window {
        Window::new(steps, steps)
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::DEFAULT
    }
}

/// Which match a scan selects when several eligible counters match.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// The highest counter (acceptance: the newest step wins).
    Newest,
    /// The lowest counter (diagnosis above the window: the one nearest to it).
    Oldest,
}

/// The outcome of scanning `lo..=hi`.
pub(crate) struct Scan {
    /// The selected matching counter at or after `first_eligible`.
    pub(crate) matched: Option<u64>,
    /// Some counter before `first_eligible` matched.
    pub(crate) replayed: bool,
}

/// Compares `code` with the value of every counter in `lo..=hi` without early exit, selecting the
/// newest (or oldest) match at or after `first_eligible` (`None`: nothing is eligible).
///
/// Which counters are scanned and which are eligible is public; whether and where the code
/// matched is computed with `subtle` and becomes a branch only at the end.
pub(crate) fn scan(
    key: &HmacKey,
    digits: Digits,
    code: u32,
    lo: u64,
    hi: u64,
    first_eligible: Option<u64>,
    pick: Pick,
) -> Scan {
    // Constant divisors let the compiler replace `%` by multiplications, whose timing does not
    // depend on the (secret) HMAC value.
    match digits.get() {
        6 => scan_mod::<1_000_000>(key, code, lo, hi, first_eligible, pick),
        7 => scan_mod::<10_000_000>(key, code, lo, hi, first_eligible, pick),
        _ => scan_mod::<100_000_000>(key, code, lo, hi, first_eligible, pick),
    }
}

#[inline(always)]
fn scan_mod<const MODULUS: u32>(
    key: &HmacKey,
    code: u32,
    lo: u64,
    hi: u64,
    first_eligible: Option<u64>,
    pick: Pick,
) -> Scan {
    // One `subtle` comparison per candidate; its result is widened to an all-ones or all-zeros
    // mask and combined with plain bitwise operations, which are branch-free and avoid an
    // optimisation barrier per operator. Eligibility and the pick direction depend only on
    // public counters and configuration, so their masks need no barrier.
    let keep_later = mask(pick == Pick::Newest);
    let mut best = 0u64;
    let mut found = 0u64;
    let mut replayed = 0u64;
    key.for_each_truncated(lo, hi, |counter, value| {
        let matches = 0u64.wrapping_sub(u64::from((value % MODULUS).ct_eq(&code).unwrap_u8()));
        let eligible = mask(first_eligible.is_some_and(|first| counter >= first));
        let accept = matches & eligible;
        // Ascending order: for the newest, every later match overwrites; for the oldest, only
        // the first one is taken.
        let take = accept & (keep_later | !found);
        best = (best & !take) | (counter & take);
        found |= accept;
        replayed |= matches & !eligible;
    });
    let found = Choice::from((found & 1) as u8);
    Scan {
        matched: bool::from(found).then_some(best),
        replayed: bool::from(Choice::from((replayed & 1) as u8)),
    }
}

/// All ones for `true`, zero for `false` (for public conditions only).
#[inline(always)]
fn mask(condition: bool) -> u64 {
    0u64.wrapping_sub(u64::from(condition))
}

/// Counters `centre - behind ..= centre + ahead` clipped to `0..=u64::MAX`, or `None` when the
/// clipped range is empty.
pub(crate) fn range_around(centre: i128, behind: u64, ahead: u64) -> Option<(u64, u64)> {
    let lo = (centre - i128::from(behind)).max(0);
    let hi = (centre + i128::from(ahead)).min(i128::from(u64::MAX));
    if lo > hi {
        return None;
    }
    Some((u64::try_from(lo).ok()?, u64::try_from(hi).ok()?))
}

/// `a - b` as an i64, saturating.
pub(crate) fn offset(a: u64, b: u64) -> i64 {
    let d = i128::from(a) - i128::from(b);
    i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clip_at_both_ends() {
        assert_eq!(range_around(0, 1, 1), Some((0, 1)));
        assert_eq!(range_around(-5, 1, 1), None);
        assert_eq!(range_around(-1, 1, 1), Some((0, 0)));
        let max = i128::from(u64::MAX);
        assert_eq!(range_around(max, 1, 1), Some((u64::MAX - 1, u64::MAX)));
        assert_eq!(range_around(max + 3, 1, 1), None);
        assert_eq!(offset(0, u64::MAX), i64::MIN);
        assert_eq!(offset(u64::MAX, 0), i64::MAX);
        assert_eq!(offset(5, 7), -2);
    }

    /// RFC 4226's key, whose codes for counters 0..=9 are all different (Appendix D).
    fn rfc_key() -> HmacKey {
        HmacKey::new(crate::otp::Algorithm::Sha1, b"12345678901234567890")
    }

    fn code(key: &HmacKey, counter: u64) -> u32 {
        key.truncated(counter) % 1_000_000
    }

    #[test]
    fn only_a_match_at_an_ineligible_counter_is_a_replay() {
        let key = rfc_key();
        let scan6 = |code, first| scan(&key, Digits::SIX, code, 0, 4, first, Pick::Newest);
        // A code of no counter in the window: neither a match nor a replay, even though
        // counters 0..=2 are not eligible.
        let wrong = (0..1_000_000)
            .find(|c| (0..=4).all(|i| code(&key, i) != *c))
            .unwrap();
        let s = scan6(wrong, Some(3));
        assert_eq!((s.matched, s.replayed), (None, false));
        // The code of an ineligible counter: a replay.
        let s = scan6(code(&key, 1), Some(3));
        assert_eq!((s.matched, s.replayed), (None, true));
        // The code of an eligible counter: a match, not a replay.
        let s = scan6(code(&key, 4), Some(3));
        assert_eq!((s.matched, s.replayed), (Some(4), false));
        // Nothing eligible at all.
        let s = scan6(code(&key, 4), None);
        assert_eq!((s.matched, s.replayed), (None, true));
    }
}
