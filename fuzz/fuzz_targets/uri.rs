//! otpauth:// URI parsing: never panics, whatever parses re-encodes to a URI that parses back to
//! the same value, percent-encoding the letters and digits of parameter names changes nothing
//! (RFC 3986 §2.3, §6.2.2.2), and an empty account name always comes with its warning.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor::{IssuerPolicy, MAX_URI_LEN, OtpAuthUri, ParseOptions, UriWarning};

/// `text` with every ASCII letter and digit of every query parameter name, outside existing
/// escapes, written as `%XX`.
fn encode_names(text: &str) -> String {
    let Some((head, query)) = text.split_once('?') else {
        return text.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let mut out = String::with_capacity(text.len() * 3);
    out.push_str(head);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (name, value) = match pair.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (pair, None),
        };
        let mut chars = name.chars();
        while let Some(c) = chars.next() {
            if c == '%' {
                // An escape (well-formed or not) is kept as it is, with the two characters after
                // it: encoding its hex digits would change it.
                out.push(c);
                out.extend(chars.by_ref().take(2));
            } else if c.is_ascii_alphanumeric() {
                out.push_str(&format!("%{:02X}", c as u32));
            } else {
                out.push(c);
            }
        }
        if let Some(value) = value {
            out.push('=');
            out.push_str(value);
        }
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
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
        let parsed = OtpAuthUri::parse_with(text, options);
        let encoded = encode_names(text);
        if encoded.len() <= MAX_URI_LEN {
            assert_eq!(
                OtpAuthUri::parse_with(&encoded, options),
                parsed,
                "encoded names read differently: {encoded}"
            );
        }
        if let Ok(uri) = parsed {
            let again = OtpAuthUri::parse(&uri.expose_uri());
            // Accounts parsed from a URI without a label are empty; re-encoding keeps them so.
            let again = again.expect("a parsed URI re-encodes to a valid URI");
            assert_eq!(again.expose_uri(), uri.expose_uri());
            let warnings = uri.warnings();
            assert_eq!(
                uri.account().is_empty(),
                warnings.contains(&UriWarning::EmptyAccountName)
            );
            if let Some(totp) = uri.to_totp() {
                let _ = totp.generate_at(1_700_000_000);
            }
        }
    }
});
