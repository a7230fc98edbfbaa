#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

// The pure core: no I/O, no storage.
mod code;
mod hmac_key;
mod hotp;
mod params;
mod recovery;
mod secret;
mod totp;
mod uri;
mod verify;

// Deciding: the enrolment flow, throttling, audit, time, and sealing secrets at rest.
mod audit;
mod clock;
mod flow;
mod seal;
mod state;
mod throttle;

// Showing: QR codes of enrolment URIs.
#[cfg(feature = "qr")]
mod qr;

// Persisting: the store trait and its backends.
pub mod store;

pub use code::{Code, CodeError};
pub use hotp::{Hotp, HotpMatch, HotpParams, HotpState};
pub use params::{Algorithm, Digits, ParamError, Period};
pub use recovery::{
    HashedRecoveryCodes, KdfParams, RecoveryCode, RecoveryCodeSet, RecoveryConfig, RecoveryError,
};
pub use secret::{
    MAX_SECRET_BYTES, MIN_IMPORT_SECRET_BYTES, MIN_SECRET_BYTES, Secret, SecretError,
};
pub use totp::{TimeError, Totp, TotpMatch, TotpParams, TotpState};
pub use uri::{
    IssuerPolicy, MAX_NAME_LEN, MAX_URI_LEN, OtpAuthUri, OtpKind, ParseOptions, UriError,
    UriWarning,
};
pub use verify::{VerifyError, Window};

#[cfg(feature = "tracing")]
pub use audit::TracingAudit;
pub use audit::{AuditEvent, AuditSink, NoAudit};
pub use clock::{Clock, ManualClock, SystemClock};
pub use flow::{
    Confirmation, Enrollment, EnrollmentFlow, EnrollmentStatus, FlowConfig, FlowError, LoginFactor,
    RecoveryStorage, RevealedRecoveryCode, Status,
};
#[cfg(feature = "qr")]
pub use qr::{QUIET_ZONE, QrCode, QrError};
pub use seal::{EncryptionKey, KeyRing, SealError, SealedSecret};
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{ListFilter, MemoryStore, SecretStore, StoreError};
pub use throttle::{ThrottleError, ThrottlePolicy};
