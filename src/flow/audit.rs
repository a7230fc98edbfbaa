//! Audit events: what happened to whose second factor, never with a secret or a code.
//!
//! NIST SP 800-63B §6.1.2.1 asks that users be notified when an authenticator is bound, and OWASP
//! that they be told of changes and failed second-factor attempts; these events are what an
//! application hooks such notifications and its security log to.

use core::fmt;

/// One event. Carries the user id and what the application needs to act on; never a secret, a
/// code or a recovery code.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditEvent {
    /// A new secret was issued (first enrolment or a new device).
    EnrollmentStarted {
        /// The user.
        user_id: String,
        /// Whether an active factor already exists (re-enrolment on a new device).
        replacing: bool,
    },
    /// The first code confirmed the secret; 2FA is active with it.
    EnrollmentConfirmed {
        /// The user.
        user_id: String,
        /// Whether it replaced an earlier device.
        replaced: bool,
    },
    /// 2FA was turned off by the user.
    Disabled {
        /// The user.
        user_id: String,
    },
    /// A login passed the second factor with an authenticator code.
    LoginWithCode {
        /// The user.
        user_id: String,
    },
    /// A login passed the second factor with a recovery code.
    LoginWithRecoveryCode {
        /// The user.
        user_id: String,
        /// Recovery codes left.
        remaining: usize,
    },
    /// A new set of recovery codes replaced the old one.
    RecoveryCodesRegenerated {
        /// The user.
        user_id: String,
    },
    /// A wrong code or recovery code.
    FailedAttempt {
        /// The user.
        user_id: String,
        /// Consecutive failures so far.
        failures: u32,
    },
    /// A code that was already used (or an older one) was presented.
    ReplayRefused {
        /// The user.
        user_id: String,
    },
    /// A code matched only far outside the window: the device clock looks off.
    ClockSkewDetected {
        /// The user.
        user_id: String,
        /// Steps the device is off (positive: ahead).
        steps: i64,
    },
    /// An attempt was refused unchecked because of the throttling delay.
    Throttled {
        /// The user.
        user_id: String,
        /// Unix time from which the next attempt is checked.
        until: u64,
    },
    /// The account reached the failure limit and is locked.
    Locked {
        /// The user.
        user_id: String,
        /// Unix time at which the lock ends.
        until: u64,
    },
    /// An administrator removed the user's second factor.
    AdminReset {
        /// The user.
        user_id: String,
    },
    /// A request to show or confirm a pending enrolment carried no ticket, or another one (a
    /// session other than the one that began it, or a ticket replaced by beginning again). No
    /// secret was shown. (A ticket is issued with every
    /// [`AuditEvent::EnrollmentStarted`].)
    TicketRefused {
        /// The user.
        user_id: String,
    },
    /// A sensitive change was authorised by a recent-verification proof instead of a fresh code.
    StepUpUsed {
        /// The user.
        user_id: String,
    },
    /// The user's factor stamp changed (2FA turned on or off, a new device confirmed, an
    /// administrator's reset, recovery codes regenerated): end the user's other sessions.
    FactorStampChanged {
        /// The user.
        user_id: String,
    },
    /// A recovery-code login left exactly [`FlowConfig::recovery_codes_low`] unused codes
    /// (fires once, when the threshold is crossed): tell the user to regenerate.
    ///
    /// [`FlowConfig::recovery_codes_low`]: super::FlowConfig::recovery_codes_low
    RecoveryCodesLow {
        /// The user.
        user_id: String,
        /// Unused recovery codes left.
        remaining: usize,
    },
    /// Everything stored about the user's second factor was deleted (`admin_delete`).
    Erased {
        /// The user.
        user_id: String,
    },
    /// An existing enrolment was imported from another system (`import`); 2FA is active with it.
    EnrollmentImported {
        /// The user.
        user_id: String,
        /// Whether it replaced an active second factor.
        replaced: bool,
        /// Unused recovery codes imported with it.
        recovery_codes: usize,
    },
    /// The stored requirement to enrol changed (`admin_require`, `admin_set_required`).
    RequirementChanged {
        /// The user.
        user_id: String,
        /// Whether enrolment is now required.
        required: bool,
        /// Its deadline, if any.
        deadline: Option<u64>,
    },
    /// A browser was trusted after a second factor (its token is never in an event).
    BrowserTrusted {
        /// The user.
        user_id: String,
        /// The trusted browser's id (not its token).
        id: String,
    },
    /// A trusted browser skipped a login's second step.
    TrustedBrowserUsed {
        /// The user.
        user_id: String,
        /// The trusted browser's id (not its token).
        id: String,
    },
    /// A trust token was refused: unknown, revoked, expired or issued before a factor change.
    TrustedBrowserRefused {
        /// The user.
        user_id: String,
    },
    /// Trusted browsers were revoked (one, or all) by the user.
    TrustedBrowsersRevoked {
        /// The user.
        user_id: String,
        /// How many.
        count: usize,
    },
    /// Another authenticator was confirmed (its secret is never in an event).
    AuthenticatorAdded {
        /// The user.
        user_id: String,
        /// The new authenticator's id.
        id: String,
    },
    /// An authenticator was removed.
    AuthenticatorRemoved {
        /// The user.
        user_id: String,
        /// The removed authenticator's id.
        id: String,
        /// It was the primary one (the oldest other one was promoted).
        primary: bool,
    },
    /// An authenticator was renamed.
    AuthenticatorRenamed {
        /// The user.
        user_id: String,
        /// The authenticator's id.
        id: String,
    },
}

impl AuditEvent {
    /// The user the event is about.
    pub fn user_id(&self) -> &str {
        match self {
            AuditEvent::EnrollmentStarted { user_id, .. }
            | AuditEvent::EnrollmentConfirmed { user_id, .. }
            | AuditEvent::Disabled { user_id }
            | AuditEvent::LoginWithCode { user_id }
            | AuditEvent::LoginWithRecoveryCode { user_id, .. }
            | AuditEvent::RecoveryCodesRegenerated { user_id }
            | AuditEvent::FailedAttempt { user_id, .. }
            | AuditEvent::ReplayRefused { user_id }
            | AuditEvent::ClockSkewDetected { user_id, .. }
            | AuditEvent::Throttled { user_id, .. }
            | AuditEvent::Locked { user_id, .. }
            | AuditEvent::AdminReset { user_id }
            | AuditEvent::TicketRefused { user_id }
            | AuditEvent::StepUpUsed { user_id }
            | AuditEvent::FactorStampChanged { user_id }
            | AuditEvent::Erased { user_id }
            | AuditEvent::EnrollmentImported { user_id, .. }
            | AuditEvent::RequirementChanged { user_id, .. }
            | AuditEvent::BrowserTrusted { user_id, .. }
            | AuditEvent::TrustedBrowserUsed { user_id, .. }
            | AuditEvent::TrustedBrowserRefused { user_id }
            | AuditEvent::TrustedBrowsersRevoked { user_id, .. }
            | AuditEvent::AuthenticatorAdded { user_id, .. }
            | AuditEvent::AuthenticatorRemoved { user_id, .. }
            | AuditEvent::AuthenticatorRenamed { user_id, .. }
            | AuditEvent::RecoveryCodesLow { user_id, .. } => user_id,
        }
    }

    /// A short stable name (`enrollment_started`, `login_with_code`, ...), for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            AuditEvent::EnrollmentStarted { .. } => "enrollment_started",
            AuditEvent::EnrollmentConfirmed { .. } => "enrollment_confirmed",
            AuditEvent::Disabled { .. } => "disabled",
            AuditEvent::LoginWithCode { .. } => "login_with_code",
            AuditEvent::LoginWithRecoveryCode { .. } => "login_with_recovery_code",
            AuditEvent::RecoveryCodesRegenerated { .. } => "recovery_codes_regenerated",
            AuditEvent::FailedAttempt { .. } => "failed_attempt",
            AuditEvent::ReplayRefused { .. } => "replay_refused",
            AuditEvent::ClockSkewDetected { .. } => "clock_skew_detected",
            AuditEvent::Throttled { .. } => "throttled",
            AuditEvent::Locked { .. } => "locked",
            AuditEvent::AdminReset { .. } => "admin_reset",
            AuditEvent::TicketRefused { .. } => "ticket_refused",
            AuditEvent::StepUpUsed { .. } => "step_up_used",
            AuditEvent::FactorStampChanged { .. } => "factor_stamp_changed",
            AuditEvent::Erased { .. } => "erased",
            AuditEvent::EnrollmentImported { .. } => "enrollment_imported",
            AuditEvent::RequirementChanged { .. } => "requirement_changed",
            AuditEvent::BrowserTrusted { .. } => "browser_trusted",
            AuditEvent::TrustedBrowserUsed { .. } => "trusted_browser_used",
            AuditEvent::TrustedBrowserRefused { .. } => "trusted_browser_refused",
            AuditEvent::TrustedBrowsersRevoked { .. } => "trusted_browsers_revoked",
            AuditEvent::RecoveryCodesLow { .. } => "recovery_codes_low",
            AuditEvent::AuthenticatorAdded { .. } => "authenticator_added",
            AuditEvent::AuthenticatorRemoved { .. } => "authenticator_removed",
            AuditEvent::AuthenticatorRenamed { .. } => "authenticator_renamed",
        }
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} user={}", self.name(), self.user_id())?;
        match self {
            AuditEvent::EnrollmentStarted { replacing, .. } => write!(f, " replacing={replacing}"),
            AuditEvent::EnrollmentConfirmed { replaced, .. } => write!(f, " replaced={replaced}"),
            AuditEvent::EnrollmentImported {
                replaced,
                recovery_codes,
                ..
            } => write!(f, " replaced={replaced} recovery_codes={recovery_codes}"),
            AuditEvent::LoginWithRecoveryCode { remaining, .. } => {
                write!(f, " remaining={remaining}")
            }
            AuditEvent::FailedAttempt { failures, .. } => write!(f, " failures={failures}"),
            AuditEvent::ClockSkewDetected { steps, .. } => write!(f, " steps={steps}"),
            AuditEvent::RequirementChanged {
                required, deadline, ..
            } => match deadline {
                Some(deadline) => write!(f, " required={required} deadline={deadline}"),
                None => write!(f, " required={required}"),
            },
            AuditEvent::BrowserTrusted { id, .. }
            | AuditEvent::TrustedBrowserUsed { id, .. }
            | AuditEvent::AuthenticatorAdded { id, .. }
            | AuditEvent::AuthenticatorRenamed { id, .. } => write!(f, " id={id}"),
            AuditEvent::AuthenticatorRemoved { id, primary, .. } => {
                write!(f, " id={id} primary={primary}")
            }
            AuditEvent::TrustedBrowsersRevoked { count, .. } => write!(f, " count={count}"),
            AuditEvent::Throttled { until, .. } | AuditEvent::Locked { until, .. } => {
                write!(f, " until={until}")
            }
            _ => Ok(()),
        }
    }
}

/// Receives audit events. Called after the event's state change is stored; must not block for
/// long (queue slow work).
pub trait AuditSink: Send + Sync {
    /// Records one event.
    fn record(&self, event: &AuditEvent);
}

/// Discards events (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _: &AuditEvent) {}
}

/// Emits each event as a `tracing` event at INFO (failures and refusals at WARN), target
/// `twofactor::audit`.
#[cfg(feature = "tracing")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAudit;

#[cfg(feature = "tracing")]
impl AuditSink for TracingAudit {
    fn record(&self, event: &AuditEvent) {
        match event {
            AuditEvent::FailedAttempt { .. }
            | AuditEvent::ReplayRefused { .. }
            | AuditEvent::ClockSkewDetected { .. }
            | AuditEvent::Throttled { .. }
            | AuditEvent::Locked { .. }
            | AuditEvent::TrustedBrowserRefused { .. } => tracing::warn!(
                target: "twofactor::audit",
                event = event.name(),
                user_id = event.user_id(),
                "{event}"
            ),
            _ => tracing::info!(
                target: "twofactor::audit",
                event = event.name(),
                user_id = event.user_id(),
                "{event}"
            ),
        }
    }
}

impl<F: Fn(&AuditEvent) + Send + Sync> AuditSink for F {
    fn record(&self, event: &AuditEvent) {
        self(event)
    }
}
