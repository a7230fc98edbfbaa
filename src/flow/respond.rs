//! How a [`FlowError`] reads to the person at the keyboard, for any web framework: an HTTP
//! status, a stable message key to translate, safe English text, and when to retry.
//!
//! The text never carries a cause chain, a secret or a stored value: an error of the store, the
//! key ring or the configuration reads as `internal` (status 500), and the application logs the
//! error itself (its `Display` has the cause chain) where only operators read it.

use core::time::Duration;

use super::error::FlowError;

impl FlowError {
    /// The HTTP status that fits: 401 for a refused code, 429 while throttled or locked, 409 for
    /// a request that does not fit the user's state, 403 when the second factor must be asked
    /// again, 422 for input not shaped like a code, 503 while the key-derivation queue is full
    /// ([`FlowError::Busy`]), 500 for everything the person cannot fix.
    ///
    /// ```
    /// use twofactor::FlowError;
    ///
    /// assert_eq!(FlowError::Throttled { until: 100 }.http_status(), 429);
    /// assert_eq!(FlowError::InvalidCode { retry_at: None }.http_status(), 401);
    /// assert_eq!(FlowError::Internal("rng").http_status(), 500);
    /// ```
    pub fn http_status(&self) -> u16 {
        match self {
            FlowError::InvalidCode { .. }
            | FlowError::ClockSkew { .. }
            | FlowError::StaleSession => 401,
            FlowError::ReauthRequired | FlowError::EnrollmentRequired => 403,
            FlowError::EnrollmentExpired => 410,
            FlowError::NotEnrolled
            | FlowError::AlreadyEnrolled
            | FlowError::NoPendingEnrollment
            | FlowError::CodeAlreadyUsed
            | FlowError::TooManyAuthenticators { .. }
            | FlowError::LastAuthenticator
            | FlowError::Conflict => 409,
            FlowError::UnknownAuthenticator => 404,
            FlowError::Malformed | FlowError::Import(_) => 422,
            FlowError::Throttled { .. } | FlowError::Locked { .. } => 429,
            FlowError::Busy => 503,
            FlowError::RecoveryCostOutOfBounds { .. }
            | FlowError::Config(_)
            | FlowError::Name(_)
            | FlowError::Seal(_)
            | FlowError::Store(_)
            | FlowError::Internal(_) => 500,
        }
    }

    /// A stable key for the message, for the application's translations: `invalid_code`,
    /// `clock_skew`, `throttled`, `locked`, `malformed_code`, `reauth_required`,
    /// `code_already_used`, `enrollment_required`, `not_enrolled`, `already_enrolled`, `no_pending_enrollment`,
    /// `enrollment_expired`, `too_many_authenticators`, `unknown_authenticator`,
    /// `last_authenticator`, `stale_session`, `conflict`, `busy`, `import_refused` or `internal`. Keys are never renamed;
    /// new errors get new keys.
    ///
    /// A wrong, replayed or used code all read `invalid_code`, as [`FlowError::InvalidCode`]
    /// promises; `clock_skew` is kept apart because the person can fix it (set the phone's
    /// clock), and it is counted as a failure like any wrong code.
    pub fn message_key(&self) -> &'static str {
        match self {
            FlowError::NotEnrolled => "not_enrolled",
            FlowError::AlreadyEnrolled => "already_enrolled",
            FlowError::NoPendingEnrollment => "no_pending_enrollment",
            FlowError::EnrollmentExpired => "enrollment_expired",
            FlowError::Malformed => "malformed_code",
            FlowError::InvalidCode { .. } => "invalid_code",
            FlowError::ClockSkew { .. } => "clock_skew",
            FlowError::Throttled { .. } => "throttled",
            FlowError::Locked { .. } => "locked",
            FlowError::ReauthRequired => "reauth_required",
            FlowError::EnrollmentRequired => "enrollment_required",
            FlowError::CodeAlreadyUsed => "code_already_used",
            FlowError::TooManyAuthenticators { .. } => "too_many_authenticators",
            FlowError::UnknownAuthenticator => "unknown_authenticator",
            FlowError::LastAuthenticator => "last_authenticator",
            FlowError::StaleSession => "stale_session",
            FlowError::Conflict => "conflict",
            FlowError::Busy => "busy",
            FlowError::Import(_) => "import_refused",
            FlowError::RecoveryCostOutOfBounds { .. }
            | FlowError::Config(_)
            | FlowError::Name(_)
            | FlowError::Seal(_)
            | FlowError::Store(_)
            | FlowError::Internal(_) => "internal",
        }
    }

    /// Safe default English text for [`FlowError::message_key`], fit to show as it is: no
    /// cause, no stored value, no secret.
    pub fn user_message(&self) -> &'static str {
        match self.message_key() {
            "not_enrolled" => "Two-factor authentication is not enabled.",
            "already_enrolled" => "Two-factor authentication is already enabled.",
            "no_pending_enrollment" => "No set-up is in progress. Start again.",
            "enrollment_expired" => "The set-up expired. Start again.",
            "malformed_code" => "Enter the code from your authenticator app or a recovery code.",
            "invalid_code" => "That code is not valid.",
            "clock_skew" => {
                "That code is not valid. Check that your phone's clock is set automatically."
            }
            "throttled" => "Too many attempts. Wait a moment and try again.",
            "locked" => "Too many failed attempts. Try again later.",
            "reauth_required" => {
                "Confirm with a code from your authenticator app or a recovery code."
            }
            "code_already_used" => "That code was just used. Wait for the next one.",
            "enrollment_required" => "Two-factor authentication is required for this account.",
            "too_many_authenticators" => {
                "You have as many authenticators as allowed. Remove one first."
            }
            "unknown_authenticator" => "That authenticator was not found.",
            "last_authenticator" => {
                "Your only authenticator cannot be removed. Turn two-factor authentication off instead."
            }
            "stale_session" => "Your session has ended. Log in again.",
            "conflict" => "Something changed at the same time. Try again.",
            "busy" => "We are checking many codes right now. Try again in a moment.",
            "import_refused" => "The imported enrolment was refused.",
            _ => "Something went wrong on our side. Try again later.",
        }
    }

    /// How long until the next attempt is checked, counted from `now` (Unix seconds), for a
    /// `Retry-After` header: set for [`FlowError::Throttled`], [`FlowError::Locked`] and an
    /// [`FlowError::InvalidCode`] that started a delay, and one second for [`FlowError::Busy`];
    /// `None` otherwise or once that time has come.
    ///
    /// ```
    /// use std::time::Duration;
    /// use twofactor::FlowError;
    ///
    /// let e = FlowError::Locked { until: 1_000 };
    /// assert_eq!(e.retry_after(940), Some(Duration::from_secs(60)));
    /// assert_eq!(e.retry_after(1_000), None);
    /// assert_eq!(FlowError::InvalidCode { retry_at: None }.retry_after(0), None);
    /// ```
    pub fn retry_after(&self, now: u64) -> Option<Duration> {
        let at = match self {
            FlowError::Throttled { until } | FlowError::Locked { until } => *until,
            FlowError::InvalidCode { retry_at: Some(at) } => *at,
            FlowError::Busy => return Some(Duration::from_secs(1)),
            _ => return None,
        };
        at.checked_sub(now)
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    fn every_variant() -> Vec<FlowError> {
        vec![
            FlowError::NotEnrolled,
            FlowError::AlreadyEnrolled,
            FlowError::NoPendingEnrollment,
            FlowError::EnrollmentExpired,
            FlowError::Malformed,
            FlowError::InvalidCode { retry_at: Some(9) },
            FlowError::ClockSkew { steps: 3 },
            FlowError::Throttled { until: 9 },
            FlowError::Locked { until: 9 },
            FlowError::ReauthRequired,
            FlowError::EnrollmentRequired,
            FlowError::CodeAlreadyUsed,
            FlowError::RecoveryCostOutOfBounds {
                memory_kib: 1,
                iterations: 1,
                parallelism: 1,
            },
            FlowError::TooManyAuthenticators { max: 5 },
            FlowError::UnknownAuthenticator,
            FlowError::LastAuthenticator,
            FlowError::StaleSession,
            FlowError::Conflict,
            FlowError::Busy,
            FlowError::Config("x"),
            FlowError::Store(StoreError::Corrupt("state")),
            FlowError::Internal("rng"),
            FlowError::Import(super::super::ImportError::Hotp),
        ]
    }

    #[test]
    fn every_key_has_its_own_text_and_internal_errors_say_nothing() {
        let mut keys = std::collections::BTreeMap::new();
        for e in every_variant() {
            let (key, text) = (e.message_key(), e.user_message());
            if let Some(seen) = keys.insert(key, text) {
                assert_eq!(seen, text, "{key}");
            }
            if e.http_status() == 500 {
                assert_eq!(key, "internal", "{e:?}");
                assert!(!text.contains("state") && !text.contains("rng"));
            } else {
                assert!(!text.starts_with("Something went wrong"), "{key}");
            }
        }
        assert_eq!(keys.len(), 20);
    }

    #[test]
    fn retry_after_counts_from_now() {
        assert_eq!(
            FlowError::Throttled { until: 30 }.retry_after(10),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            FlowError::InvalidCode { retry_at: Some(5) }.retry_after(4),
            Some(Duration::from_secs(1))
        );
        assert_eq!(FlowError::Throttled { until: 30 }.retry_after(31), None);
        assert_eq!(FlowError::ClockSkew { steps: 2 }.retry_after(0), None);
        assert_eq!(FlowError::Busy.retry_after(0), Some(Duration::from_secs(1)));
    }
}
