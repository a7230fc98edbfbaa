//! otpauth-migration:// parsing: never panics, never holds more than the entry limit, every entry
//! read re-encodes to an otpauth:// URI that parses back to the same value, and the lenient and
//! strict issuer policies agree on everything but issuer conflicts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor::{
    IssuerPolicy, MAX_MIGRATION_ENTRIES, MigrationEntryError, MigrationPayload, OtpAuthUri,
    ParseOptions, UriError,
};

/// Unpadded URL-safe base64 (a few lines rather than a dependency).
fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len() * 4 / 3 + 4);
    for chunk in data.chunks(3) {
        let bits = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(bits >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // Raw bytes are also tried as the payload itself, so the protobuf reader sees arbitrary
    // input and not only what survives base64.
    let texts = [
        std::str::from_utf8(data).ok().map(str::to_owned),
        Some(format!(
            "otpauth-migration://offline?data={}",
            base64url(data)
        )),
    ];
    for text in texts.into_iter().flatten() {
        let lenient = MigrationPayload::parse(&text);
        let strict = MigrationPayload::parse_with(
            &text,
            ParseOptions {
                issuer_policy: IssuerPolicy::Strict,
                ..ParseOptions::default()
            },
        );
        match (&lenient, &strict) {
            (Ok(lenient), Ok(strict)) => {
                assert!(lenient.entries().len() <= MAX_MIGRATION_ENTRIES);
                assert_eq!(lenient.entries().len(), strict.entries().len());
                assert_eq!(lenient.batch(), strict.batch());
                for (l, s) in lenient.entries().iter().zip(strict.entries()) {
                    match (l, s) {
                        (Ok(l), Ok(s)) => assert_eq!(l, s),
                        (Ok(_), Err(MigrationEntryError::Uri(UriError::IssuerMismatch))) => {}
                        (Err(l), Err(s)) => assert_eq!(l, s),
                        other => panic!("policies disagree: {other:?}"),
                    }
                }
                for uri in lenient.uris() {
                    let again = OtpAuthUri::parse(&uri.expose_uri())
                        .expect("an entry re-encodes to a valid URI");
                    assert_eq!(again.expose_uri(), uri.expose_uri());
                    if let Some(totp) = uri.to_totp() {
                        let _ = totp.generate_at(1_700_000_000);
                    }
                }
            }
            (Err(l), Err(s)) => assert_eq!(l, s),
            other => panic!("policies disagree on the payload: {other:?}"),
        }
    }
});
