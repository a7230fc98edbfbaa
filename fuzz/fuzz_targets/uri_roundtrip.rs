//! Differential round trip of otpauth:// URIs: whatever the lenient parser accepts, written out
//! again and parsed again, gives the same URI, field by field; and rebuilding it from those
//! fields through the public builder writes the same text as re-encoding it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor::{IssuerPolicy, OtpAuthUri, OtpKind, ParseOptions};

/// The fields a URI carries (not the warnings: those of a parsed URI also record what parsing
/// tolerated, which a written URI no longer has).
fn fields(uri: &OtpAuthUri) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        uri.kind(),
        uri.issuer(),
        uri.account(),
        uri.secret().expose_bytes(),
        uri.algorithm(),
        uri.digits(),
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for policy in [IssuerPolicy::Lenient, IssuerPolicy::Strict] {
        let options = ParseOptions {
            issuer_policy: policy,
            ..ParseOptions::default()
        };
        let Ok(uri) = OtpAuthUri::parse_with(text, options) else {
            continue;
        };
        let written = uri.expose_uri();
        let again = OtpAuthUri::parse_with(&written, options)
            .unwrap_or_else(|e| panic!("{written:?} does not parse again: {e}"));
        assert_eq!(fields(&again), fields(&uri), "{written:?}");
        assert_eq!(*again.expose_uri(), *written, "writing is not stable");

        // The same fields through the builder.
        let built = match uri.kind() {
            OtpKind::Totp { period } => OtpAuthUri::totp(uri.secret().clone(), uri.account())
                .map(|b| b.with_period(period)),
            OtpKind::Hotp { counter } => {
                OtpAuthUri::hotp(uri.secret().clone(), uri.account(), counter)
            }
        };
        let built = match (built, uri.issuer()) {
            (Ok(b), Some(issuer)) => b.with_issuer(issuer),
            (b, _) => b,
        };
        match built {
            Ok(b) => {
                let b = b.with_algorithm(uri.algorithm()).with_digits(uri.digits());
                assert_eq!(fields(&b), fields(&uri));
                assert_eq!(*b.expose_uri(), *written, "the builder writes another text");
            }
            // The builder refuses only what the parser tolerates with a warning: an empty
            // account name.
            Err(e) => assert!(uri.account().is_empty(), "builder refused {written:?}: {e}"),
        }
    }
});
