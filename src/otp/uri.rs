//! otpauth:// URIs (the Key Uri Format): build and parse.
//!
//! `otpauth://TYPE/LABEL?PARAMETERS`, with `TYPE` `totp` or `hotp`, `LABEL` `issuer:account` or
//! `account`, and the parameters `secret`, `issuer`, `algorithm`, `digits`, `period`, `counter`.
//!
//! Building is strict: it emits what every authenticator app reads correctly (`secret` first, the
//! issuer both as label prefix and parameter, `%20` for spaces, no `:` inside issuer or account).
//! Parsing is lenient with what real URIs contain, and typed in what it refuses. Parameter names
//! are percent-decoded before they are matched (RFC 3986 §2.3, §6.2.2.2: `%73ecret` is `secret`),
//! so no URI can carry a parameter that one reader sees and another does not.

use alloc::borrow::ToOwned;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use zeroize::Zeroizing;

use super::secret::SecretError;
use super::{Algorithm, Digits, Hotp, HotpParams, ParamError, Period, Secret, Totp, TotpParams};

/// Longest URI [`OtpAuthUri::parse`] looks at.
pub const MAX_URI_LEN: usize = 4096;
/// Longest issuer or account name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Longest parameter name or value quoted in a [`UriWarning`] or [`UriError`], in characters.
const MAX_QUOTED_CHARS: usize = 64;

/// Everything percent-encoded except the RFC 3986 unreserved characters and `@` (kept readable in
/// e-mail addresses; it is legal in both paths and queries).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// Why a URI was refused, or could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// Longer than [`MAX_URI_LEN`], or a name longer than [`MAX_NAME_LEN`].
    #[error("the URI or one of its names is too long")]
    TooLong,
    /// Not an `otpauth://` URI.
    #[error("not an otpauth:// URI")]
    Scheme,
    /// The type is neither `totp` nor `hotp`.
    #[error("the OTP type must be totp or hotp")]
    Type,
    /// A percent-escape is malformed or the decoded text is not UTF-8, in the label, a parameter
    /// name or a parameter value.
    #[error("malformed percent-encoding")]
    Encoding,
    /// The label has more than one `:`, the `issuer` parameter contains `:`, or a name has a
    /// control character.
    #[error("malformed label (issuer and account may not contain ':')")]
    Label,
    /// An issuer or account given to the builder contains `:` or a control character, or the
    /// account is empty.
    #[error("issuer and account must be non-empty and may not contain ':' or control characters")]
    Name,
    /// A parameter appears twice (names are compared after percent-decoding and ignoring case,
    /// so `secret` and `%73ecret` are the same parameter).
    #[error("parameter `{0}` appears more than once")]
    DuplicateParameter(&'static str),
    /// A parameter that changes how codes are computed, which this crate does not implement (such
    /// as `encoder=steam`, Steam Guard's five-character codes): accepting it as ordinary TOTP
    /// would produce wrong codes. Any value of `encoder` is refused, even an empty one.
    #[error("parameter `{parameter}={value}` changes how codes are computed and is not supported")]
    UnsupportedEncoding {
        /// The parameter's name, lower case (`encoder`).
        parameter: &'static str,
        /// Its percent-decoded value, without control characters, at most 64 characters.
        value: String,
    },
    /// No `secret` parameter.
    #[error("the secret parameter is missing")]
    MissingSecret,
    /// The secret is not valid base32, or too short or too long.
    #[error("invalid secret: {0}")]
    Secret(#[from] SecretError),
    /// `algorithm`, `digits` or `period` is out of range.
    #[error("invalid parameter: {0}")]
    Param(#[from] ParamError),
    /// An `hotp` URI without `counter`.
    #[error("an hotp URI requires a counter parameter")]
    MissingCounter,
    /// `counter` is not an unsigned 64-bit integer.
    #[error("the counter parameter is not a valid number")]
    Counter,
    /// The label's issuer prefix and the `issuer` parameter differ (strict policy only).
    #[error("the label's issuer and the issuer parameter differ")]
    IssuerMismatch,
}

/// What to do when the label's issuer prefix and the `issuer` parameter differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IssuerPolicy {
    /// Refuse with [`UriError::IssuerMismatch`].
    Strict,
    /// Prefer the parameter, as the Key Uri Format says apps should, and record a
    /// [`UriWarning::IssuerMismatch`] (the default).
    #[default]
    Lenient,
}

/// How [`OtpAuthUri::parse_with`] treats the lenient cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParseOptions {
    /// Conflicting issuers.
    pub issuer_policy: IssuerPolicy,
    /// Accept secrets from 80 bits (what some large providers issue) instead of 128, with a
    /// [`UriWarning::ShortSecret`]. On by default, as parsing is how existing enrolments are
    /// imported.
    pub allow_80_bit_secrets: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            issuer_policy: IssuerPolicy::Lenient,
            allow_80_bit_secrets: true,
        }
    }
}

/// TOTP or HOTP, with the parameter only that type has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtpKind {
    /// Time-based, with its period.
    Totp {
        /// The time step.
        period: Period,
    },
    /// Counter-based, with the device's initial counter.
    Hotp {
        /// The counter the device starts at.
        counter: u64,
    },
}

/// Something about a URI that works against some authenticator apps or that parsing tolerated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UriWarning {
    /// Not SHA-1: several popular apps ignore `algorithm` and would produce wrong codes.
    Algorithm(Algorithm),
    /// Not 6 digits: several popular apps ignore `digits`.
    Digits(Digits),
    /// Not 30 seconds: several popular apps ignore `period`.
    Period(Period),
    /// HOTP: fewer apps support it than TOTP, and it needs counter resynchronisation.
    Hotp,
    /// A secret under 128 bits (accepted only on import).
    ShortSecret {
        /// Its length in bits.
        bits: usize,
    },
    /// No issuer: the app shows only the account name.
    MissingIssuer,
    /// The label's issuer and the parameter differed; the parameter was used.
    IssuerMismatch,
    /// A parameter this crate does not know was ignored (such as `image` or `color`); its name
    /// percent-decoded, at most 64 characters.
    UnknownParameter(String),
    /// The account name is empty (`otpauth://totp/ACME:?secret=...`, or no label at all): the
    /// app shows only the issuer, and two such enrolments cannot be told apart. The builder
    /// refuses empty names; parsing tolerates them.
    EmptyAccountName,
}

impl fmt::Display for UriWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriWarning::Algorithm(a) => write!(
                f,
                "algorithm {a} is ignored by some authenticator apps, which then show wrong codes; SHA1 is the compatible choice"
            ),
            UriWarning::Digits(d) => write!(
                f,
                "{d} digits are ignored by some authenticator apps, which then show wrong codes; 6 is the compatible choice"
            ),
            UriWarning::Period(p) => write!(
                f,
                "a {p} s period is ignored by some authenticator apps, which then show wrong codes; 30 is the compatible choice"
            ),
            UriWarning::Hotp => f.write_str(
                "HOTP is supported by fewer authenticator apps than TOTP and needs counter resynchronisation",
            ),
            UriWarning::ShortSecret { bits } => write!(
                f,
                "the secret has only {bits} bits; at least 128 are required for new enrolments"
            ),
            UriWarning::MissingIssuer => {
                f.write_str("no issuer: apps will show only the account name")
            }
            UriWarning::IssuerMismatch => f.write_str(
                "the label's issuer differs from the issuer parameter; the parameter was used",
            ),
            UriWarning::UnknownParameter(name) => write!(f, "unknown parameter `{name}` ignored"),
            UriWarning::EmptyAccountName => f.write_str(
                "the account name is empty: apps will show only the issuer, and such enrolments cannot be told apart",
            ),
        }
    }
}

/// An otpauth:// URI: everything an authenticator app needs to produce codes.
///
/// Holds the secret, so `Debug` redacts it and the URI text is reached only through
/// [`OtpAuthUri::expose_uri`].
///
/// ```
/// use twofactor::{OtpAuthUri, Secret};
///
/// let secret = Secret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")?;
/// let uri = OtpAuthUri::totp(secret, "alice@example.com")?.with_issuer("Example Co")?;
/// assert_eq!(
///     &*uri.expose_uri(),
///     "otpauth://totp/Example%20Co:alice@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\
///      &issuer=Example%20Co&algorithm=SHA1&digits=6&period=30"
/// );
/// assert!(uri.warnings().is_empty());
///
/// let parsed = OtpAuthUri::parse(&uri.expose_uri())?;
/// assert_eq!(parsed, uri);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct OtpAuthUri {
    kind: OtpKind,
    issuer: Option<String>,
    account: String,
    secret: Secret,
    algorithm: Algorithm,
    digits: Digits,
    /// Notes from parsing (tolerated issues); empty for built URIs.
    notes: Vec<UriWarning>,
}

impl OtpAuthUri {
    /// A TOTP URI with the compatible defaults (SHA-1, 6 digits, 30 s).
    ///
    /// # Errors
    /// [`UriError::Name`] if `account` is empty or contains `:` or a control character;
    /// [`UriError::TooLong`].
    pub fn totp(secret: Secret, account: &str) -> Result<OtpAuthUri, UriError> {
        OtpAuthUri::new(
            OtpKind::Totp {
                period: Period::default(),
            },
            secret,
            account,
        )
    }

    /// An HOTP URI whose device starts at `counter`.
    ///
    /// # Errors
    /// As [`OtpAuthUri::totp`].
    pub fn hotp(secret: Secret, account: &str, counter: u64) -> Result<OtpAuthUri, UriError> {
        OtpAuthUri::new(OtpKind::Hotp { counter }, secret, account)
    }

    fn new(kind: OtpKind, secret: Secret, account: &str) -> Result<OtpAuthUri, UriError> {
        check_name(account)?;
        Ok(OtpAuthUri {
            kind,
            issuer: None,
            account: account.to_owned(),
            secret,
            algorithm: Algorithm::default(),
            digits: Digits::default(),
            notes: Vec::new(),
        })
    }

    /// Sets the issuer (the service name the app shows), used both as label prefix and as the
    /// `issuer` parameter.
    ///
    /// # Errors
    /// [`UriError::Name`] if it is empty or contains `:` or a control character;
    /// [`UriError::TooLong`].
    pub fn with_issuer(mut self, issuer: &str) -> Result<OtpAuthUri, UriError> {
        check_name(issuer)?;
        self.issuer = Some(issuer.to_owned());
        Ok(self)
    }

    /// Sets the algorithm (see [`UriWarning::Algorithm`] before choosing other than SHA-1).
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> OtpAuthUri {
        self.algorithm = algorithm;
        self
    }

    /// Sets the number of digits (see [`UriWarning::Digits`]).
    pub fn with_digits(mut self, digits: Digits) -> OtpAuthUri {
        self.digits = digits;
        self
    }

    /// Sets the TOTP period (see [`UriWarning::Period`]); no effect on an HOTP URI.
    pub fn with_period(mut self, period: Period) -> OtpAuthUri {
        if let OtpKind::Totp { .. } = self.kind {
            self.kind = OtpKind::Totp { period };
        }
        self
    }

    /// Parses a URI with [`ParseOptions::default`] (lenient issuers, 80-bit secrets accepted).
    ///
    /// # Errors
    /// A [`UriError`] naming what is wrong. Never panics, whatever the input.
    pub fn parse(text: &str) -> Result<OtpAuthUri, UriError> {
        OtpAuthUri::parse_with(text, ParseOptions::default())
    }

    /// Parses a URI.
    ///
    /// Tolerated: any case in scheme, type, parameter names and algorithm (`sha256`, `SHA-1`);
    /// percent-encoded parameter names (decoded before matching, RFC 3986 §2.3, §6.2.2.2); `%3A`
    /// for the label colon and spaces after it; a label without issuer, or no label at all, or an
    /// empty account name (recorded as [`UriWarning::EmptyAccountName`]); a padded, lower-case or
    /// spaced secret; `+` for spaces in parameter values; unknown parameters (recorded as
    /// warnings); a `period` on an HOTP URI (ignored).
    ///
    /// Refused, among others: a parameter given twice, however its name is spelled or encoded
    /// ([`UriError::DuplicateParameter`]); an `encoder` parameter, whatever its value
    /// ([`UriError::UnsupportedEncoding`]).
    ///
    /// # Errors
    /// A [`UriError`] naming what is wrong. Never panics, whatever the input.
    pub fn parse_with(text: &str, options: ParseOptions) -> Result<OtpAuthUri, UriError> {
        if text.len() > MAX_URI_LEN {
            return Err(UriError::TooLong);
        }
        let text = text.trim();
        let rest = strip_prefix_ignore_case(text, "otpauth://").ok_or(UriError::Scheme)?;
        // The type ends at the label's `/`, or at `?` when a URI has no label at all.
        let type_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (kind_text, rest) = rest.split_at(type_end);
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let is_totp = if kind_text.eq_ignore_ascii_case("totp") {
            true
        } else if kind_text.eq_ignore_ascii_case("hotp") {
            false
        } else {
            return Err(UriError::Type);
        };
        let (label, query) = rest.split_once('?').unwrap_or((rest, ""));
        let query = query.split_once('#').map_or(query, |(q, _)| q);
        let (label_issuer, account) = parse_label(label)?;

        let mut params = RawParams::default();
        let mut notes = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            // Names are matched decoded (RFC 3986 §2.3, §6.2.2.2): `%73ecret` is `secret`, and
            // then a second `secret`. `+` stays literal in names, as before.
            let name = decode(name, false)?;
            if !params.set(&name, value)? {
                let name: String = name.chars().take(MAX_QUOTED_CHARS).collect();
                notes.push(UriWarning::UnknownParameter(name));
            }
        }
        // Before anything else is read from the parameters: the codes would be wrong whatever
        // else the URI says.
        if let Some(raw) = params.encoder {
            let value = decode(raw, true)?
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_QUOTED_CHARS)
                .collect();
            return Err(UriError::UnsupportedEncoding {
                parameter: "encoder",
                value,
            });
        }

        let secret_text =
            Zeroizing::new(decode(params.secret.ok_or(UriError::MissingSecret)?, true)?);
        let secret = if options.allow_80_bit_secrets {
            Secret::danger_from_base32_allow_80_bit(&secret_text)?
        } else {
            Secret::from_base32(&secret_text)?
        };

        let issuer_param = match params.issuer {
            Some(raw) => {
                let issuer = decode(raw, true)?;
                check_parsed_name(&issuer)?;
                // The issuer also goes in the label, where a colon would split it.
                if issuer.contains(':') {
                    return Err(UriError::Label);
                }
                Some(issuer.trim().to_owned()).filter(|s| !s.is_empty())
            }
            None => None,
        };
        let issuer = match (label_issuer, issuer_param) {
            (Some(label), Some(param)) if label != param => match options.issuer_policy {
                IssuerPolicy::Strict => return Err(UriError::IssuerMismatch),
                IssuerPolicy::Lenient => {
                    notes.push(UriWarning::IssuerMismatch);
                    Some(param)
                }
            },
            (label, param) => param.or(label),
        };

        let algorithm = match params.algorithm {
            Some(v) => Algorithm::from_str(&decode(v, true)?)?,
            None => Algorithm::default(),
        };
        let digits = match params.digits {
            Some(v) => Digits::from_str(&decode(v, true)?)?,
            None => Digits::default(),
        };
        let kind = if is_totp {
            let period = match params.period {
                Some(v) => Period::from_str(&decode(v, true)?)?,
                None => Period::default(),
            };
            OtpKind::Totp { period }
        } else {
            let counter = params.counter.ok_or(UriError::MissingCounter)?;
            let counter = decode(counter, true)?
                .trim()
                .parse::<u64>()
                .map_err(|_| UriError::Counter)?;
            OtpKind::Hotp { counter }
        };
        Ok(OtpAuthUri {
            kind,
            issuer,
            account,
            secret,
            algorithm,
            digits,
            notes,
        })
    }

    /// The URI text, with the secret in it (zeroized when dropped).
    ///
    /// `secret` comes first (one major app requires it), the issuer is both the label prefix and
    /// a parameter, every parameter is explicit, and names are percent-encoded with `%20` for
    /// spaces.
    ///
    /// **Security:** this carries the secret. Show it only to the user enrolling (as a QR code),
    /// never log it.
    pub fn expose_uri(&self) -> Zeroizing<String> {
        // Sized up front (names may triple when percent-encoded): growing would free buffers
        // that still hold the secret.
        let names = self.issuer.as_ref().map_or(0, String::len) * 2 + self.account.len();
        let mut out = Zeroizing::new(String::with_capacity(
            128 + names * 3 + self.secret.len() * 8 / 5 + 8,
        ));
        out.push_str("otpauth://");
        out.push_str(match self.kind {
            OtpKind::Totp { .. } => "totp/",
            OtpKind::Hotp { .. } => "hotp/",
        });
        if let Some(issuer) = &self.issuer {
            out.extend(utf8_percent_encode(issuer, COMPONENT));
            out.push(':');
        }
        out.extend(utf8_percent_encode(&self.account, COMPONENT));
        out.push_str("?secret=");
        out.push_str(&self.secret.expose_base32());
        if let Some(issuer) = &self.issuer {
            out.push_str("&issuer=");
            out.extend(utf8_percent_encode(issuer, COMPONENT));
        }
        out.push_str("&algorithm=");
        out.push_str(self.algorithm.as_str());
        out.push_str("&digits=");
        out.push_str(&self.digits.to_string());
        match self.kind {
            OtpKind::Totp { period } => {
                out.push_str("&period=");
                out.push_str(&period.to_string());
            }
            OtpKind::Hotp { counter } => {
                out.push_str("&counter=");
                out.push_str(&counter.to_string());
            }
        }
        out
    }

    /// Whether the settings are safe for the common authenticator apps, and anything parsing
    /// tolerated. Empty means SHA-1, 6 digits, 30 s TOTP with an issuer, an account name and a
    /// full-length secret.
    pub fn warnings(&self) -> Vec<UriWarning> {
        let mut out = Vec::new();
        if self.algorithm != Algorithm::Sha1 {
            out.push(UriWarning::Algorithm(self.algorithm));
        }
        if self.digits != Digits::SIX {
            out.push(UriWarning::Digits(self.digits));
        }
        match self.kind {
            OtpKind::Totp { period } if period != Period::THIRTY_SECONDS => {
                out.push(UriWarning::Period(period));
            }
            OtpKind::Totp { .. } => {}
            OtpKind::Hotp { .. } => out.push(UriWarning::Hotp),
        }
        if self.secret.len() < super::secret::MIN_SECRET_BYTES {
            out.push(UriWarning::ShortSecret {
                bits: self.secret.bits(),
            });
        }
        if self.issuer.is_none() {
            out.push(UriWarning::MissingIssuer);
        }
        // Only parsed URIs get here: the builder refuses empty names.
        if self.account.is_empty() {
            out.push(UriWarning::EmptyAccountName);
        }
        out.extend(self.notes.iter().cloned());
        out
    }

    /// TOTP or HOTP, with the period or initial counter.
    pub fn kind(&self) -> OtpKind {
        self.kind
    }

    /// The issuer, if any.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The account name (empty if a parsed URI had none: see [`UriWarning::EmptyAccountName`]).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The secret.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The number of digits.
    pub fn digits(&self) -> Digits {
        self.digits
    }

    /// A TOTP verifier for this URI (epoch 0), or `None` for an HOTP URI.
    pub fn to_totp(&self) -> Option<Totp> {
        match self.kind {
            OtpKind::Totp { period } => Some(Totp::new(
                &self.secret,
                TotpParams {
                    algorithm: self.algorithm,
                    digits: self.digits,
                    period,
                    epoch: 0,
                },
            )),
            OtpKind::Hotp { .. } => None,
        }
    }

    /// An HOTP verifier for this URI, or `None` for a TOTP URI.
    pub fn to_hotp(&self) -> Option<Hotp> {
        match self.kind {
            OtpKind::Hotp { .. } => Some(Hotp::new(
                &self.secret,
                HotpParams {
                    algorithm: self.algorithm,
                    digits: self.digits,
                },
            )),
            OtpKind::Totp { .. } => None,
        }
    }
}

impl fmt::Debug for OtpAuthUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpAuthUri")
            .field("kind", &self.kind)
            .field("issuer", &self.issuer)
            .field("account", &self.account)
            .field("secret", &self.secret)
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .finish_non_exhaustive()
    }
}

/// Raw (still encoded) values of the known parameters, and of those refused when present.
#[derive(Default)]
struct RawParams<'a> {
    secret: Option<&'a str>,
    issuer: Option<&'a str>,
    algorithm: Option<&'a str>,
    digits: Option<&'a str>,
    period: Option<&'a str>,
    counter: Option<&'a str>,
    /// Changes how codes are computed (KeePassXC writes `encoder=steam`): refused.
    encoder: Option<&'a str>,
}

impl<'a> RawParams<'a> {
    /// Records a known parameter by its percent-decoded `name`; `Ok(false)` for an unknown one.
    fn set(&mut self, name: &str, value: &'a str) -> Result<bool, UriError> {
        let (slot, label) = if name.eq_ignore_ascii_case("secret") {
            (&mut self.secret, "secret")
        } else if name.eq_ignore_ascii_case("issuer") {
            (&mut self.issuer, "issuer")
        } else if name.eq_ignore_ascii_case("algorithm") {
            (&mut self.algorithm, "algorithm")
        } else if name.eq_ignore_ascii_case("digits") {
            (&mut self.digits, "digits")
        } else if name.eq_ignore_ascii_case("period") {
            (&mut self.period, "period")
        } else if name.eq_ignore_ascii_case("counter") {
            (&mut self.counter, "counter")
        } else if name.eq_ignore_ascii_case("encoder") {
            (&mut self.encoder, "encoder")
        } else {
            return Ok(false);
        };
        if slot.replace(value).is_some() {
            return Err(UriError::DuplicateParameter(label));
        }
        Ok(true)
    }
}

/// Splits a label into (issuer, account) after percent-decoding (so `%3A` separates too).
fn parse_label(label: &str) -> Result<(Option<String>, String), UriError> {
    let decoded = decode(label, false)?;
    if decoded.chars().any(char::is_control) {
        return Err(UriError::Label);
    }
    let (issuer, account) = match decoded.split_once(':') {
        Some((issuer, account)) => (Some(issuer.trim().to_owned()), account.trim().to_owned()),
        None => (None, decoded.trim().to_owned()),
    };
    if account.contains(':') {
        return Err(UriError::Label);
    }
    check_parsed_name(&account)?;
    let issuer = issuer.filter(|i| !i.is_empty());
    if let Some(issuer) = &issuer {
        check_parsed_name(issuer)?;
    }
    Ok((issuer, account))
}

/// Percent-decodes a component; in a query value (`query`), `+` is read as a space, as form
/// encoders write it.
fn decode(raw: &str, query: bool) -> Result<String, UriError> {
    // Refuse malformed escapes rather than passing them through.
    let bytes = raw.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(UriError::Encoding);
        }
    }
    // The secret passes through here: intermediate copies are zeroized too.
    let spaced;
    let raw = if query && raw.contains('+') {
        spaced = Zeroizing::new(raw.replace('+', " "));
        spaced.as_str()
    } else {
        raw
    };
    let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(percent_decode_str(raw).collect());
    core::str::from_utf8(&bytes)
        .map(str::to_owned)
        .map_err(|_| UriError::Encoding)
}

fn check_parsed_name(name: &str) -> Result<(), UriError> {
    if name.len() > MAX_NAME_LEN {
        return Err(UriError::TooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(UriError::Label);
    }
    Ok(())
}

/// The builder's rule for names: non-empty, no `:` and no control characters.
fn check_name(name: &str) -> Result<(), UriError> {
    if name.len() > MAX_NAME_LEN {
        return Err(UriError::TooLong);
    }
    if name.trim().is_empty()
        || name.trim() != name
        || name.contains(':')
        || name.chars().any(char::is_control)
    {
        return Err(UriError::Name);
    }
    Ok(())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}
