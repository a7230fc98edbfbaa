//! TOTP (RFC 6238): codes from the time step `T = (now - T0) / X`.

use core::fmt;

use super::code::{Code, parse_code};
use super::hmac::HmacKey;
use super::window::{Pick, Scan, VerifyError, Window, offset, range_around, scan};
use super::{Algorithm, Digits, Period, Secret};

/// A time that cannot be turned into a time step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// The time is earlier than the TOTP epoch `T0`.
    #[error("the time is before the TOTP epoch")]
    BeforeEpoch,
    /// The system clock reads earlier than 1970.
    #[error("the system clock reads before 1970")]
    SystemClock,
}

/// The TOTP parameters shared with the authenticator app (what an otpauth URI carries, plus the
/// epoch). `Default` is the compatible choice: SHA-1, 6 digits, 30 seconds, epoch 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct TotpParams {
    /// HMAC hash function.
    pub algorithm: Algorithm,
    /// Digits per code.
    pub digits: Digits,
    /// Time step `X`.
    pub period: Period,
    /// `T0`, the Unix time at which step 0 starts (RFC 6238 §4.1).
    pub epoch: u64,
}

/// What the verifier remembers about one enrolment between verifications.
///
/// Store it after every accepted code (see [`TotpMatch::state`]). Replay prevention depends on
/// `last_step` being advanced atomically: a store must only write it if the new value is greater
/// than the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct TotpState {
    /// The last accepted time step; that step and all earlier ones are refused.
    pub last_step: Option<u64>,
    /// Observed clock drift in steps (device minus verifier), used to re-centre the window
    /// (RFC 6238 §6).
    pub drift: i64,
}

impl TotpParams {
    /// Parameters with epoch 0. Adjust with the `with_` methods:
    ///
    /// ```
    /// use twofactor::{Algorithm, Digits, Period, TotpParams};
    ///
    /// let params = TotpParams::new(Algorithm::Sha256, Digits::EIGHT, Period::THIRTY_SECONDS);
    /// assert_eq!(params.with_epoch(100).epoch, 100);
    /// assert_eq!(TotpParams::default().with_digits(Digits::EIGHT).digits, Digits::EIGHT);
    /// ```
    pub const fn new(algorithm: Algorithm, digits: Digits, period: Period) -> TotpParams {
        TotpParams {
            algorithm,
            digits,
            period,
            epoch: 0,
        }
    }

    /// With another hash function.
    #[must_use]
    pub const fn with_algorithm(mut self, algorithm: Algorithm) -> TotpParams {
        self.algorithm = algorithm;
        self
    }

    /// With another digit count.
    #[must_use]
    pub const fn with_digits(mut self, digits: Digits) -> TotpParams {
        self.digits = digits;
        self
    }

    /// With another period.
    #[must_use]
    pub const fn with_period(mut self, period: Period) -> TotpParams {
        self.period = period;
        self
    }

    /// With another `T0`.
    #[must_use]
    pub const fn with_epoch(mut self, epoch: u64) -> TotpParams {
        self.epoch = epoch;
        self
    }
}

impl TotpState {
    /// The state as stored: the last accepted step (if any) and the observed drift.
    pub const fn new(last_step: Option<u64>, drift: i64) -> TotpState {
        TotpState { last_step, drift }
    }
}

/// An accepted TOTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[must_use = "store the new state, or the code can be replayed"]
pub struct TotpMatch {
    /// The time step the code belongs to.
    pub step: u64,
    /// The step's offset from the verifier's current step: the device's observed drift.
    pub drift: i64,
}

impl TotpMatch {
    /// The state to store: this step is now the last accepted, and the drift is remembered.
    pub fn state(&self) -> TotpState {
        TotpState {
            last_step: Some(self.step),
            drift: self.drift,
        }
    }
}

/// A TOTP generator and verifier with its key prepared.
///
/// Building one hashes the key pads once; each verification then costs two hash compressions per
/// candidate step. Keep it for as long as the secret is in memory anyway (it zeroizes its key
/// state on drop).
///
/// ```
/// use twofactor::{Secret, Totp, TotpParams, TotpState, VerifyError};
///
/// let secret = Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")?;
/// let totp = Totp::new(&secret, TotpParams::default());
/// let now = 1_111_111_109;
/// let code = totp.generate_at(now)?;
/// assert_eq!(code.as_str(), "081804"); // RFC 6238 Appendix B, 6 digits
///
/// // First login: nothing accepted yet.
/// let accepted = totp.verify(code.as_str(), now, &TotpState::default())?;
/// assert_eq!(accepted.step, now / 30);
/// let state = accepted.state(); // store this (atomically, only if the step is newer)
///
/// // The same code again is refused.
/// assert_eq!(totp.verify(code.as_str(), now, &state), Err(VerifyError::Replayed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Totp {
    key: HmacKey,
    params: TotpParams,
    window: Window,
    max_drift: u16,
    skew_diagnosis: u16,
}

impl Totp {
    /// Default bound on the stored drift applied when re-centring: 10 steps (5 minutes at 30 s).
    pub const DEFAULT_MAX_DRIFT: u16 = 10;

    /// Prepares the key. The window defaults to [`Window::DEFAULT`] (±1 step), the drift bound to
    /// [`Totp::DEFAULT_MAX_DRIFT`], and skew diagnosis is off.
    pub fn new(secret: &Secret, params: TotpParams) -> Totp {
        Totp {
            key: HmacKey::new(params.algorithm, secret.expose_bytes()),
            params,
            window: Window::DEFAULT,
            max_drift: Totp::DEFAULT_MAX_DRIFT,
            skew_diagnosis: 0,
        }
    }

    /// Sets the acceptance window.
    pub fn with_window(mut self, window: Window) -> Totp {
        self.window = window;
        self
    }

    /// Bounds how far a stored drift may move the window's centre (RFC 6238 §6 asks to limit how
    /// far out of sync a prover may be). `0` ignores stored drift.
    pub fn with_max_drift(mut self, steps: u16) -> Totp {
        self.max_drift = steps;
        self
    }

    /// When a code matches nothing in the window, also look at every step up to `steps` away from
    /// the current one and report a match there as [`VerifyError::ClockSkew`] (never accepted).
    /// For example `with_skew_diagnosis(20)` reports device clocks up to ten minutes off at 30 s
    /// steps. It costs those extra candidates on every wrong code; `0` (the default) turns it
    /// off.
    pub fn with_skew_diagnosis(mut self, steps: u16) -> Totp {
        self.skew_diagnosis = steps;
        self
    }

    /// The parameters.
    pub fn params(&self) -> TotpParams {
        self.params
    }

    /// The acceptance window.
    pub fn window(&self) -> Window {
        self.window
    }

    /// The time step containing `unix_time` (seconds).
    ///
    /// # Errors
    /// [`TimeError::BeforeEpoch`] if `unix_time` is before the epoch.
    pub fn step_at(&self, unix_time: u64) -> Result<u64, TimeError> {
        let elapsed = unix_time
            .checked_sub(self.params.epoch)
            .ok_or(TimeError::BeforeEpoch)?;
        let period = self.params.period.seconds();
        // 32-bit division is several times cheaper than 64-bit on many x86 cores, and Unix time
        // fits in 32 bits until 2106.
        Ok(match (u32::try_from(elapsed), u32::try_from(period)) {
            (Ok(t), Ok(p)) => u64::from(t / p),
            _ => elapsed / period,
        })
    }

    /// The code for a time step.
    pub fn generate_step(&self, step: u64) -> Code {
        Code::new(self.key.truncated(step), self.params.digits)
    }

    /// The code at `unix_time` (seconds).
    ///
    /// # Errors
    /// [`TimeError::BeforeEpoch`].
    pub fn generate_at(&self, unix_time: u64) -> Result<Code, TimeError> {
        Ok(self.generate_step(self.step_at(unix_time)?))
    }

    /// The code now, by the system clock.
    ///
    /// # Errors
    /// [`TimeError`] if the system clock reads before 1970 or before the epoch.
    #[cfg(feature = "std")]
    pub fn generate_now(&self) -> Result<Code, TimeError> {
        self.generate_at(unix_now()?)
    }

    /// Verifies `input` at `unix_time` against the stored `state`.
    ///
    /// The input is normalised (surrounding white space, one inner space or hyphen) and must then
    /// be exactly the configured number of digits. Every step of the window, centred on the
    /// current step plus the stored drift (bounded by the maximum drift), is computed and compared
    /// in constant time. Steps at or before `state.last_step` are never accepted; among later
    /// matching steps the newest wins.
    ///
    /// # Errors
    /// [`VerifyError::Malformed`], [`VerifyError::Invalid`], [`VerifyError::Replayed`],
    /// [`VerifyError::ClockSkew`] (only with skew diagnosis on), [`VerifyError::Time`].
    pub fn verify(
        &self,
        input: &str,
        unix_time: u64,
        state: &TotpState,
    ) -> Result<TotpMatch, VerifyError> {
        let code = parse_code(input, self.params.digits)?;
        let current = self.step_at(unix_time)?;
        let bound = i64::from(self.max_drift);
        let centre = i128::from(current) + i128::from(state.drift.clamp(-bound, bound));
        let first_eligible = match state.last_step {
            None => Some(0),
            Some(last) => last.checked_add(1),
        };
        let (behind, ahead) = (u64::from(self.window.behind), u64::from(self.window.ahead));
        let Some((lo, hi)) = range_around(centre, behind, ahead) else {
            return Err(VerifyError::Invalid);
        };
        let Scan { matched, replayed } = scan(
            &self.key,
            self.params.digits,
            code,
            lo,
            hi,
            first_eligible,
            Pick::Newest,
        );
        if let Some(step) = matched {
            return Ok(TotpMatch {
                step,
                drift: offset(step, current),
            });
        }
        if replayed {
            return Err(VerifyError::Replayed);
        }
        if let Some(steps) = self.diagnose_skew(code, current, lo, hi) {
            return Err(VerifyError::ClockSkew { steps });
        }
        Err(VerifyError::Invalid)
    }

    /// Verifies `input` now, by the system clock. See [`Totp::verify`].
    ///
    /// # Errors
    /// As [`Totp::verify`].
    #[cfg(feature = "std")]
    pub fn verify_now(&self, input: &str, state: &TotpState) -> Result<TotpMatch, VerifyError> {
        self.verify(input, unix_now()?, state)
    }

    /// Scans the steps within `±skew_diagnosis` of `current` that lie outside the window
    /// `lo..=hi` (everything eligible: this only diagnoses, it never accepts) and returns the
    /// offset from `current` of the match nearest to the window, if any.
    fn diagnose_skew(&self, code: u32, current: u64, lo: u64, hi: u64) -> Option<i64> {
        if self.skew_diagnosis == 0 {
            return None;
        }
        let extra = u64::from(self.skew_diagnosis);
        let (first, last) = range_around(i128::from(current), extra, extra)?;
        let digits = self.params.digits;
        let band = |from: u64, to: u64, pick: Pick| {
            (from <= to)
                .then(|| scan(&self.key, digits, code, from, to, Some(0), pick).matched)
                .flatten()
        };
        let below = lo
            .checked_sub(1)
            .and_then(|end| band(first, end.min(last), Pick::Newest));
        let above = hi
            .checked_add(1)
            .and_then(|start| band(start.max(first), last, Pick::Oldest));
        let nearest = match (below, above) {
            (Some(b), Some(a)) => Some(if a - hi < lo - b { a } else { b }),
            (b, a) => b.or(a),
        };
        nearest.map(|step| offset(step, current))
    }
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("key", &"[redacted]")
            .field("params", &self.params)
            .field("window", &self.window)
            .field("max_drift", &self.max_drift)
            .field("skew_diagnosis", &self.skew_diagnosis)
            .finish()
    }
}

/// Seconds since 1970 by the system clock.
#[cfg(feature = "std")]
pub(crate) fn unix_now() -> Result<u64, TimeError> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| TimeError::SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_totp() -> Totp {
        Totp::new(
            &Secret::from_bytes(b"12345678901234567890").unwrap(),
            TotpParams::default(),
        )
    }

    #[test]
    fn the_configuration_is_kept() {
        let params = TotpParams::new(Algorithm::Sha512, Digits::SEVEN, Period::THIRTY_SECONDS);
        let totp = Totp::new(&Secret::from_bytes(&[7; 64]).unwrap(), params)
            .with_window(Window::new(2, 0));
        assert_eq!(totp.params(), params);
        assert_eq!(totp.window(), Window::new(2, 0));
    }

    #[test]
    fn now_is_read_from_the_system_clock() {
        let totp = rfc_totp();
        let since_epoch =
            |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let before = since_epoch(std::time::SystemTime::now());
        let code = totp.generate_now().unwrap();
        let after = since_epoch(std::time::SystemTime::now());
        assert!(
            code == *totp.generate_at(before).unwrap().as_str()
                || code == *totp.generate_at(after).unwrap().as_str()
        );
        assert!(
            totp.verify_now(code.as_str(), &TotpState::default())
                .is_ok()
        );
    }

    /// Two steps an even 6 to 22 apart with the same code, and no other step within 20 of
    /// either sharing it: found by search over the RFC key's steps.
    fn distant_collision(totp: &Totp) -> (u64, u64) {
        let codes: Vec<String> = (0..800_000u64)
            .map(|s| totp.generate_step(s).as_str().to_owned())
            .collect();
        let mut seen = std::collections::HashMap::new();
        let at = |t: u64| usize::try_from(t).ok().and_then(|i| codes.get(i));
        for (s, code) in (0u64..).zip(&codes) {
            if let Some(&p) = seen.get(code)
                && (6..=22).contains(&(s - p))
                && (s - p) % 2 == 0
                && p >= 40
                && (p - 20..=s + 20)
                    .filter(|&t| t != p && t != s)
                    .all(|t| at(t).is_none_or(|c| c != code))
            {
                return (p, s);
            }
            seen.insert(code.clone(), s);
        }
        panic!("no collision in the searched steps");
    }

    #[test]
    fn skew_diagnosis_reports_the_match_nearest_to_the_window() {
        let totp = rfc_totp().with_skew_diagnosis(20);
        let (early, late) = distant_collision(&totp);
        let code = totp.generate_step(early);
        assert_eq!(code, *totp.generate_step(late).as_str());
        // Nearer the late step: it is reported, not the early one.
        let current = late - 2;
        assert_eq!(
            totp.verify(code.as_str(), current * 30 + 15, &TotpState::default()),
            Err(VerifyError::ClockSkew { steps: 2 })
        );
        // Nearer the early step.
        let current = early + 2;
        assert_eq!(
            totp.verify(code.as_str(), current * 30 + 15, &TotpState::default()),
            Err(VerifyError::ClockSkew { steps: -2 })
        );
        // Halfway: the earlier step (a code from the past).
        let current = (early + late) / 2;
        let half = i64::try_from((late - early) / 2).unwrap();
        assert_eq!(
            totp.verify(code.as_str(), current * 30 + 15, &TotpState::default()),
            Err(VerifyError::ClockSkew { steps: -half })
        );
    }
}
