//! What flow operations return: begun enrolments, confirmations, login factors, status.

use super::tokens::{EnrollmentTicket, FactorStamp};
use super::trust::TrustedLogin;
use zeroize::Zeroizing;

use crate::otp::{OtpAuthUri, RecoveryCodeSet};

/// A begun enrolment: what the user needs to add the account to an authenticator app.
///
/// Holds the secret; show it only to the user enrolling.
#[derive(Debug)]
pub struct Enrollment {
    pub(super) uri: OtpAuthUri,
    pub(super) expires_at: u64,
    pub(super) replacing: bool,
    pub(super) ticket: EnrollmentTicket,
}

impl Enrollment {
    /// The otpauth URI (render it as a QR code).
    pub fn uri(&self) -> &OtpAuthUri {
        &self.uri
    }

    /// The URI text. **Security:** contains the secret.
    pub fn expose_uri(&self) -> Zeroizing<String> {
        self.uri.expose_uri()
    }

    /// The secret in groups of four, for typing by hand. **Security:** the secret itself.
    pub fn expose_manual_key(&self) -> Zeroizing<String> {
        self.uri.secret().expose_base32_grouped()
    }

    /// Unix time after which the enrolment can no longer be confirmed.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Whether this replaces an active device (which keeps working until confirmation).
    pub fn is_replacement(&self) -> bool {
        self.replacing
    }

    /// The ticket to keep in the session that began this enrolment: showing it again
    /// ([`EnrollmentFlow::resume`](super::EnrollmentFlow::resume)) and confirming it
    /// ([`EnrollmentFlow::confirm`](super::EnrollmentFlow::confirm)) require it.
    pub fn ticket(&self) -> &EnrollmentTicket {
        &self.ticket
    }
}

/// The result of a confirmation.
#[derive(Debug)]
pub struct Confirmation {
    pub(super) recovery_codes: Option<RecoveryCodeSet>,
    pub(super) replaced_device: bool,
    pub(super) stamp: FactorStamp,
    pub(super) added: Option<super::Authenticator>,
}

impl Confirmation {
    /// The authenticator this confirmation added
    /// ([`EnrollmentFlow::begin_add_authenticator`](super::EnrollmentFlow::begin_add_authenticator)),
    /// if it was an addition.
    pub fn added_authenticator(&self) -> Option<&super::Authenticator> {
        self.added.as_ref()
    }

    /// The new recovery codes, to show once: on a first enrolment. A new device keeps the
    /// existing codes, and this is `None`.
    pub fn recovery_codes(&self) -> Option<&RecoveryCodeSet> {
        self.recovery_codes.as_ref()
    }

    /// Takes the recovery codes out.
    pub fn into_recovery_codes(self) -> Option<RecoveryCodeSet> {
        self.recovery_codes
    }

    /// Whether an earlier device was replaced.
    pub fn replaced_device(&self) -> bool {
        self.replaced_device
    }

    /// The user's new factor stamp: sessions holding another one are stale.
    pub fn stamp(&self) -> FactorStamp {
        self.stamp
    }
}

/// Recovery codes regenerated behind a fresh factor or a recent verification.
#[derive(Debug)]
#[non_exhaustive]
pub struct Regenerated {
    /// The new set, to show once.
    pub codes: RecoveryCodeSet,
    /// The user's new factor stamp.
    pub stamp: FactorStamp,
}

/// A recovery code read back with [`EnrollmentFlow::reveal_recovery_codes`](super::EnrollmentFlow::reveal_recovery_codes). `Debug` is
/// redacted.
pub struct RevealedRecoveryCode {
    pub(super) code: Zeroizing<String>,
    pub(super) used: bool,
}

impl core::fmt::Debug for RevealedRecoveryCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RevealedRecoveryCode")
            .field("code", &"[redacted]")
            .field("used", &self.used)
            .finish()
    }
}

impl RevealedRecoveryCode {
    /// The code as shown at issue (`XXXX-XXXX-XXXX-XXXX`). **Security:** a full second factor.
    pub fn expose(&self) -> &str {
        &self.code
    }

    /// Whether it was already used.
    pub fn is_used(&self) -> bool {
        self.used
    }
}

/// Which second factor passed a login.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginFactor {
    /// An authenticator code.
    Code,
    /// A recovery code; `remaining` are left.
    RecoveryCode {
        /// Unused recovery codes left.
        remaining: usize,
    },
}

/// Where a user is in the life cycle.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnrollmentStatus {
    /// No second factor.
    NotEnrolled,
    /// A secret was issued and awaits its first code.
    Pending {
        /// When the enrolment began.
        since: u64,
        /// When the enrolment stops being confirmable.
        expires_at: u64,
    },
    /// 2FA is on.
    Active {
        /// When the current device was confirmed.
        since: u64,
        /// A new device was begun and awaits confirmation.
        replacement_pending: bool,
    },
}

/// A user's 2FA status, never with a secret.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Status {
    /// The user.
    pub user_id: String,
    /// Life-cycle state.
    pub enrollment: EnrollmentStatus,
    /// The application (or an administrator) requires this user to enrol: now, or by
    /// [`Status::required_by`].
    pub required: bool,
    /// The deadline of a required enrolment, if it has one (see [`Requirement::By`]).
    pub required_by: Option<u64>,
    /// Last successful use of the second factor.
    pub last_used_at: Option<u64>,
    /// Unused recovery codes (when active; `None` also when the stored set is refused, see
    /// [`FlowError::RecoveryCostOutOfBounds`](super::FlowError::RecoveryCostOutOfBounds)).
    pub recovery_codes_left: Option<usize>,
    /// Consecutive failed attempts.
    pub failures: u32,
    /// Until when attempts are refused unchecked, if now.
    pub locked_until: Option<u64>,
    /// Changes whenever the user's factors change; sessions holding another value are stale.
    pub factor_stamp: FactorStamp,
    /// 2FA is active and at most [`FlowConfig::recovery_codes_low`](super::FlowConfig) unused
    /// recovery codes remain: show a banner, or require regeneration.
    pub recovery_codes_low: bool,
}

impl Status {
    /// Whether 2FA is on.
    pub fn is_active(&self) -> bool {
        matches!(self.enrollment, EnrollmentStatus::Active { .. })
    }

    /// The stored per-user requirement ([`Status::required`] with [`Status::required_by`]).
    pub fn requirement(&self) -> Requirement {
        match (self.required, self.required_by) {
            (false, _) => Requirement::Off,
            (true, None) => Requirement::Now,
            (true, Some(deadline)) => Requirement::By(deadline),
        }
    }
}

/// Whether a user must enrol: stored per user by
/// [`admin_require`](super::EnrollmentFlow::admin_require), or computed by the application (a
/// group or role policy) and passed to [`next_step`](super::EnrollmentFlow::next_step).
///
/// When both exist **the stricter wins**: `Now` over any deadline, an earlier deadline over a
/// later one, any deadline over `Off` ([`Requirement::stricter`]). An application policy can so
/// tighten a user's requirement but never relax one an administrator set; to relax it, clear the
/// stored one.
///
/// ```
/// use twofactor::flow::Requirement;
///
/// assert_eq!(Requirement::Off.stricter(Requirement::By(100)), Requirement::By(100));
/// assert_eq!(Requirement::By(200).stricter(Requirement::By(100)), Requirement::By(100));
/// assert_eq!(Requirement::By(100).stricter(Requirement::Now), Requirement::Now);
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Requirement {
    /// Not required: enrolment is the user's choice.
    #[default]
    Off,
    /// Required from this Unix time on; until then the user may set it up later (a grace
    /// period: show a banner).
    By(u64),
    /// Required now: the password step leads only to enrolment.
    Now,
}

impl Requirement {
    /// The stricter of two requirements (see [`Requirement`]).
    #[must_use]
    pub fn stricter(self, other: Requirement) -> Requirement {
        match (self, other) {
            (Requirement::Now, _) | (_, Requirement::Now) => Requirement::Now,
            (Requirement::By(a), Requirement::By(b)) => Requirement::By(a.min(b)),
            (Requirement::By(a), Requirement::Off) | (Requirement::Off, Requirement::By(a)) => {
                Requirement::By(a)
            }
            (Requirement::Off, Requirement::Off) => Requirement::Off,
        }
    }

    /// Whether enrolment is required at `now` (`Now`, or a deadline reached).
    pub fn is_due(self, now: u64) -> bool {
        match self {
            Requirement::Off => false,
            Requirement::By(deadline) => now >= deadline,
            Requirement::Now => true,
        }
    }
}

/// What the application does after the password step, from
/// [`next_step`](super::EnrollmentFlow::next_step).
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum NextStep {
    /// No second factor and none required: the login is complete.
    Continue,
    /// 2FA is active: ask for a code or a recovery code ([`verify`](super::EnrollmentFlow::verify)).
    SecondFactor,
    /// 2FA is active and the browser's trust token is valid: the login is complete without a
    /// second step (and without a [`RecentVerification`](super::RecentVerification): sensitive
    /// changes still ask for a code).
    Trusted(TrustedLogin),
    /// Not enrolled, and required by `deadline`: the login is complete, and the application
    /// offers enrolment ("set up now" or "later", with the deadline shown).
    OfferEnrollment {
        /// Unix time from which enrolment is required.
        deadline: u64,
    },
    /// Not enrolled, and required now (or the deadline passed): the session may only enrol
    /// ([`begin`](super::EnrollmentFlow::begin), then [`confirm`](super::EnrollmentFlow::confirm))
    /// before the login completes.
    RequireEnrollment,
}
