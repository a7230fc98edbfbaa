//! The pure one-time-password core: no I/O, no storage, no clock of its own.
//!
//! | module | concept |
//! |---|---|
//! | `secret` | the shared key: generation, base32 in and out, memory hygiene |
//! | `params` | algorithm, digit count, period |
//! | `code` | a code, and how typed input is normalised into one |
//! | `hmac` | HMAC with its pads prepared once per key (the hot path) |
//! | `hotp`, `totp` | RFC 4226 and RFC 6238 generation and verification |
//! | `window` | the verification window and its constant-time scan: *where a code is judged* |
//! | `uri` | `otpauth://` URIs, built strictly and parsed leniently |
//! | `migration` | `otpauth-migration://` exports (a protobuf payload) read into URIs |
//! | `recovery` | recovery codes: generation, Argon2id hashing, checking |
//!
//! Everything here builds without `std` (with `alloc`); the `std` feature adds the operating
//! system's random generator ([`Secret::generate`], [`RecoveryCodeSet::generate`]) and the system
//! clock ([`Totp::generate_now`], [`Totp::verify_now`]).

pub(crate) mod code;
pub(crate) mod hmac;
mod hotp;
mod migration;
mod params;
pub(crate) mod recovery;
pub(crate) mod secret;
mod totp;
mod uri;
mod window;

pub use code::{Code, CodeError};
pub use hotp::{Hotp, HotpMatch, HotpParams, HotpState};
pub use migration::{
    MAX_MIGRATION_ENTRIES, MAX_MIGRATION_URI_LEN, MigrationBatch, MigrationEntryError,
    MigrationError, MigrationPayload,
};
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
pub use window::{VerifyError, Window};
