//! `otpauth-migration://offline?data=...`: the export format of a major authenticator app, read
//! into [`OtpAuthUri`]s.
//!
//! The `data` parameter is the URL-encoded base64 of a protocol buffer:
//!
//! ```text
//! MigrationPayload { repeated OtpParameters otp_parameters = 1; int32 version = 2;
//!                    int32 batch_size = 3; int32 batch_index = 4; int32 batch_id = 5; }
//! OtpParameters    { bytes secret = 1; string name = 2; string issuer = 3;
//!                    Algorithm algorithm = 4;  // 0 unspecified, 1 SHA1, 2 SHA256, 3 SHA512, 4 MD5
//!                    DigitCount digits = 5;    // 0 unspecified, 1 six, 2 eight
//!                    OtpType type = 6;         // 0 unspecified, 1 HOTP, 2 TOTP
//!                    int64 counter = 7; }
//! ```
//!
//! The wire format is read by a small reader of its own (varints, length-delimited fields,
//! unknown fields skipped), bounded in everything it allocates. Each entry becomes exactly what
//! the equivalent `otpauth://` URI parses to with [`OtpAuthUri::parse_with`], so the leniency and
//! the refusals are those of `otpauth://` URIs (`docs/uri-leniency.md`), and the 80-bit escape
//! hatch is the same [`ParseOptions::allow_80_bit_secrets`]. An entry this crate cannot hold
//! (MD5, an unknown digit count or type, a secret out of bounds) is refused on its own with a
//! [`MigrationEntryError`], without losing the others; a malformed payload is refused as a whole
//! with a [`MigrationError`]. Neither error ever contains a secret.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use data_encoding::BASE64_NOPAD;
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use zeroize::Zeroizing;

use super::secret::MAX_SECRET_BYTES;
use super::{OtpAuthUri, ParseOptions, UriError};

/// Longest `otpauth-migration://` URI [`MigrationPayload::parse`] looks at (64 KiB: one QR code
/// of the exporting app holds under 3 KiB).
pub const MAX_MIGRATION_URI_LEN: usize = 64 * 1024;
/// Most entries one payload may hold (the exporting app puts about ten in each QR code).
pub const MAX_MIGRATION_ENTRIES: usize = 128;

/// Protocol-buffer wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// Why an `otpauth-migration://` URI was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// Longer than [`MAX_MIGRATION_URI_LEN`].
    #[error("the migration URI is too long")]
    TooLong,
    /// Not an `otpauth-migration://offline` URI.
    #[error("not an otpauth-migration://offline URI")]
    Scheme,
    /// No `data` parameter (or an empty one).
    #[error("the data parameter is missing")]
    MissingData,
    /// More than one `data` parameter (names compared after percent-decoding, ignoring case).
    #[error("the data parameter appears more than once")]
    DuplicateData,
    /// A malformed percent-escape in a parameter name or in `data`.
    #[error("malformed percent-encoding")]
    Encoding,
    /// `data` is not base64 (standard or URL-safe alphabet, padding optional). The offending
    /// character is not repeated here.
    #[error("the data parameter is not valid base64")]
    Base64,
    /// The payload ends inside a varint.
    #[error("malformed payload: truncated varint")]
    TruncatedVarint,
    /// A varint longer than ten bytes, or beyond 64 bits.
    #[error("malformed payload: varint overflows 64 bits")]
    VarintOverflow,
    /// A field's length (or a fixed-size field) runs past the end of its message.
    #[error("malformed payload: a field's length runs past the end of its message")]
    LengthOverflow,
    /// A field number 0, or beyond the protocol-buffer maximum.
    #[error("malformed payload: invalid field number")]
    FieldNumber,
    /// A known field with the wrong wire type.
    #[error("malformed payload: field `{0}` has the wrong wire type")]
    WrongWireType(&'static str),
    /// A wire type that is not defined, or the deprecated groups (3, 4).
    #[error("malformed payload: unsupported wire type {0}")]
    UnsupportedWireType(u8),
    /// An integer field outside its declared range (an `int32` beyond 32 bits).
    #[error("malformed payload: field `{0}` is out of range")]
    OutOfRange(&'static str),
    /// More than [`MAX_MIGRATION_ENTRIES`] entries.
    #[error("the payload holds more than {max} entries")]
    TooManyEntries {
        /// The limit.
        max: usize,
    },
}

/// Why one entry of a payload was refused (the other entries are kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationEntryError {
    /// An algorithm this crate does not implement (4: MD5) or does not know.
    #[error("unsupported algorithm (code {0}; 4 is MD5)")]
    Algorithm(u64),
    /// A digit count other than unspecified, six or eight.
    #[error("unsupported digit count (code {0})")]
    Digits(u64),
    /// A type other than HOTP or TOTP (including 0, unspecified: guessing would risk wrong
    /// codes).
    #[error("unsupported OTP type (code {0})")]
    Type(u64),
    /// An HOTP counter below zero.
    #[error("the HOTP counter is negative")]
    Counter,
    /// A name or issuer that is not UTF-8.
    #[error("the name or issuer is not UTF-8")]
    Encoding,
    /// What the equivalent `otpauth://` URI was refused for: a secret too short or too long, a
    /// name with more than one `:` or a control character, a name too long, conflicting issuers
    /// under [`IssuerPolicy::Strict`](super::IssuerPolicy::Strict)...
    #[error("{0}")]
    Uri(#[from] UriError),
}

/// The batch an export belongs to: the exporting app splits a large export into several QR
/// codes, `batch_index` 0 to `batch_size - 1`, all with the same `batch_id`. Zero where the
/// payload does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct MigrationBatch {
    /// The payload format version.
    pub version: i32,
    /// How many payloads (QR codes) the export has.
    pub batch_size: i32,
    /// This payload's place among them, from 0.
    pub batch_index: i32,
    /// The same for every payload of one export.
    pub batch_id: i32,
}

/// A parsed `otpauth-migration://offline?data=...` URI (the export format of a major
/// authenticator app): one result per entry, in payload order, and the batch it belongs to.
///
/// Each entry becomes what the equivalent `otpauth://` URI parses to with the same
/// [`ParseOptions`] (SHA-1 and six digits where the payload leaves them unspecified, a 30-second
/// period, the name read as an `issuer:account` label), so the leniency and the refusals are
/// those of [`OtpAuthUri::parse_with`]. An entry this crate cannot hold (MD5, an unknown digit
/// count, an unspecified or unknown type, a secret out of bounds) is refused on its own with a
/// [`MigrationEntryError`]; a malformed payload is refused whole with a [`MigrationError`].
/// Input over [`MAX_MIGRATION_URI_LEN`] or with more than [`MAX_MIGRATION_ENTRIES`] entries is
/// refused before any entry is built.
///
/// ```
/// use twofactor::{MigrationPayload, OtpKind};
///
/// // One TOTP entry, "Example:alice@google.com", secret JBSWY3DPEHPK3PXP (80 bits).
/// let text = "otpauth-migration://offline?data=CjUKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2\
///             xlLmNvbRoHRXhhbXBsZSABKAEwAhABGAEgACiFnZKRBQ%3D%3D";
/// let payload = MigrationPayload::parse(text)?;
/// assert_eq!(payload.batch().batch_size, 1);
/// let uri = payload.into_entries().remove(0)?;
/// assert_eq!(uri.issuer(), Some("Example"));
/// assert_eq!(uri.account(), "alice@google.com");
/// assert!(matches!(uri.kind(), OtpKind::Totp { .. }));
/// assert_eq!(&*uri.secret().expose_base32(), "JBSWY3DPEHPK3PXP");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationPayload {
    entries: Vec<Result<OtpAuthUri, MigrationEntryError>>,
    batch: MigrationBatch,
}

impl MigrationPayload {
    /// Parses a migration URI with [`ParseOptions::default`] (lenient issuers, 80-bit secrets
    /// accepted with a warning, as on every import path that parses).
    ///
    /// # Errors
    /// A [`MigrationError`] for a malformed URI or payload. Never panics, whatever the input.
    pub fn parse(text: &str) -> Result<MigrationPayload, MigrationError> {
        MigrationPayload::parse_with(text, ParseOptions::default())
    }

    /// Parses a migration URI; `options` apply to every entry as to an `otpauth://` URI.
    ///
    /// Tolerated: any case in the scheme, host and parameter names; percent-encoded parameter
    /// names; the standard or URL-safe base64 alphabet, with or without padding; a space for a
    /// `+` in `data` (as form decoding leaves it); unknown parameters and unknown protobuf
    /// fields (skipped). Entries are checked one by one: see [`MigrationEntryError`].
    ///
    /// # Errors
    /// A [`MigrationError`] for a malformed URI or payload. Never panics, whatever the input.
    pub fn parse_with(
        text: &str,
        options: ParseOptions,
    ) -> Result<MigrationPayload, MigrationError> {
        let data = extract_data(text)?;
        read_payload(&data, options)
    }

    /// Each entry's result, in payload order.
    pub fn entries(&self) -> &[Result<OtpAuthUri, MigrationEntryError>] {
        &self.entries
    }

    /// The entries, consumed.
    pub fn into_entries(self) -> Vec<Result<OtpAuthUri, MigrationEntryError>> {
        self.entries
    }

    /// The entries that could be read, dropping the refused ones.
    pub fn uris(&self) -> impl Iterator<Item = &OtpAuthUri> {
        self.entries.iter().filter_map(|e| e.as_ref().ok())
    }

    /// The batch this payload belongs to.
    pub fn batch(&self) -> MigrationBatch {
        self.batch
    }
}

/// The decoded bytes of the `data` parameter (zeroized when dropped: they hold secrets).
fn extract_data(text: &str) -> Result<Zeroizing<Vec<u8>>, MigrationError> {
    if text.len() > MAX_MIGRATION_URI_LEN {
        return Err(MigrationError::TooLong);
    }
    let text = text.trim();
    let rest =
        strip_prefix_ignore_case(text, "otpauth-migration://").ok_or(MigrationError::Scheme)?;
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, rest) = rest.split_at(host_end);
    if !host.eq_ignore_ascii_case("offline") {
        return Err(MigrationError::Scheme);
    }
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let query = match rest.split_once('?') {
        Some(("", query)) => query,
        Some(_) => return Err(MigrationError::Scheme),
        None if rest.is_empty() || rest.starts_with('#') => "",
        None => return Err(MigrationError::Scheme),
    };
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let mut data: Option<&str> = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name)?;
        if name.eq_ignore_ascii_case(b"data") && data.replace(value).is_some() {
            return Err(MigrationError::DuplicateData);
        }
    }
    let raw = data
        .filter(|d| !d.is_empty())
        .ok_or(MigrationError::MissingData)?;
    let mut symbols = percent_decode(raw)?;
    // Both base64 alphabets; a space is a `+` that form decoding turned into one; padding is
    // optional.
    for b in symbols.iter_mut() {
        *b = match *b {
            b'-' => b'+',
            b'_' => b'/',
            b' ' => b'+',
            b => b,
        };
    }
    let unpadded = symbols
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(0, |last| last + 1);
    // At most two `=`, and only at the end.
    if symbols.len() - unpadded > 2 {
        return Err(MigrationError::Base64);
    }
    let symbols = symbols.get(..unpadded).ok_or(MigrationError::Base64)?;
    let len = BASE64_NOPAD
        .decode_len(symbols.len())
        .map_err(|_| MigrationError::Base64)?;
    let mut out = Zeroizing::new(alloc::vec![0u8; len]);
    let written = BASE64_NOPAD
        .decode_mut(symbols, &mut out)
        .map_err(|_| MigrationError::Base64)?;
    out.truncate(written);
    Ok(out)
}

/// Percent-decodes `raw` into bytes, refusing malformed escapes (zeroized: `data` holds secrets).
fn percent_decode(raw: &str) -> Result<Zeroizing<Vec<u8>>, MigrationError> {
    let bytes = raw.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(MigrationError::Encoding);
        }
    }
    Ok(Zeroizing::new(percent_decode_str(raw).collect()))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}

/// A protocol-buffer wire-format reader over one message.
struct Reader<'a> {
    buf: &'a [u8],
}

/// One field's value as the wire carries it.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A fixed-size value, not used by these messages.
    Fixed,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    fn varint(&mut self) -> Result<u64, MigrationError> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self
                .buf
                .split_first()
                .ok_or(MigrationError::TruncatedVarint)?;
            self.buf = rest;
            // The tenth byte may carry only the 64th bit.
            if i == 9 && byte > 1 {
                return Err(MigrationError::VarintOverflow);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(MigrationError::VarintOverflow)
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], MigrationError> {
        let len = usize::try_from(len).map_err(|_| MigrationError::LengthOverflow)?;
        if len > self.buf.len() {
            return Err(MigrationError::LengthOverflow);
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    /// The next field's number and value, or `None` at the end of the message.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, MigrationError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || number > (1 << 29) - 1 {
            return Err(MigrationError::FieldNumber);
        }
        let wire_type =
            u8::try_from(key & 7).map_err(|_| MigrationError::UnsupportedWireType(7))?;
        let value = match wire_type {
            VARINT => Value::Varint(self.varint()?),
            FIXED64 => {
                self.take(8)?;
                Value::Fixed
            }
            LEN => {
                let len = self.varint()?;
                Value::Bytes(self.take(len)?)
            }
            FIXED32 => {
                self.take(4)?;
                Value::Fixed
            }
            other => return Err(MigrationError::UnsupportedWireType(other)),
        };
        Ok(Some((number, value)))
    }
}

fn varint_of(value: Value<'_>, field: &'static str) -> Result<u64, MigrationError> {
    match value {
        Value::Varint(v) => Ok(v),
        _ => Err(MigrationError::WrongWireType(field)),
    }
}

fn bytes_of<'a>(value: Value<'a>, field: &'static str) -> Result<&'a [u8], MigrationError> {
    match value {
        Value::Bytes(b) => Ok(b),
        _ => Err(MigrationError::WrongWireType(field)),
    }
}

/// An `int32` as the wire carries it: a varint, sign-extended to 64 bits when negative.
fn int32(value: u64, field: &'static str) -> Result<i32, MigrationError> {
    i32::try_from(value.cast_signed()).map_err(|_| MigrationError::OutOfRange(field))
}

/// One `OtpParameters` message, still raw.
#[derive(Default)]
struct RawEntry<'a> {
    secret: &'a [u8],
    name: &'a [u8],
    issuer: &'a [u8],
    algorithm: u64,
    digits: u64,
    kind: u64,
    counter: u64,
}

fn read_payload(data: &[u8], options: ParseOptions) -> Result<MigrationPayload, MigrationError> {
    let mut reader = Reader::new(data);
    let mut raw_entries: Vec<RawEntry<'_>> = Vec::new();
    let mut batch = MigrationBatch::default();
    while let Some((number, value)) = reader.field()? {
        match number {
            1 => {
                if raw_entries.len() == MAX_MIGRATION_ENTRIES {
                    return Err(MigrationError::TooManyEntries {
                        max: MAX_MIGRATION_ENTRIES,
                    });
                }
                raw_entries.push(read_entry(bytes_of(value, "otp_parameters")?)?);
            }
            2 => batch.version = int32(varint_of(value, "version")?, "version")?,
            3 => batch.batch_size = int32(varint_of(value, "batch_size")?, "batch_size")?,
            4 => batch.batch_index = int32(varint_of(value, "batch_index")?, "batch_index")?,
            5 => batch.batch_id = int32(varint_of(value, "batch_id")?, "batch_id")?,
            _ => {}
        }
    }
    // The whole payload is well-formed: now each entry on its own.
    let entries = raw_entries
        .iter()
        .map(|raw| entry_uri(raw, options))
        .collect();
    Ok(MigrationPayload { entries, batch })
}

fn read_entry(message: &[u8]) -> Result<RawEntry<'_>, MigrationError> {
    let mut reader = Reader::new(message);
    let mut entry = RawEntry::default();
    while let Some((number, value)) = reader.field()? {
        match number {
            1 => entry.secret = bytes_of(value, "secret")?,
            2 => entry.name = bytes_of(value, "name")?,
            3 => entry.issuer = bytes_of(value, "issuer")?,
            4 => entry.algorithm = varint_of(value, "algorithm")?,
            5 => entry.digits = varint_of(value, "digits")?,
            6 => entry.kind = varint_of(value, "type")?,
            7 => entry.counter = varint_of(value, "counter")?,
            _ => {}
        }
    }
    Ok(entry)
}

/// The entry as the equivalent `otpauth://` URI, parsed with `options`.
fn entry_uri(raw: &RawEntry<'_>, options: ParseOptions) -> Result<OtpAuthUri, MigrationEntryError> {
    let algorithm = match raw.algorithm {
        0 | 1 => "SHA1",
        2 => "SHA256",
        3 => "SHA512",
        other => return Err(MigrationEntryError::Algorithm(other)),
    };
    let digits = match raw.digits {
        0 | 1 => "6",
        2 => "8",
        other => return Err(MigrationEntryError::Digits(other)),
    };
    let hotp = match raw.kind {
        1 => true,
        2 => false,
        other => return Err(MigrationEntryError::Type(other)),
    };
    // int64 on the wire: a negative counter is a huge varint.
    let counter = i64::try_from(raw.counter).map_err(|_| MigrationEntryError::Counter)?;
    if raw.secret.len() > MAX_SECRET_BYTES {
        return Err(UriError::Secret(super::SecretError::TooLong).into());
    }
    let name = core::str::from_utf8(raw.name).map_err(|_| MigrationEntryError::Encoding)?;
    let issuer = core::str::from_utf8(raw.issuer).map_err(|_| MigrationEntryError::Encoding)?;
    if name.len() > super::MAX_NAME_LEN * 2 || issuer.len() > super::MAX_NAME_LEN {
        return Err(UriError::TooLong.into());
    }
    let secret = Zeroizing::new(data_encoding::BASE32_NOPAD.encode(raw.secret));
    // Sized up front (names may triple when percent-encoded): growing would free buffers that
    // still hold the secret.
    let mut text = Zeroizing::new(String::with_capacity(
        96 + name.len() * 3 + issuer.len() * 3 + secret.len(),
    ));
    text.push_str(if hotp {
        "otpauth://hotp/"
    } else {
        "otpauth://totp/"
    });
    // The whole name as the label, its `:` encoded: the label parser splits `issuer:account`
    // after decoding, exactly as for a label written with `%3A`.
    text.extend(utf8_percent_encode(name, NON_ALPHANUMERIC));
    text.push_str("?secret=");
    text.push_str(&secret);
    if !issuer.is_empty() {
        text.push_str("&issuer=");
        text.extend(utf8_percent_encode(issuer, NON_ALPHANUMERIC));
    }
    text.push_str("&algorithm=");
    text.push_str(algorithm);
    text.push_str("&digits=");
    text.push_str(digits);
    if hotp {
        text.push_str("&counter=");
        text.push_str(&counter.to_string());
    }
    Ok(OtpAuthUri::parse_with(&text, options)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otp::{Algorithm, Digits, IssuerPolicy, OtpKind, SecretError, UriWarning};
    use alloc::borrow::ToOwned;
    use alloc::format;
    use alloc::vec;

    /// A tiny protocol-buffer encoder, for building payloads.
    #[derive(Default)]
    struct Enc(Vec<u8>);

    impl Enc {
        fn varint(mut self, mut v: u64) -> Self {
            loop {
                let byte = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    self.0.push(byte);
                    return self;
                }
                self.0.push(byte | 0x80);
            }
        }
        fn key(self, field: u64, wire: u64) -> Self {
            self.varint(field << 3 | wire)
        }
        fn uint(self, field: u64, v: u64) -> Self {
            self.key(field, 0).varint(v)
        }
        fn bytes(self, field: u64, b: &[u8]) -> Self {
            let mut s = self.key(field, 2).varint(b.len() as u64);
            s.0.extend_from_slice(b);
            s
        }
        fn raw(mut self, b: &[u8]) -> Self {
            self.0.extend_from_slice(b);
            self
        }
    }

    struct Entry<'a> {
        secret: &'a [u8],
        name: &'a str,
        issuer: &'a str,
        algorithm: u64,
        digits: u64,
        kind: u64,
        counter: u64,
    }

    const SECRET: &[u8] = b"12345678901234567890";

    fn totp(name: &str) -> Entry<'_> {
        Entry {
            secret: SECRET,
            name,
            issuer: "",
            algorithm: 1,
            digits: 1,
            kind: 2,
            counter: 0,
        }
    }

    fn entry(e: &Entry<'_>) -> Vec<u8> {
        Enc::default()
            .bytes(1, e.secret)
            .bytes(2, e.name.as_bytes())
            .bytes(3, e.issuer.as_bytes())
            .uint(4, e.algorithm)
            .uint(5, e.digits)
            .uint(6, e.kind)
            .uint(7, e.counter)
            .0
    }

    fn payload(entries: &[Entry<'_>]) -> Enc {
        let mut enc = Enc::default();
        for e in entries {
            enc = enc.bytes(1, &entry(e));
        }
        enc.uint(2, 1).uint(3, 1).uint(4, 0).uint(5, 7)
    }

    fn uri_of(bytes: &[u8]) -> String {
        let b64 = data_encoding::BASE64.encode(bytes);
        let encoded: String = utf8_percent_encode(&b64, NON_ALPHANUMERIC).to_string();
        format!("otpauth-migration://offline?data={encoded}")
    }

    #[test]
    fn a_constructed_payload_reads_back() {
        let mut sha256 = totp("Bank:bob");
        sha256.issuer = "Bank";
        sha256.algorithm = 2;
        sha256.digits = 2;
        let mut hotp = totp("carol");
        hotp.kind = 1;
        hotp.counter = 42;
        let bytes = payload(&[totp("alice@example.com"), sha256, hotp]).0;
        let parsed = MigrationPayload::parse(&uri_of(&bytes)).unwrap();
        assert_eq!(
            parsed.batch(),
            MigrationBatch {
                version: 1,
                batch_size: 1,
                batch_index: 0,
                batch_id: 7
            }
        );
        let uris: Vec<&OtpAuthUri> = parsed.uris().collect();
        assert_eq!(uris.len(), 3);
        assert_eq!(uris[0].account(), "alice@example.com");
        assert_eq!(uris[0].issuer(), None);
        assert_eq!(uris[0].secret().expose_bytes(), SECRET);
        assert_eq!(
            uris[0].kind(),
            OtpKind::Totp {
                period: Default::default()
            }
        );
        assert_eq!((uris[1].issuer(), uris[1].account()), (Some("Bank"), "bob"));
        assert_eq!(uris[1].algorithm(), Algorithm::Sha256);
        assert_eq!(uris[1].digits(), Digits::EIGHT);
        assert_eq!(uris[2].kind(), OtpKind::Hotp { counter: 42 });
        // The same through the URL-safe alphabet, unpadded, with form-decoded `+`.
        let b64 = data_encoding::BASE64URL_NOPAD.encode(&bytes);
        let again = MigrationPayload::parse(&format!("OTPAUTH-MIGRATION://Offline?%64ata={b64}#x"))
            .unwrap();
        assert_eq!(again, parsed);
        let spaced = data_encoding::BASE64.encode(&bytes).replace('+', " ");
        let again =
            MigrationPayload::parse(&format!("otpauth-migration://offline?data={spaced}")).unwrap();
        assert_eq!(again, parsed);
    }

    #[test]
    fn a_real_world_shaped_export_reads_back() {
        // As the exporting app writes it: `%2B`, `%2F` and `%3D` escaped, name with the issuer
        // prefix, an 80-bit secret (the Key Uri Format's example), SHA1/6/TOTP, batch 1 of 1.
        let text = "otpauth-migration://offline?data=CjUKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2\
                    xlLmNvbRoHRXhhbXBsZSABKAEwAhABGAEgACiFnZKRBQ%3D%3D";
        let parsed = MigrationPayload::parse(text).unwrap();
        assert_eq!(parsed.batch().batch_id, 1_378_127_493);
        let [Ok(uri)] = parsed.entries() else {
            panic!("one entry expected: {parsed:?}");
        };
        assert_eq!(uri.issuer(), Some("Example"));
        assert_eq!(uri.account(), "alice@google.com");
        assert_eq!(&*uri.secret().expose_base32(), "JBSWY3DPEHPK3PXP");
        assert!(
            uri.warnings()
                .contains(&UriWarning::ShortSecret { bits: 80 })
        );
        // Without the escape hatch the short secret is refused, on its own.
        let strict = ParseOptions {
            allow_80_bit_secrets: false,
            ..ParseOptions::default()
        };
        let parsed = MigrationPayload::parse_with(text, strict).unwrap();
        assert!(matches!(
            parsed.entries(),
            [Err(MigrationEntryError::Uri(UriError::Secret(
                SecretError::TooShort { .. }
            )))]
        ));
    }

    #[test]
    fn an_unsupported_entry_is_refused_alone() {
        let mut md5 = totp("md5");
        md5.algorithm = 4;
        let mut seven = totp("seven");
        seven.digits = 3;
        let mut unspecified = totp("unspecified");
        unspecified.kind = 0;
        let mut negative = totp("negative");
        negative.kind = 1;
        negative.counter = u64::MAX;
        let mut short = totp("short");
        short.secret = b"123456789";
        let mut colons = totp("a:b:c");
        colons.issuer = "x";
        let mut mismatch = totp("A:b");
        mismatch.issuer = "B";
        let bytes = payload(&[
            md5,
            seven,
            unspecified,
            negative,
            short,
            colons,
            mismatch,
            totp("ok"),
        ])
        .0;
        let strict = ParseOptions {
            issuer_policy: IssuerPolicy::Strict,
            ..ParseOptions::default()
        };
        let parsed = MigrationPayload::parse_with(&uri_of(&bytes), strict).unwrap();
        let e = parsed.entries();
        assert_eq!(e.len(), 8);
        assert_eq!(e[0], Err(MigrationEntryError::Algorithm(4)));
        assert_eq!(e[1], Err(MigrationEntryError::Digits(3)));
        assert_eq!(e[2], Err(MigrationEntryError::Type(0)));
        assert_eq!(e[3], Err(MigrationEntryError::Counter));
        assert!(matches!(
            e[4],
            Err(MigrationEntryError::Uri(UriError::Secret(
                SecretError::TooShort { .. }
            )))
        ));
        assert_eq!(e[5], Err(MigrationEntryError::Uri(UriError::Label)));
        assert_eq!(
            e[6],
            Err(MigrationEntryError::Uri(UriError::IssuerMismatch))
        );
        assert_eq!(e[7].as_ref().unwrap().account(), "ok");
        // Not UTF-8.
        let bad = Enc::default()
            .bytes(
                1,
                &Enc::default()
                    .bytes(1, SECRET)
                    .bytes(2, b"\xff")
                    .uint(6, 2)
                    .0,
            )
            .0;
        let parsed = MigrationPayload::parse(&uri_of(&bad)).unwrap();
        assert_eq!(parsed.entries(), [Err(MigrationEntryError::Encoding)]);
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let inner = Enc::default()
            .bytes(1, SECRET)
            .bytes(2, b"x")
            .uint(6, 2)
            .uint(8, 12345)
            .key(9, 1)
            .raw(&[0; 8])
            .key(10, 5)
            .raw(&[0; 4])
            .bytes(11, b"whatever")
            .0;
        let bytes = Enc::default().bytes(1, &inner).uint(99, 3).uint(2, 1).0;
        let parsed = MigrationPayload::parse(&uri_of(&bytes)).unwrap();
        assert_eq!(parsed.uris().count(), 1);
        assert_eq!(parsed.batch().version, 1);
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        let ok = uri_of(&payload(&[totp("a")]).0);
        let cases: Vec<(String, MigrationError)> = vec![
            (
                "otpauth://totp/a?secret=AAAA".to_owned(),
                MigrationError::Scheme,
            ),
            (
                "otpauth-migration://online?data=AA".to_owned(),
                MigrationError::Scheme,
            ),
            (
                "otpauth-migration://offline/x?data=AA".to_owned(),
                MigrationError::Scheme,
            ),
            (
                "otpauth-migration://offline".to_owned(),
                MigrationError::MissingData,
            ),
            (
                "otpauth-migration://offline?data=".to_owned(),
                MigrationError::MissingData,
            ),
            (
                "otpauth-migration://offline?data=AA&DATA=AA".to_owned(),
                MigrationError::DuplicateData,
            ),
            (
                "otpauth-migration://offline?data=%zz".to_owned(),
                MigrationError::Encoding,
            ),
            (
                "otpauth-migration://offline?d%2=1&data=AA".to_owned(),
                MigrationError::Encoding,
            ),
            (
                "otpauth-migration://offline?data=A!!!".to_owned(),
                MigrationError::Base64,
            ),
            (
                "otpauth-migration://offline?data=A".to_owned(),
                MigrationError::Base64,
            ),
            (
                "otpauth-migration://offline?data=AA===".to_owned(),
                MigrationError::Base64,
            ),
            (
                "otpauth-migration://offline?data=AA=A".to_owned(),
                MigrationError::Base64,
            ),
            (
                format!("{ok}{}", "A".repeat(MAX_MIGRATION_URI_LEN)),
                MigrationError::TooLong,
            ),
            // Truncated varint: a key with the continuation bit and nothing after it.
            (uri_of(&[0x80]), MigrationError::TruncatedVarint),
            (uri_of(&[0x10, 0x80]), MigrationError::TruncatedVarint),
            (
                uri_of(&[
                    0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ]),
                MigrationError::VarintOverflow,
            ),
            (
                uri_of(&[
                    0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
                ]),
                MigrationError::VarintOverflow,
            ),
            // A length past the end, at the top level and inside an entry.
            (uri_of(&[0x0a, 0x05, 0x00]), MigrationError::LengthOverflow),
            (
                uri_of(&[
                    0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ]),
                MigrationError::LengthOverflow,
            ),
            (
                uri_of(&[0x0a, 0x02, 0x0a, 0x09]),
                MigrationError::LengthOverflow,
            ),
            (uri_of(&[0x09, 0x00]), MigrationError::LengthOverflow),
            (uri_of(&[0x0d, 0x00]), MigrationError::LengthOverflow),
            (uri_of(&[0x00, 0x00]), MigrationError::FieldNumber),
            (uri_of(&[0x0b]), MigrationError::UnsupportedWireType(3)),
            (uri_of(&[0x0e]), MigrationError::UnsupportedWireType(6)),
            (
                uri_of(&[0x08, 0x01]),
                MigrationError::WrongWireType("otp_parameters"),
            ),
            (
                uri_of(&[0x12, 0x00]),
                MigrationError::WrongWireType("version"),
            ),
            (
                uri_of(&[0x0a, 0x02, 0x08, 0x00]),
                MigrationError::WrongWireType("secret"),
            ),
            (
                uri_of(&Enc::default().uint(3, 1 << 40).0),
                MigrationError::OutOfRange("batch_size"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(MigrationPayload::parse(&text), Err(expected), "{text}");
        }
        // The entry limit.
        let many: Vec<Entry<'_>> = (0..=MAX_MIGRATION_ENTRIES).map(|_| totp("a")).collect();
        assert_eq!(
            MigrationPayload::parse(&uri_of(&payload(&many).0)),
            Err(MigrationError::TooManyEntries {
                max: MAX_MIGRATION_ENTRIES
            })
        );
        let max: Vec<Entry<'_>> = (0..MAX_MIGRATION_ENTRIES).map(|_| totp("a")).collect();
        assert_eq!(
            MigrationPayload::parse(&uri_of(&payload(&max).0))
                .unwrap()
                .entries()
                .len(),
            MAX_MIGRATION_ENTRIES
        );
        // A negative int32 is sign-extended on the wire and reads back.
        let negative = Enc::default().uint(5, (-5i64) as u64).0;
        assert_eq!(
            MigrationPayload::parse(&uri_of(&negative))
                .unwrap()
                .batch()
                .batch_id,
            -5
        );
    }

    #[test]
    fn errors_and_debug_never_show_the_secret() {
        let bytes = payload(&[totp("a")]).0;
        let parsed = MigrationPayload::parse(&uri_of(&bytes)).unwrap();
        let shown = format!("{parsed:?}");
        let b32 = data_encoding::BASE32_NOPAD.encode(SECRET);
        assert!(
            !shown.contains(&b32) && !shown.contains("1234567890"),
            "{shown}"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever a payload of well-formed entries holds reads back field for field, in
            /// order, with the batch.
            #[test]
            fn well_formed_entries_read_back(
                entries in proptest::collection::vec(
                    (
                        proptest::collection::vec(any::<u8>(), 10..=64),
                        "[a-zA-Z0-9@. _-]{1,20}",
                        "[a-zA-Z0-9 ]{0,12}",
                        0u64..=3,
                        0u64..=2,
                        1u64..=2,
                        0u64..=u64::from(u32::MAX),
                    ),
                    1..=6,
                ),
                batch in (any::<i32>(), any::<i32>(), any::<i32>(), any::<i32>()),
            ) {
                let mut enc = Enc::default();
                for (secret, name, issuer, algorithm, digits, kind, counter) in &entries {
                    let e = Entry {
                        secret,
                        name,
                        issuer,
                        algorithm: *algorithm,
                        digits: *digits,
                        kind: *kind,
                        counter: *counter,
                    };
                    enc = enc.bytes(1, &entry(&e));
                }
                let (version, size, index, id) = batch;
                let sign = |v: i32| i64::from(v) as u64;
                let bytes = enc
                    .uint(2, sign(version))
                    .uint(3, sign(size))
                    .uint(4, sign(index))
                    .uint(5, sign(id))
                    .0;
                let parsed = MigrationPayload::parse(&uri_of(&bytes)).unwrap();
                prop_assert_eq!(
                    parsed.batch(),
                    MigrationBatch { version, batch_size: size, batch_index: index, batch_id: id }
                );
                prop_assert_eq!(parsed.entries().len(), entries.len());
                for (got, (secret, name, issuer, algorithm, digits, kind, counter)) in
                    parsed.entries().iter().zip(&entries)
                {
                    let uri = got.as_ref().unwrap();
                    prop_assert_eq!(uri.secret().expose_bytes(), secret.as_slice());
                    prop_assert_eq!(uri.account(), name.trim());
                    let issuer = issuer.trim();
                    prop_assert_eq!(uri.issuer(), (!issuer.is_empty()).then_some(issuer));
                    let expected = [Algorithm::Sha1, Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512];
                    prop_assert_eq!(uri.algorithm(), expected[usize::try_from(*algorithm).unwrap()]);
                    prop_assert_eq!(uri.digits(), if *digits == 2 { Digits::EIGHT } else { Digits::SIX });
                    match (uri.kind(), kind) {
                        (OtpKind::Hotp { counter: c }, 1) => prop_assert_eq!(c, *counter),
                        (OtpKind::Totp { .. }, 2) => {}
                        other => prop_assert!(false, "wrong kind {:?}", other),
                    }
                }
            }

            /// Arbitrary bytes as a payload never panic, and what reads stays within the limits.
            #[test]
            fn arbitrary_payloads_are_typed(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                if let Ok(parsed) = MigrationPayload::parse(&uri_of(&bytes)) {
                    prop_assert!(parsed.entries().len() <= MAX_MIGRATION_ENTRIES);
                }
            }
        }
    }
}
