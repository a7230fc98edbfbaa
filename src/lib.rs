#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

// The layers, each depending only on those above it in this list:
//
//   otp   the pure core: secrets, codes, HOTP/TOTP, the window, URIs, recovery codes
//   seal  secrets at rest: keys, the key ring, sealed values            (uses otp)
//   store persistence: the record, the trait and its contract, backends (uses otp)
//   flow  the deciding layer: enrolment, login, throttling, audit        (uses otp, seal, store)
//   qr    QR codes of otpauth URIs                                       (uses otp)
//   axum  flow errors as axum responses (feature `axum`)                 (uses flow, store)
//
// `tests/it/layout.rs` checks these directions on every test run.

#[cfg(feature = "axum")]
pub mod axum;
pub mod otp;

#[cfg(feature = "std")]
pub mod flow;
#[cfg(feature = "qr")]
pub mod qr;
#[cfg(feature = "std")]
pub mod seal;
#[cfg(feature = "std")]
pub mod store;

pub use otp::{
    Algorithm, Code, CodeError, Digits, HashedRecoveryCodes, Hotp, HotpMatch, HotpParams,
    HotpState, IssuerPolicy, KdfParams, MAX_NAME_LEN, MAX_SECRET_BYTES, MAX_URI_LEN,
    MIN_IMPORT_SECRET_BYTES, MIN_SECRET_BYTES, OtpAuthUri, OtpKind, ParamError, ParseOptions,
    Period, RecoveryCode, RecoveryCodeSet, RecoveryConfig, RecoveryError, Secret, SecretError,
    TimeError, Totp, TotpMatch, TotpParams, TotpState, UriError, UriWarning, VerifyError, Window,
};

pub use otp::{
    MAX_MIGRATION_ENTRIES, MAX_MIGRATION_URI_LEN, MigrationBatch, MigrationEntryError,
    MigrationError, MigrationPayload,
};

#[cfg(feature = "std")]
pub use flow::Authenticator;
#[cfg(feature = "tracing")]
pub use flow::TracingAudit;
#[cfg(feature = "std")]
pub use flow::{
    AuditEvent, AuditSink, Clock, Confirmation, Enrollment, EnrollmentFlow, EnrollmentStatus,
    EnrollmentTicket, FactorStamp, FlowConfig, FlowError, LoginFactor, ManualClock, NoAudit,
    Reauth, RecentVerification, RecoveryStorage, Regenerated, RevealedRecoveryCode, Status,
    SystemClock, ThrottleError, ThrottlePolicy, Verified,
};
#[cfg(feature = "std")]
pub use flow::{BrowserTrusted, NextStep, Requirement, TrustToken, TrustedBrowser, TrustedLogin};
#[cfg(feature = "std")]
pub use flow::{EnrollmentImport, ImportError, Imported};
#[cfg(feature = "qr")]
pub use qr::{QUIET_ZONE, QrCode, QrError};
#[cfg(feature = "std")]
pub use seal::{EncryptionKey, KeyRing, SealError, SealedSecret};
#[cfg(feature = "mysql")]
pub use store::MySqlStore;
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
#[cfg(feature = "sqlx-postgres")]
pub use store::SqlxPostgresStore;
#[cfg(feature = "sqlx-sqlite")]
pub use store::SqlxSqliteStore;
#[cfg(feature = "std")]
pub use store::{ListFilter, MemoryStore, SecretStore, StoreError};
